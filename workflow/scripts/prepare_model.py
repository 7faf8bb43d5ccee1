"""Materialise a registered model's weights in transformers format (offline conversion or hub fetch)."""
from audiosae.models.registry import prepare_model
from audiosae.runtime import setup

log = setup(snakemake.threads, None, snakemake.log[0])
options = snakemake.params.options
prepare_model(
    snakemake.wildcards.model,
    snakemake.output[0],
    revision=options["revision"],
    trust_remote_code=options["trust_remote_code"],
    source=snakemake.input.get("stand_in"),  # a rehearsal: the random-init stand-in instead of the hub
)
log.info("model %s ready in %s", snakemake.wildcards.model, snakemake.output[0])
