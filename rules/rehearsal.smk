# The rehearsal's stand-ins (names and the input functions that feed them to the study's own rules:
# rules/rehearsal_common.smk). Each rule is one job: a rehearsal's cost is mostly start-up per job.
if REHEARSAL["enabled"]:

    rule rehearsal_archives:
        output:
            [f"{REHEARSAL_MIRROR}/{a}{suffix}" for a in sorted(REHEARSAL_ARCHIVES) for suffix in ("", ".sha256")],
        params:
            kinds=REHEARSAL_ARCHIVES,
            mirror=REHEARSAL_MIRROR,
            seed=REHEARSAL["seed"],
        log:
            "results/logs/rehearsal/archives.log",
        benchmark:
            "results/benchmarks/rehearsal/archives.tsv"
        localrule: True
        threads: 1
        resources:
            mem_mb=grow(2000),
            runtime=grow(10),
        conda:
            "../envs/data.yaml"
        script:
            "../workflow/scripts/rehearsal_archives.py"

    rule rehearsal_models:
        output:
            [directory(f"{REHEARSAL_HUB}/{m}") for m in REHEARSAL_MODELS],
        params:
            models=REHEARSAL_MODELS,
            hub=REHEARSAL_HUB,
            width=REHEARSAL["width"],
            seed=REHEARSAL["seed"],
        log:
            "results/logs/rehearsal/models.log",
        benchmark:
            "results/benchmarks/rehearsal/models.tsv"
        localrule: True
        threads: 1
        resources:
            mem_mb=grow(4000),
            runtime=grow(10),
        conda:
            "../envs/models.yaml"
        script:
            "../workflow/scripts/rehearsal_models.py"

    rule rehearsal_bids:
        output:
            directory(REHEARSAL_BIDS),
        params:
            subjects=config["eeg"]["broderick"]["subjects"],
            runs=config["eeg"]["broderick"]["runs"],
            seed=REHEARSAL["seed"],
        log:
            "results/logs/rehearsal/bids.log",
        benchmark:
            "results/benchmarks/rehearsal/bids.tsv"
        localrule: True
        threads: 1
        resources:
            mem_mb=grow(2000),
            runtime=grow(10),
        conda:
            "../envs/eeg.yaml"
        script:
            "../workflow/scripts/rehearsal_bids.py"
