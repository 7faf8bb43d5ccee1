# Feature stability (paper B): the SAE of a few layers trained with several seeds (by train_sae), decoder atoms
# matched one to one across seeds and against the neighbouring layers; with stability.row_fractions, also the first
# two seeds trained on part of the training clips (sweeps rows<f>), for the matched share against the training
# rows. Logic: audiosae.analysis.stability.


rule stability_table:
    input:
        saes=stability_inputs,
        activations="results/activations/{dataset}/{model}.h5",
    output:
        table=report(
            "results/tables/stability/{dataset}/{model}.csv",
            category="Stability",
            labels={"result": "table: stability", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/stability_table.rst",
        ),
        cosines="results/tables/stability/{dataset}/{model}.cosines.csv",
    params:
        plan=lambda wildcards: stability_plan_for(config, wildcards.model),
        folders=stability_folders,
        sparsity=STAB["sparsity"],
        seed=config["seed"],
    log:
        "results/logs/stability/{dataset}_{model}.log",
    benchmark:
        "results/benchmarks/stability/{dataset}_{model}.tsv"
    threads: 1
    resources:
        mem_mb=grow(4000),
        runtime=grow(30),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/stability_table.py"


rule figure_stability:
    input:
        table="results/tables/stability/{dataset}/{model}.csv",
        cosines="results/tables/stability/{dataset}/{model}.cosines.csv",
        code=plot_code("paper_b.py"),
    output:
        report(
            expand("results/figures/{{dataset}}/{{model}}/stability.{ext}", ext=config["figures"]["formats"][:1]),
            category="Stability",
            labels={"result": "figure: stability across seeds and layers", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/stability_figure.rst",
        ),
        # the other formats: plain files beside it, not report entries
        expand("results/figures/{{dataset}}/{{model}}/stability.{ext}", ext=config["figures"]["formats"][1:]),
    log:
        "results/logs/figures/stability_{dataset}_{model}.log",
    benchmark:
        "results/benchmarks/figures/stability_{dataset}_{model}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    conda:
        "../envs/plots.yaml"
    script:
        "../workflow/scripts/figure_paper_b.py"
