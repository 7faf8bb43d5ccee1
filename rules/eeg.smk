# EEG correlation of model features (paper B): stimuli -> activations -> frame-level SAE -> EEG (simulated
# with a planted TRF, or Broderick et al. 2018 from OpenNeuro ds004408) -> preprocessing -> forward TRFs.
# Logic: audiosae.analysis.eeg and audiosae.data.eeg_bids. Paths are fixed by the config's eeg section.
include: "eeg_common.smk"


if EEG_SRC == "broderick":

    rule eeg_download_broderick_common:
        input:
            unpack(rehearsal_bids_inputs),
        output:
            [f"{EEG_BIDS}/{f}" for f in eeg_bids.TOP_FILES],
            [f"{EEG_BIDS}/{eeg_bids.stimulus_file(r)}" for r in EEG_RUNS],
        params:
            url=eeg_source_url(),
            root=EEG_BIDS,
            checksums=EEG["broderick"]["checksums"],
        log:
            "results/logs/eeg/download_broderick_common.log",
        benchmark:
            "results/benchmarks/eeg/download_broderick_common.tsv"
        localrule: True
        threads: 1
        resources:
            mem_mb=grow(1000),
            runtime=grow(120),
        conda:
            "../envs/eeg.yaml"
        script:
            "../workflow/scripts/eeg_download.py"

    rule eeg_download_broderick_subject:
        input:
            unpack(rehearsal_bids_inputs),
        output:
            [f"{EEG_BIDS}/{{subject}}/eeg/{{subject}}_task-listening_run-{r:02d}_{s}" for r in EEG_RUNS for s in eeg_bids.RUN_FILES],
        params:
            url=eeg_source_url(),
            root=EEG_BIDS,
            checksums=EEG["broderick"]["checksums"],
        wildcard_constraints:
            subject="sub-[0-9]+",
        log:
            "results/logs/eeg/download_broderick_{subject}.log",
        benchmark:
            "results/benchmarks/eeg/download_broderick_{subject}.tsv"
        localrule: True
        threads: 1
        resources:
            mem_mb=grow(1000),
            runtime=grow(240),
        conda:
            "../envs/eeg.yaml"
        script:
            "../workflow/scripts/eeg_download.py"


if EEG_SRC == "simulated":

    rule eeg_simulate:
        input:
            **EEG_STIMULI,
            activations=EEG_ACTIVATIONS,
            sae=f"{EEG_SAE}/cfg.json",
        output:
            recordings=f"{EEG_SIM}/recordings.csv",
            planted=f"{EEG_SIM}/planted.json",
            fif=[f"{EEG_SIM}/{ls}_run-{r:02d}_eeg.fif" for ls in EEG_LISTENERS for r in EEG_RUNS],
        params:
            eeg=EEG,
        log:
            "results/logs/eeg/simulate.log",
        benchmark:
            "results/benchmarks/eeg/simulate.tsv"
        threads: 1
        resources:
            mem_mb=grow(4000),
            runtime=grow(30),
        conda:
            "../envs/eeg.yaml"
        script:
            "../workflow/scripts/eeg_simulate.py"


rule eeg_preprocess:
    input:
        unpack(eeg_recordings),
    output:
        f"results/eeg/{EEG_SRC}/preprocessed/{{listener}}.h5",
    params:
        eeg=EEG,
        runs=EEG_RUNS,
        bids=EEG_BIDS,
    wildcard_constraints:
        listener="sub-[0-9]+",
    log:
        f"results/logs/eeg/preprocess_{EEG_SRC}_{{listener}}.log",
    benchmark:
        f"results/benchmarks/eeg/preprocess_{EEG_SRC}_{{listener}}.tsv"
    threads: 1
    resources:
        mem_mb=grow(4000),
        runtime=grow(30),
    conda:
        "../envs/eeg.yaml"
    script:
        "../workflow/scripts/eeg_preprocess.py"


rule eeg_features:
    input:
        **EEG_STIMULI,
        activations=EEG_ACTIVATIONS,
        sae=f"{EEG_SAE}/cfg.json",
    output:
        f"{EEG_RES}/features.h5",
    params:
        eeg=EEG,
        layers=EEG_LAYERS,
        sae_dir=lambda wildcards, input: os.path.dirname(input.sae),
    log:
        f"results/logs/eeg/features_{EEG_SRC}_{EEG_MODEL}.log",
    benchmark:
        f"results/benchmarks/eeg/features_{EEG_SRC}_{EEG_MODEL}.tsv"
    threads: 1
    resources:
        mem_mb=grow(4000),
        runtime=grow(30),
    conda:
        "../envs/eeg.yaml"
    script:
        "../workflow/scripts/eeg_features.py"


rule eeg_analysis:
    input:
        features=f"{EEG_RES}/features.h5",
        eeg=[f"results/eeg/{EEG_SRC}/preprocessed/{ls}.h5" for ls in EEG_LISTENERS],
    output:
        [
            report(
                f"results/tables/eeg/{EEG_SRC}/{EEG_MODEL}/{t}.csv",
                category="EEG",
                labels={
                    "result": {
                        "channels": "table: r per channel",
                        "features": "table: SAE features by gain",
                        "layers": "table: gain per layer",
                        "trfs": "table: TRF weights",
                    }.get(t, f"table: {t}"),
                    "source": EEG_SRC,
                    "model": EEG_MODEL,
                },
                caption="../report/eeg_table.rst",
            )
            for t in EEG_TABLES
        ],
    params:
        eeg=EEG,
        layers=EEG_LAYERS,
    log:
        f"results/logs/eeg/analysis_{EEG_SRC}_{EEG_MODEL}.log",
    benchmark:
        f"results/benchmarks/eeg/analysis_{EEG_SRC}_{EEG_MODEL}.tsv"
    threads: 1
    resources:
        mem_mb=grow(4000),
        runtime=grow(60),
    conda:
        "../envs/eeg.yaml"
    script:
        "../workflow/scripts/eeg_analysis.py"


rule figure_eeg:
    input:
        tables=[f"results/tables/eeg/{EEG_SRC}/{EEG_MODEL}/{t}.csv" for t in EEG_TABLES],
        eeg=f"results/eeg/{EEG_SRC}/preprocessed/{EEG_LISTENERS[0]}.h5",
        code=plot_code("figures.py"),
    output:
        [
            # each figure once in the report (the first format); the other formats are plain files beside it
            report(
                f"results/figures/eeg/{EEG_SRC}/{EEG_MODEL}/{name}.{ext}",
                category="EEG",
                labels={
                    "result": {
                        "topomaps": "figure: scalp maps of r and gain",
                        "layers": "figure: r per layer",
                        "trfs": "figure: TRFs",
                    }.get(name, f"figure: {name}"),
                    "source": EEG_SRC,
                    "model": EEG_MODEL,
                },
                caption="../report/eeg_figure.rst",
            )
            if ext == config["figures"]["formats"][0]
            else f"results/figures/eeg/{EEG_SRC}/{EEG_MODEL}/{name}.{ext}"
            for name in EEG_FIGURES
            for ext in config["figures"]["formats"]
        ],
    params:
        eeg=EEG,
        formats=config["figures"]["formats"],
    log:
        f"results/logs/figures/eeg_{EEG_SRC}_{EEG_MODEL}.log",
    benchmark:
        f"results/benchmarks/figures/eeg_{EEG_SRC}_{EEG_MODEL}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(2000),
        runtime=grow(10),
    conda:
        "../envs/eeg.yaml"
    script:
        "../workflow/scripts/figure_eeg.py"
