"""A rehearsal's stand-ins (audiosae.rehearsal): miniature archives, random-init hub models, or a miniature BIDS."""
from pathlib import Path

from audiosae import rehearsal
from audiosae.runtime import setup

log = setup(snakemake.threads, snakemake.params.seed, snakemake.log[0])
if snakemake.rule == "rehearsal_archives":
    for archive, kind in snakemake.params.kinds.items():
        digest = rehearsal.write_archive(kind, Path(snakemake.params.mirror) / archive, seed=snakemake.params.seed)
        log.info("miniature %s archive %s (sha256 %s)", kind, archive, digest)
elif snakemake.rule == "rehearsal_models":
    for model in snakemake.params.models:
        rehearsal.write_random_model(model, Path(snakemake.params.hub) / model, width=snakemake.params.width,
                                     seed=snakemake.params.seed)
        log.info("%s: %s", model, rehearsal.RANDOM_INIT_NOTE)
else:
    rehearsal.write_bids(snakemake.output[0], snakemake.params.subjects, snakemake.params.runs, seed=snakemake.params.seed)
    log.info("miniature ds004408 in %s", snakemake.output[0])
