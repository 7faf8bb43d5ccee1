# Datasets: downloaded and verified, or generated, or linked from your folder; each ends in a clip table.
# Every kind (audiosae.data.kinds) declares the folder its audio lives in, under resources/datasets/{dataset}/;
# clip-table paths are relative to resources/datasets/{dataset}/. Helpers: rules/common.smk. Each rule's params hold
# only the options that change its output (audiosae.data.kinds), so editing e.g. probe_targets reruns no data job.
from audiosae.data.kinds import clip_table_options, preparation_options

if ARCHIVES:

    rule download_archive:
        input:
            unpack(rehearsal_download_inputs),
        output:
            "resources/downloads/{archive}",
        params:
            source=lambda wildcards: ARCHIVES[wildcards.archive],
        wildcard_constraints:
            archive="|".join(re.escape(a) for a in sorted(ARCHIVES)),
        log:
            "results/logs/data/download_{archive}.log",
        benchmark:
            "results/benchmarks/data/download_{archive}.tsv"
        localrule: True
        threads: 1
        resources:
            mem_mb=grow(1000),
            runtime=grow(600),
        conda:
            "../envs/data.yaml"
        script:
            "../workflow/scripts/download_archive.py"


# One preparation rule per kind in the config, since kinds keep their audio in different folders.
for _kind in sorted(set(DATASET_KINDS.values())):
    _spec = get_kind(_kind)

    rule:
        name:
            f"prepare_{_kind}"
        input:
            unpack(prepare_inputs),
        output:
            audio=directory(f"resources/datasets/{{dataset}}/{_spec.audio_dir}"),
            extra=[f"resources/datasets/{{dataset}}/{f}" for f in _spec.extra_outputs],
        wildcard_constraints:
            dataset=datasets_of_kind(_kind),
        params:
            dataset=lambda wildcards: preparation_options(STUDY_DATASETS[wildcards.dataset]),
            seed=config["seed"],
        log:
            f"results/logs/data/prepare_{{dataset}}.log",
        benchmark:
            f"results/benchmarks/data/prepare_{{dataset}}.tsv"
        threads: 1
        resources:
            mem_mb=grow(4000),
            runtime=grow(120),
        conda:
            "../envs/data.yaml"
        script:
            "../workflow/scripts/generate_dataset.py"


rule clip_table:
    input:
        audio=dataset_audio,
        extra=lambda wildcards: [
            f"resources/datasets/{wildcards.dataset}/{f}" for f in get_kind(DATASET_KINDS[wildcards.dataset]).extra_outputs
        ],
    output:
        clips="resources/datasets/{dataset}/clips.csv",
        report="resources/datasets/{dataset}/clip_report.csv",
    params:
        dataset=lambda wildcards: clip_table_options(STUDY_DATASETS[wildcards.dataset]),
        seed=config["seed"],
    log:
        "results/logs/data/clips_{dataset}.log",
    benchmark:
        "results/benchmarks/data/clips_{dataset}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(2000),
        runtime=grow(60),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/clip_table.py"


if PACKAGE_DATASETS:

    rule corpus_sources:
        input:
            "resources/datasets/{dataset}/clips.csv",
        output:
            report(
                "results/tables/datasets/{dataset}_sources.csv",
                category="Datasets",
                labels={"result": "table: sources and licences", "dataset": "{dataset}"},
                caption="../report/corpus_sources.rst",
            ),
        wildcard_constraints:
            dataset="|".join(re.escape(d) for d in PACKAGE_DATASETS),
        log:
            "results/logs/data/sources_{dataset}.log",
        benchmark:
            "results/benchmarks/data/sources_{dataset}.tsv"
        localrule: True
        threads: 1
        resources:
            mem_mb=grow(1000),
            runtime=grow(10),
        conda:
            "../envs/data.yaml"
        script:
            "../workflow/scripts/corpus_sources.py"


TARGET_FUNCTIONS.append(lambda: [f"results/tables/datasets/{d}_sources.csv" for d in PACKAGE_DATASETS])
