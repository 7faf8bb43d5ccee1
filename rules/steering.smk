# Steering Whisper (paper B): an SAE spliced into the encoder with its speech / non-speech features edited, false
# speech detections on non-speech and WER on speech from real greedy decoding. Logic: audiosae.analysis.steering.


rule steering:
    input:
        saes=lambda wildcards: [f"{d}/sae_weights.safetensors" for d in steering_sae_dirs(wildcards).values()],
        clips="resources/datasets/{dataset}/clips.csv",
        audio=dataset_audio,
        model="resources/models/{model}",
    output:
        table=report(
            "results/tables/steering/{dataset}/{model}.csv",
            category="Steering",
            labels={"result": "table: steering", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/steering_table.rst",
        ),
        transcripts="results/tables/steering/{dataset}/{model}.transcripts.csv",
    params:
        sae_dirs=steering_sae_dirs,
        steering=STEER,
        device=config["device"],
        seed=config["seed"],
    log:
        "results/logs/steering/{dataset}_{model}.log",
    benchmark:
        "results/benchmarks/steering/{dataset}_{model}.tsv"
    # One thread: a 2-thread job that becomes ready mid-run on 2 cores waits until both are free at once, which
    # the stream of 1-thread jobs prevents (it ran alone at the end of the default study).
    threads: 1
    priority: 10  # see extract_activations
    resources:
        mem_mb=grow(4000),
        runtime=grow(120),
    conda:
        "../envs/models.yaml"
    script:
        "../workflow/scripts/steering.py"


rule figure_steering:
    input:
        table="results/tables/steering/{dataset}/{model}.csv",
        code=plot_code("paper_b.py"),
    output:
        report(
            expand("results/figures/{{dataset}}/{{model}}/steering.{ext}", ext=config["figures"]["formats"][:1]),
            category="Steering",
            labels={"result": "figure: steering trade-off", "dataset": "{dataset}", "model": "{model}"},
            caption="../report/steering_figure.rst",
        ),
        # the other formats: plain files beside it, not report entries
        expand("results/figures/{{dataset}}/{{model}}/steering.{ext}", ext=config["figures"]["formats"][1:]),
    log:
        "results/logs/figures/steering_{dataset}_{model}.log",
    benchmark:
        "results/benchmarks/figures/steering_{dataset}_{model}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(1000),
        runtime=grow(10),
    conda:
        "../envs/plots.yaml"
    script:
        "../workflow/scripts/figure_paper_b.py"
