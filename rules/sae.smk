# Sparse autoencoders: one job per SAE of the study's plan (audiosae.plan: the main sweep, the EEG SAE, paper C's
# acoustic grid), all under one path template with their complete options from the plan.


rule train_sae:
    input:
        unpack(sae_inputs),
    output:
        weights=f"{SAE_DIR}/sae_weights.safetensors",
        cfg=f"{SAE_DIR}/cfg.json",
        metrics=f"{SAE_DIR}/metrics.json",
    params:
        options=lambda wildcards: planned_sae(wildcards).options,
        meta=lambda wildcards: planned_sae(wildcards).cfg_meta(),
        device=config["device"],
    log:
        "results/logs/sae/{dataset}/{model}/layer{layer}/{sweep}/{variant}-{width}-s{sparsity}-seed{seed}.log",
    benchmark:
        "results/benchmarks/sae/{dataset}/{model}/layer{layer}/{sweep}/{variant}-{width}-s{sparsity}-seed{seed}.tsv"
    threads: 1
    priority: 2  # see extract_activations
    resources:
        mem_mb=sae_job_mem_mb,
        runtime=sae_job_runtime,
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
            labels={"result": "table: reconstruction metrics", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/reconstruction_table.rst",
        ),
    log:
        "results/logs/tables/reconstruction_{dataset}_{model}.log",
    benchmark:
        "results/benchmarks/tables/reconstruction_{dataset}_{model}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    conda:
        "../envs/sae.yaml"
    script:
        "../workflow/scripts/reconstruction_table.py"
