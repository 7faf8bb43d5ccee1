# The instruments kind (audiosae.data.instruments): CREPE's pitch of every recorded note against the pitch its file
# name gives, per clip and per instrument (audiosae.analysis.note_pitch). Capacity and voicing threshold are the
# acoustics section's; the frames per note are the dataset's pitch_check_frames.
INSTRUMENT_DATASETS = [name for name, kind in DATASET_KINDS.items() if kind == "instruments"]

if INSTRUMENT_DATASETS:

    rule note_pitch_check:
        input:
            clips=CLIPS,
            audio=dataset_audio,
        output:
            check=report(
                "results/tables/{dataset}/note_pitch_check.csv",
                category="Datasets",
                labels={"result": "table: CREPE against the notes' pitch", "dataset": "{dataset}"},
                caption="../report/note_pitch_table.rst",
            ),
            summary="results/tables/{dataset}/note_pitch_summary.csv",
        wildcard_constraints:
            dataset=datasets_of_kind("instruments"),
        params:
            crepe_capacity=config["acoustics"]["crepe_capacity"],
            voicing_threshold=config["acoustics"]["voicing_threshold"],
            frames=lambda wildcards: STUDY_DATASETS[wildcards.dataset]["pitch_check_frames"],
            seed=config["seed"],
        log:
            "results/logs/instruments/note_pitch_{dataset}.log",
        benchmark:
            "results/benchmarks/instruments/note_pitch_{dataset}.tsv"
        localrule: True
        threads: 1
        resources:
            mem_mb=grow(3000),
            runtime=grow(120),
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow/scripts/note_pitch_check.py"

    TARGET_FUNCTIONS.append(
        lambda: [f"results/tables/{d}/note_pitch_{t}.csv" for d in INSTRUMENT_DATASETS for t in ("check", "summary")]
    )
