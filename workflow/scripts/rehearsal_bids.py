"""A rehearsal's miniature Broderick et al. BIDS copy (audiosae.rehearsal.bids)."""
from audiosae.rehearsal.bids import write_bids
from audiosae.runtime import setup

log = setup(snakemake.threads, snakemake.params.seed, snakemake.log[0])
write_bids(snakemake.output[0], snakemake.params.subjects, snakemake.params.runs, seed=snakemake.params.seed)
log.info("miniature ds004408 in %s", snakemake.output[0])
