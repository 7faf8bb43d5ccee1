# Sparse autoencoders on audio foundation models: the study workflow.
# Default: `snakemake --cores all` (offline, CPU). Full study: see README. Layout and recipes: docs/DESIGN.md.
from pathlib import Path

from snakemake.utils import min_version

from audiosae.config import check_config, load_schema, validate_config

min_version("8.20")

# One image with every stage's pins, for `--sdm apptainer` (offline compute nodes): container/Dockerfile or
# container/Apptainer.def builds it to this path (README, "Containers"). Without --sdm apptainer it is not used.
containerized: str(Path(workflow.basedir) / "container" / "audiosae.sif")


# The default study, unless --configfile names another one: merging both would mix their datasets.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"



# Defaults filled in from the schema once; then every check across fields. Errors: one line naming the key.
SCHEMA = Path(workflow.basedir) / "config" / "schema.yaml"
validate_config(config, SCHEMA)
check_config(config, sae_schema=load_schema(SCHEMA)["properties"]["sae"])


# Each file below adds its targets to TARGET_FUNCTIONS (rules/common.smk) and marks its own local rules.
include: "rules/common.smk"
include: "rules/rehearsal_common.smk"
include: "rules/data.smk"
include: "rules/models.smk"
include: "rules/activations.smk"
include: "rules/sae.smk"
include: "rules/probing.smk"
include: "rules/figures.smk"
include: "rules/disentanglement.smk"
include: "rules/browser.smk"
include: "rules/paper_b_common.smk"
include: "rules/stability.smk"
include: "rules/concepts.smk"
include: "rules/steering.smk"
include: "rules/acoustics.smk"
include: "rules/instruments.smk"
include: "rules/verify.smk"
include: "rules/rehearsal.smk"


if config["eeg"]["enabled"]:

    include: "rules/eeg.smk"


rule all:
    input:
        study_targets(),
    default_target: True
    localrule: True


rule figures:
    """Every figure (the targets under results/figures/), drawn from the existing tables; see rules/figures.smk."""
    input:
        [t for t in study_targets() if t.startswith("results/figures/")],
    localrule: True
