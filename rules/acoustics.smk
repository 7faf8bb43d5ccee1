# Paper C's acoustic properties: frame labels (CREPE pitch, RMS loudness, spectral centroid) at the model's frame
# rate -> frame-level ReLU + L1 SAEs per layer x width x L1 weight -> softmax probes per property -> table, figure.
# Logic: audiosae.analysis.acoustics and audiosae.analysis.frame_labels.
include: "acoustics_common.smk"


rule acoustic_labels:
    input:
        activations="results/activations/{dataset}/{model}.h5",
        clips="resources/datasets/{dataset}/clips.csv",
    output:
        labels=f"{AC_DIR}/frame_labels.csv",
        edges=f"{AC_DIR}/label_bins.json",
        crepe_error=report(
            "results/tables/acoustics/{dataset}/{model}_crepe_error.csv",
            category="Acoustic properties",
            labels={"result": "table: CREPE pitch error", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/acoustics_crepe_table.rst",
        ),
    params:
        acoustics=ACOUSTICS,
        root=lambda wildcards: dataset_root(wildcards),
        seed=config["seed"],
    log:
        "results/logs/acoustics/{dataset}/{model}/labels.log",
    benchmark:
        "results/benchmarks/acoustics/{dataset}/{model}/labels.tsv"
    threads: 1
    resources:
        mem_mb=grow(3000),
        runtime=grow(60),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/acoustic_labels.py"


rule acoustic_probe:
    input:
        activations="results/activations/{dataset}/{model}.h5",
        labels=f"{AC_DIR}/frame_labels.csv",
        saes=lambda wildcards: [f"{d}/cfg.json" for d in acoustic_sae_dirs(wildcards)],
    output:
        accuracy=f"{AC_DIR}/probes/layer{{layer}}_accuracy.csv",
        top=f"{AC_DIR}/probes/layer{{layer}}_top.csv",
        params=directory(f"{AC_DIR}/probes/layer{{layer}}_params"),
    params:
        probe=ACOUSTICS["probe"],
        n_bins=ACOUSTICS["n_bins"],
        seed=config["seed"],
    log:
        "results/logs/acoustics/{dataset}/{model}/probe_layer{layer}.log",
    benchmark:
        "results/benchmarks/acoustics/{dataset}/{model}/probe_layer{layer}.tsv"
    threads: 1
    resources:
        mem_mb=grow(4000),
        runtime=grow(60),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/acoustic_probe.py"


rule acoustic_tables:
    input:
        accuracy=lambda wildcards: acoustic_layer_tables(wildcards, "accuracy"),
        top=lambda wildcards: acoustic_layer_tables(wildcards, "top"),
    output:
        accuracy=report(
            "results/tables/acoustics/{dataset}/{model}_probes.csv",
            category="Acoustic properties",
            labels={"result": "table: acoustic probe accuracy", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/acoustics_probe_table.rst",
        ),
        top="results/tables/acoustics/{dataset}/{model}_top_features.csv",
    log:
        "results/logs/acoustics/{dataset}/{model}/tables.log",
    benchmark:
        "results/benchmarks/acoustics/{dataset}/{model}/tables.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/acoustic_tables.py"


rule figure_acoustics:
    input:
        accuracy="results/tables/acoustics/{dataset}/{model}_probes.csv",
        code=plot_code("acoustics.py"),
    output:
        report(
            expand("results/figures/{{dataset}}/{{model}}/acoustic_probes.{ext}", ext=config["figures"]["formats"][:1]),
            category="Acoustic properties",
            labels={"result": "figure: acoustic probe accuracy", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/acoustics_probe_figure.rst",
        ),
        # the other formats: plain files beside it, not report entries
        expand("results/figures/{{dataset}}/{{model}}/acoustic_probes.{ext}", ext=config["figures"]["formats"][1:]),
    log:
        "results/logs/figures/{dataset}/{model}/acoustic_probes.log",
    benchmark:
        "results/benchmarks/figures/{dataset}/{model}/acoustic_probes.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/figure_acoustics.py"


rule codec_steering:
    input:
        model="resources/models/{model}",
        clips="resources/datasets/{dataset}/clips.csv",
        sae=lambda wildcards: f"{acoustic_folder(PLAN, wildcards.dataset, wildcards.model, 0, AC_STEER['expansion'], AC_STEER['l1'])}/cfg.json",
        params="results/acoustics/{dataset}/{model}/probes/layer0_params",
    output:
        table=report(
            "results/tables/acoustics/{dataset}/{model}_steering.csv",
            category="Acoustic properties",
            labels={"result": "table: codec steering", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/codec_steering_table.rst",
        ),
        summary="results/tables/acoustics/{dataset}/{model}_steering_summary.csv",
        audio=directory("results/acoustics/{dataset}/{model}/steering_audio"),
    params:
        steering=AC_STEER,
        root=lambda wildcards: dataset_root(wildcards),
        seed=config["seed"],
        device=config["device"],
    log:
        "results/logs/acoustics/{dataset}/{model}/steering.log",
    benchmark:
        "results/benchmarks/acoustics/{dataset}/{model}/steering.tsv"
    threads: 2
    resources:
        mem_mb=grow(8000),
        runtime=grow(120),
        gpu=1,
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/codec_steering.py"


rule figure_codec_steering:
    input:
        table="results/tables/acoustics/{dataset}/{model}_steering.csv",
        code=plot_code("acoustics.py"),
    output:
        report(
            expand("results/figures/{{dataset}}/{{model}}/codec_steering.{ext}", ext=config["figures"]["formats"][:1]),
            category="Acoustic properties",
            labels={"result": "figure: codec steering", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/codec_steering_figure.rst",
        ),
        # the other formats: plain files beside it, not report entries
        expand("results/figures/{{dataset}}/{{model}}/codec_steering.{ext}", ext=config["figures"]["formats"][1:]),
    log:
        "results/logs/figures/{dataset}/{model}/codec_steering.log",
    benchmark:
        "results/benchmarks/figures/{dataset}/{model}/codec_steering.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/figure_codec_steering.py"


rule generation_progress:
    input:
        trajectory=lambda wildcards: AC_GEN["trajectories"][wildcards.trajectory],
        sae=lambda wildcards: f"{acoustic_folder(PLAN, AC_DATASET, AC_GEN_MODEL, AC_GEN['layer'], AC_GEN['expansion'], AC_GEN['l1'])}/cfg.json",
        params=f"results/acoustics/{AC_DATASET}/{AC_GEN_MODEL}/probes/layer{AC_GEN['layer']}_params",
    output:
        progress="results/tables/acoustics/generation/{trajectory}_progress.csv",
        settling=report(
            "results/tables/acoustics/generation/{trajectory}_settling.csv",
            category="Acoustic properties",
            labels={"result": "table: generation settling", "trajectory": "{trajectory}"},
            caption="../report/generation_table.rst",
        ),
    params:
        generation={**AC_GEN, "model": AC_GEN_MODEL},
        seed=config["seed"],
    log:
        "results/logs/acoustics/generation/{trajectory}.log",
    benchmark:
        "results/benchmarks/acoustics/generation/{trajectory}.tsv"
    threads: 1
    resources:
        mem_mb=grow(4000),
        runtime=grow(30),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/generation_progress.py"


rule figure_generation:
    input:
        progress="results/tables/acoustics/generation/{trajectory}_progress.csv",
        settling="results/tables/acoustics/generation/{trajectory}_settling.csv",
        code=plot_code("acoustics.py"),
    output:
        report(
            expand("results/figures/generation/{{trajectory}}.{ext}", ext=config["figures"]["formats"][:1]),
            category="Acoustic properties",
            labels={"result": "figure: generation progress", "trajectory": "{trajectory}"},
            caption="../report/generation_figure.rst",
        ),
        # the other formats: plain files beside it, not report entries
        expand("results/figures/generation/{{trajectory}}.{ext}", ext=config["figures"]["formats"][1:]),
    log:
        "results/logs/figures/generation/{trajectory}.log",
    benchmark:
        "results/benchmarks/figures/generation/{trajectory}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/figure_generation.py"
