# Sparse autoencoders on audio foundation models: the study workflow.
# Default: `snakemake --cores all` (offline, CPU). Full study: see README.
from snakemake.utils import min_version, validate

min_version("8.20")


# The default study, unless --configfile names another one: merging both would mix their datasets.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"



validate(config, "config/schema.yaml", set_default=True)


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/models.smk"
include: "rules/activations.smk"
include: "rules/sae.smk"
include: "rules/probing.smk"
include: "rules/figures.smk"
include: "rules/disentanglement.smk"
include: "rules/browser.smk"
include: "rules/eeg.smk"
include: "rules/paper_b_common.smk"
include: "rules/stability.smk"
include: "rules/concepts.smk"
include: "rules/steering.smk"
include: "rules/acoustics.smk"


# On a cluster these run on the submit host: light bookkeeping, and downloads (compute nodes are often offline).
localrules:
    all,
    prepare_model,
    clip_table,
    reconstruction_table,
    probing_table,
    figure_probing,
    figure_reconstruction,
    disentanglement_table,
    dimensions_table,
    regression_table,
    layer_profile,
    figure_disentanglement,
    sae_tables,
    figure_sae,
    figures,
    browser_index,
    figure_stability,
    figure_concept_ablation,
    figure_steering,
    acoustic_tables,
    figure_acoustics,


rule all:
    input:
        all_targets(),
        paper_b_targets(),  # rules/paper_b_common.smk: stability, concept ablation, steering
    default_target: True


rule figures:
    """Every figure (the targets under results/figures/), drawn from the existing tables; see rules/figures.smk."""
    input:
        [t for t in all_targets() + paper_b_targets() if t.startswith("results/figures/")],
