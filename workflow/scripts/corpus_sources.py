"""The registry packages behind a corpus of real recordings: licence, attribution, clips and seconds per package."""
import pandas as pd

from audiosae.data.registry import source_summary
from audiosae.io import write_csv
from audiosae.runtime import setup

log = setup(snakemake.threads, 0, snakemake.log[0])
table = source_summary(pd.read_csv(snakemake.input[0], keep_default_na=False))
table.insert(0, "dataset", snakemake.wildcards.dataset)
write_csv(table, snakemake.output[0])
log.info("%s: %d packages, %d clips", snakemake.wildcards.dataset, len(table), table["clips"].sum())
