# Stored artefacts (activation stores, SAE checkpoints) are targets of the study, so a deleted one is rebuilt; and
# `snakemake verify` opens every stored artefact and result table and names each damaged one with the command that
# rebuilds it (Snakemake itself reruns what is missing, not what is present and damaged). Logic: audiosae.verify.
import os

TARGET_FUNCTIONS.append(lambda: STORED_ACTIVATIONS + STORED_SAE_FILES)


rule verify:
    """Check every stored artefact without building anything (no inputs: a missing file is reported, not made)."""
    params:
        activations=STORED_ACTIVATIONS,
        saes=[s.path for s in PLAN],
        tables=lambda wildcards: sorted({t for t in study_targets() if t.endswith(".csv")}),
        options=" ".join(f"--configfile {os.path.relpath(c)}" for c in workflow.overwrite_configfiles),
    log:
        "results/logs/verify.log",
    localrule: True
    threads: 1
    resources:
        mem_mb=grow(2000),
        runtime=grow(30),
    conda:
        "../envs/sae.yaml"
    script:
        "../workflow/scripts/verify.py"
