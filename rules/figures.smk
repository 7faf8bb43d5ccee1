# Figures: drawn from the tables alone, so they can be regenerated without recomputing anything:
#   snakemake --cores all figures                      # (rule in the Snakefile) draws what is missing (e.g. after rm -r results/figures)
#   snakemake --cores all figures --forcerun figure_probing figure_reconstruction figure_sae   # redraws all
# Each figure rule also takes the plotting code as input, so a change of style or figure code redraws them.


rule figure_probing:
    input:
        "results/tables/probing/{dataset}/{model}.csv",
        code=plot_code("figures.py"),
    output:
        report(
            expand("results/figures/{{dataset}}/{{model}}/probing.{ext}", ext=config["figures"]["formats"][:1]),
            category="Probing",
            labels={"result": "figure: probe accuracy per layer", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/probing_figure.rst",
        ),
        # the other formats: plain files beside it, not report entries
        expand("results/figures/{{dataset}}/{{model}}/probing.{ext}", ext=config["figures"]["formats"][1:]),
    log:
        "results/logs/figures/probing_{dataset}_{model}.log",
    benchmark:
        "results/benchmarks/figures/probing_{dataset}_{model}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    conda:
        "../envs/plots.yaml"
    script:
        "../workflow/scripts/figure_probing.py"


rule figure_reconstruction:
    input:
        "results/tables/reconstruction/{dataset}/{model}.csv",
        code=plot_code("figures.py"),
    output:
        report(
            expand("results/figures/{{dataset}}/{{model}}/reconstruction.{ext}", ext=config["figures"]["formats"][:1]),
            category="Reconstruction",
            labels={"result": "figure: reconstruction error vs sparsity", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/reconstruction_figure.rst",
        ),
        # the other formats: plain files beside it, not report entries
        expand("results/figures/{{dataset}}/{{model}}/reconstruction.{ext}", ext=config["figures"]["formats"][1:]),
    log:
        "results/logs/figures/reconstruction_{dataset}_{model}.log",
    benchmark:
        "results/benchmarks/figures/reconstruction_{dataset}_{model}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    conda:
        "../envs/plots.yaml"
    script:
        "../workflow/scripts/figure_reconstruction.py"


rule sae_tables:
    """Density histograms and training curves of every SAE (from metrics.json) as tidy tables."""
    input:
        lambda wildcards: [f"{d}/metrics.json" for d in sae_dirs(wildcards.dataset, wildcards.model)],
    output:
        density=report(
            "results/tables/sae_density/{dataset}/{model}.csv",
            category="Reconstruction",
            subcategory="SAE features",
            labels={"result": "table: feature density", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/sae_density_table.rst",
        ),
        training=report(
            "results/tables/sae_training/{dataset}/{model}.csv",
            category="Reconstruction",
            subcategory="SAE training",
            labels={"result": "table: training curves", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/sae_training_table.rst",
        ),
    log:
        "results/logs/tables/sae_{dataset}_{model}.log",
    benchmark:
        "results/benchmarks/tables/sae_{dataset}_{model}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    conda:
        "../envs/plots.yaml"
    script:
        "../workflow/scripts/sae_tables.py"


rule figure_sae:
    input:
        reconstruction="results/tables/reconstruction/{dataset}/{model}.csv",
        density="results/tables/sae_density/{dataset}/{model}.csv",
        training="results/tables/sae_training/{dataset}/{model}.csv",
        code=plot_code("figures.py"),
    output:
        sparsity=[
            *report(
                expand("results/figures/{{dataset}}/{{model}}/sparsity_statistics.{ext}", ext=config["figures"]["formats"][:1]),
                category="Reconstruction",
                subcategory="SAE features",
                labels={"result": "figure: sparsity statistics", "dataset": "{dataset}", "model": "{model}"},
                caption="../report/sparsity_statistics_figure.rst",
            ),
            # the other formats: plain files beside it, not report entries
            *expand("results/figures/{{dataset}}/{{model}}/sparsity_statistics.{ext}", ext=config["figures"]["formats"][1:]),
        ],
        density=[
            *report(
                expand("results/figures/{{dataset}}/{{model}}/feature_density.{ext}", ext=config["figures"]["formats"][:1]),
                category="Reconstruction",
                subcategory="SAE features",
                labels={"result": "figure: feature density", "dataset": "{dataset}", "model": "{model}"},
                caption="../report/feature_density_figure.rst",
            ),
            # the other formats: plain files beside it, not report entries
            *expand("results/figures/{{dataset}}/{{model}}/feature_density.{ext}", ext=config["figures"]["formats"][1:]),
        ],
        training=[
            *report(
                expand("results/figures/{{dataset}}/{{model}}/training_curves.{ext}", ext=config["figures"]["formats"][:1]),
                category="Reconstruction",
                subcategory="SAE training",
                labels={"result": "figure: training curves", "dataset": "{dataset}", "model": "{model}"},
                caption="../report/training_curves_figure.rst",
            ),
            # the other formats: plain files beside it, not report entries
            *expand("results/figures/{{dataset}}/{{model}}/training_curves.{ext}", ext=config["figures"]["formats"][1:]),
        ],
    log:
        "results/logs/figures/sae_{dataset}_{model}.log",
    benchmark:
        "results/benchmarks/figures/sae_{dataset}_{model}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    conda:
        "../envs/plots.yaml"
    script:
        "../workflow/scripts/figure_sae.py"
