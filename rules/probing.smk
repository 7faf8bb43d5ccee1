# Linear probes on dense clip means vs SAE codes, per layer; held-out singers form the test set.


rule probe_layer:
    input:
        activations="results/activations/{dataset}/{model}.h5",
        clips="resources/datasets/{dataset}/clips.csv",
        saes=lambda wildcards: [f"{d}/cfg.json" for d in sae_dirs(wildcards.dataset, wildcards.model, [int(wildcards.layer)])],
    output:
        "results/tables/probing/{dataset}/{model}/layer{layer}.csv",
    params:
        probing=lambda wildcards: {
            **config["probing"],
            "targets": config["datasets"][wildcards.dataset]["probe_targets"],
            "split_columns": config["datasets"][wildcards.dataset]["probe_split_columns"],
        },
        seed=config["seed"],
    log:
        "results/logs/probing/{dataset}/{model}/layer{layer}.log",
    benchmark:
        "results/benchmarks/probing/{dataset}/{model}/layer{layer}.tsv"
    threads: 1
    resources:
        mem_mb=grow(4000),
        runtime=grow(60),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/probe_layer.py"


rule probing_table:
    input:
        lambda wildcards: expand(
            "results/tables/probing/{{dataset}}/{{model}}/layer{layer}.csv",
            layer=sae_layers(config, wildcards.model, wildcards.dataset),
        ),
    output:
        report(
            "results/tables/probing/{dataset}/{model}.csv",
            category="Probing",
            labels={"result": "table: probe scores", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/probing_table.rst",
        ),
    log:
        "results/logs/tables/probing_{dataset}_{model}.log",
    benchmark:
        "results/benchmarks/tables/probing_{dataset}_{model}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/concat_tables.py"
