"""Make a dataset's audio folder: generate it, extract its verified archive, or link your folder."""
from pathlib import Path

from audiosae.data.kinds import prepare_dataset
from audiosae.runtime import setup

log = setup(snakemake.threads, snakemake.params.seed, snakemake.log[0])
ds = snakemake.params.dataset
root = Path(snakemake.output.audio).parent
archive = snakemake.input.get("archive")
packages = list(snakemake.input.get("packages", []))
prepare_dataset(root, ds, snakemake.params.seed, archive=archive, packages=packages)
log.info("prepared %s dataset under %s%s", ds["kind"], root, f" from {archive or len(packages)} archive(s)" if archive or packages else "")
