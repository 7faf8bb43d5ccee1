"""A rehearsal's random-init stand-ins of the hub models (audiosae.rehearsal.models)."""
from pathlib import Path

from audiosae.rehearsal import RANDOM_INIT_NOTE
from audiosae.rehearsal.models import write_random_model
from audiosae.runtime import setup

log = setup(snakemake.threads, snakemake.params.seed, snakemake.log[0])
for model in snakemake.params.models:
    write_random_model(model, Path(snakemake.params.hub) / model, width=snakemake.params.width, seed=snakemake.params.seed)
    log.info("%s: %s", model, RANDOM_INIT_NOTE)
