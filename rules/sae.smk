# Sparse autoencoders: one job per dataset x model x layer x variant x sparsity x seed.


rule train_sae:
    input:
        unpack(downstream_inputs),
        activations="results/activations/{dataset}/{model}.h5",
        clips="resources/datasets/{dataset}/clips.csv",
    output:
        weights=f"{SAE_DIR}/sae.safetensors",
        cfg=f"{SAE_DIR}/cfg.json",
        metrics=f"{SAE_DIR}/metrics.json",
    params:
        sae=lambda wildcards: sae_config(config, wildcards.dataset),
        device=config["device"],
    log:
        "results/logs/sae/{dataset}/{model}/layer{layer}/{variant}-s{sparsity}-seed{seed}.log",
    benchmark:
        "results/benchmarks/sae/{dataset}/{model}/layer{layer}/{variant}-s{sparsity}-seed{seed}.tsv"
    threads: 1
    priority: 2  # see extract_activations
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        "../envs/sae.yaml"
    script:
        "../workflow/scripts/train_sae.py"


rule reconstruction_table:
    input:
        lambda wildcards: [f"{d}/metrics.json" for d in sae_dirs(wildcards.dataset, wildcards.model)],
    output:
        report(
            "results/tables/reconstruction/{dataset}/{model}.csv",
            category="Reconstruction",
            caption="../report/reconstruction_table.rst",
        ),
    log:
        "results/logs/tables/reconstruction_{dataset}_{model}.log",
    benchmark:
        "results/benchmarks/tables/reconstruction_{dataset}_{model}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/sae.yaml"
    script:
        "../workflow/scripts/reconstruction_table.py"
