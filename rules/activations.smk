# Layerwise activations: one HDF5 per dataset x model (layout in docs/DESIGN.md).
from audiosae.cluster import extraction_mem_mb
from audiosae.config import ordered


rule extract_activations:
    input:
        clips="resources/datasets/{dataset}/clips.csv",
        audio=dataset_audio,
        model="resources/models/{model}",
    output:
        "results/activations/{dataset}/{model}.h5",
    params:
        # what the stored values depend on; the thread count is not (changing it reruns nothing)
        activations=ordered({k: v for k, v in config["activations"].items() if k != "threads"}),
        device=config["device"],
        seed=config["seed"],
        options=lambda w: model_options(config, w.model),
    log:
        "results/logs/activations/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/activations/{dataset}/{model}.tsv"
    threads: config["activations"]["threads"]
    # Long jobs that most others wait for start first (priorities here, in sae.smk, eeg.smk and steering.smk), so that on
    # few cores they overlap with the many short ones: without them half the default study's wall time had one job running.
    # The scheduler sums the priorities of the jobs it starts together, so a 2-thread job must outrank any pair of
    # 1-thread jobs (2 + 2) to get both cores.
    priority: 10
    resources:
        mem_mb=lambda wildcards, attempt: extraction_mem_mb(wildcards.model, config["activations"]["batch_size"], attempt),
        runtime=lambda wildcards, attempt: runtime_min(extraction_hours(wildcards.model, DATASET_KINDS[wildcards.dataset]), attempt),
    conda:
        "../envs/models.yaml"
    script:
        "../workflow/scripts/extract_activations.py"
