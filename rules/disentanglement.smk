# Paper A's disentanglement analyses (DCI against eGeMAPS and true factors, MIG, SAP), dimensions needed
# per factor, held-out factor regression, and the layer profile; per layer, dense clip means vs SAE codes.
include: "disentanglement_common.smk"


rule egemaps:
    input:
        clips="resources/datasets/{dataset}/clips.csv",
    output:
        "results/features/{dataset}/egemaps.csv",
    params:
        sample_rate=DIS_CFG["egemaps_sample_rate"],
    log:
        "results/logs/features/egemaps_{dataset}.log",
    benchmark:
        "results/benchmarks/features/egemaps_{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=grow(2000),
        runtime=grow(60),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/egemaps.py"


rule disentangle_layer:
    input:
        unpack(disentangle_inputs),
    output:
        **{name: f"results/tables/{name}/{{dataset}}/{{model}}/layer{{layer}}.csv" for name in DIS_TABLES},
    params:
        cfg=DIS_CFG,
        seed=config["seed"],
    log:
        "results/logs/disentanglement/{dataset}/{model}/layer{layer}.log",
    benchmark:
        "results/benchmarks/disentanglement/{dataset}/{model}/layer{layer}.tsv"
    threads: 1
    resources:
        mem_mb=grow(4000),
        runtime=grow(60),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/disentangle_layer.py"


rule disentanglement_table:
    input:
        layer_tables("disentanglement"),
    output:
        report(
            "results/tables/disentanglement/{dataset}/{model}.csv",
            category="Disentanglement",
            labels={"result": "table: disentanglement (DCI, MIG, SAP)", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/disentanglement_table.rst",
        ),
    log:
        "results/logs/tables/disentanglement_{dataset}_{model}.log",
    benchmark:
        "results/benchmarks/tables/disentanglement_{dataset}_{model}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/concat_tables.py"


rule dimensions_table:
    input:
        layer_tables("dimensions"),
    output:
        report(
            "results/tables/dimensions/{dataset}/{model}.csv",
            category="Disentanglement",
            labels={"result": "table: dimensions needed", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/dimensions_table.rst",
        ),
    log:
        "results/logs/tables/dimensions_{dataset}_{model}.log",
    benchmark:
        "results/benchmarks/tables/dimensions_{dataset}_{model}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/concat_tables.py"


rule regression_table:
    input:
        layer_tables("regression"),
    output:
        report(
            "results/tables/regression/{dataset}/{model}.csv",
            category="Disentanglement",
            labels={"result": "table: ridge regression R²", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/regression_table.rst",
        ),
    log:
        "results/logs/tables/regression_{dataset}_{model}.log",
    benchmark:
        "results/benchmarks/tables/regression_{dataset}_{model}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/concat_tables.py"


rule layer_profile:
    input:
        unpack(profile_inputs),
    output:
        report(
            "results/tables/layer_profile/{dataset}/{model}.csv",
            category="Disentanglement",
            labels={"result": "table: layer profile", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/layer_profile_table.rst",
        ),
    log:
        "results/logs/tables/layer_profile_{dataset}_{model}.log",
    benchmark:
        "results/benchmarks/tables/layer_profile_{dataset}_{model}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/layer_profile.py"


rule figure_disentanglement:
    input:
        lambda wildcards: f"results/tables/{DIS_FIGURES[wildcards.figure][0]}/{wildcards.dataset}/{wildcards.model}.csv",
        code=plot_code("figures.py"),
    output:
        report(
            expand("results/figures/{{dataset}}/{{model}}/{{figure}}.{ext}", ext=config["figures"]["formats"][:1]),
            category="Disentanglement",
            labels=lambda wildcards: {
                "result": {
                    "disentanglement": "figure: DCI vs layer (eGeMAPS)",
                    "disentanglement_groups": "figure: DCI per eGeMAPS group",
                    "true_factors": "figure: disentanglement of the true factors",
                    "dimensions_needed": "figure: dimensions needed",
                    "layer_profile": "figure: layer profile",
                }.get(wildcards.figure, f"figure: {wildcards.figure}"),
                "dataset": wildcards.dataset,
                "model": wildcards.model,
            },
            caption="../report/disentanglement_figures.rst",
        ),
        # the other formats: plain files beside it, not report entries
        expand("results/figures/{{dataset}}/{{model}}/{{figure}}.{ext}", ext=config["figures"]["formats"][1:]),
    params:
        figure=lambda wildcards: DIS_FIGURES[wildcards.figure][1],
    wildcard_constraints:
        figure="|".join(DIS_FIGURES),
    log:
        "results/logs/figures/{figure}_{dataset}_{model}.log",
    benchmark:
        "results/benchmarks/figures/{figure}_{dataset}_{model}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    conda:
        "../envs/plots.yaml"
    script:
        "../workflow/scripts/figure_table.py"
