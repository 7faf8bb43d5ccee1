# Feature browser: one static HTML page per SAE of the main sweep (audio snippets, spectrograms, concepts, probe
# weights) and results/browser/index.html linking them all; opens from disk, no server.


TARGET_FUNCTIONS.append(lambda: ["results/browser/index.html"] if config["browser"]["enabled"] else [])


rule browser_sae:
    input:
        unpack(browser_association_tables),
        weights=f"{SAE_DIR}/sae_weights.safetensors",
        cfg=f"{SAE_DIR}/cfg.json",
        metrics=f"{SAE_DIR}/metrics.json",
        activations="results/activations/{dataset}/{model}.h5",
        clips="resources/datasets/{dataset}/clips.csv",
    output:
        f"{BROWSER_DIR}/index.html",
    params:
        browser=config["browser"],
        probe_targets=lambda wildcards: config["datasets"][wildcards.dataset]["probe_targets"],
        audio_root=dataset_root,
        seed=config["seed"],
    log:
        "results/logs/browser/{dataset}/{model}/layer{layer}/{sweep}/{variant}-{width}-s{sparsity}-seed{seed}.log",
    benchmark:
        "results/benchmarks/browser/{dataset}/{model}/layer{layer}/{sweep}/{variant}-{width}-s{sparsity}-seed{seed}.tsv"
    threads: 1
    resources:
        mem_mb=grow(2000),
        runtime=grow(20),
    conda:
        "../envs/browser.yaml"
    script:
        "../workflow/scripts/browser_sae.py"


rule browser_index:
    input:
        browser_pages(),
    output:
        report(
            "results/browser/index.html",
            category="Feature browser",
            labels={"result": "feature browser: every SAE's page"},
            caption="../report/browser.rst",
        ),
    log:
        "results/logs/browser/index.log",
    benchmark:
        "results/benchmarks/browser/index.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(500),
        runtime=grow(5),
    conda:
        "../envs/browser.yaml"
    script:
        "../workflow/scripts/browser_index.py"
