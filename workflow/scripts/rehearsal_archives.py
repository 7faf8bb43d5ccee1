"""A rehearsal's miniature dataset archives in the real layouts (audiosae.rehearsal.archives)."""
from pathlib import Path

from audiosae.rehearsal.archives import write_archive
from audiosae.runtime import setup

log = setup(snakemake.threads, snakemake.params.seed, snakemake.log[0])
for archive, kind in snakemake.params.kinds.items():
    digest = write_archive(kind, Path(snakemake.params.mirror) / archive, seed=snakemake.params.seed)
    log.info("miniature %s archive %s (sha256 %s)", kind, archive, digest)
