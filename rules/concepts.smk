# Concept erasure (paper B): SAE features ranked by association with concepts from the clip table, the top p%
# ablated in the codes and decoded, a concept probe scored on the result. Logic: audiosae.analysis.concepts.


rule concept_ablation:
    input:
        saes=lambda wildcards: [f"{d}/sae_weights.safetensors" for d in concept_sae_dirs(wildcards)],
        activations="results/activations/{dataset}/{model}.h5",
        clips="resources/datasets/{dataset}/clips.csv",
    output:
        curves=report(
            "results/tables/concepts/{dataset}/{model}.csv",
            category="Concepts",
            labels={"result": "table: concept ablation", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/concepts_table.rst",
        ),
        summary="results/tables/concepts/{dataset}/{model}.summary.csv",
    params:
        sae_dirs=concept_sae_dirs,
        concepts=CONC,
        targets=lambda wildcards: CONC["targets"]
        if CONC["targets"] is not None
        else [t for t in config["datasets"][wildcards.dataset]["probe_targets"] if t not in ("singer", "speaker")],
        seed=config["seed"],
    log:
        "results/logs/concepts/{dataset}_{model}.log",
    benchmark:
        "results/benchmarks/concepts/{dataset}_{model}.tsv"
    threads: 1
    resources:
        mem_mb=grow(4000),
        runtime=grow(60),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/concept_ablation.py"


rule figure_concept_ablation:
    input:
        curves="results/tables/concepts/{dataset}/{model}.csv",
        summary="results/tables/concepts/{dataset}/{model}.summary.csv",
        code=plot_code("paper_b.py"),
    output:
        report(
            expand("results/figures/{{dataset}}/{{model}}/concept_ablation.{ext}", ext=config["figures"]["formats"][:1]),
            category="Concepts",
            labels={"result": "figure: concept ablation", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/concepts_figure.rst",
        ),
        # the other formats: plain files beside it, not report entries
        expand("results/figures/{{dataset}}/{{model}}/concept_ablation.{ext}", ext=config["figures"]["formats"][1:]),
    log:
        "results/logs/figures/concept_ablation_{dataset}_{model}.log",
    benchmark:
        "results/benchmarks/figures/concept_ablation_{dataset}_{model}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    conda:
        "../envs/plots.yaml"
    script:
        "../workflow/scripts/figure_paper_b.py"
