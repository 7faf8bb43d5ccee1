"""The registry packages behind a corpus of real recordings: licence, attribution, clips and seconds per package."""
from pathlib import Path

import pandas as pd
import soundfile as sf

from audiosae.data.registry import source_summary
from audiosae.io import write_csv
from audiosae.runtime import setup

log = setup(snakemake.threads, 0, snakemake.log[0])
clips = pd.read_csv(snakemake.input[0], keep_default_na=False)
if "duration_s" not in clips.columns:  # not every kind records it: read it from the audio headers
    root = Path(snakemake.input[0]).parent
    clips["duration_s"] = [sf.info(root / p).duration for p in clips["path"]]
table = source_summary(clips)
table.insert(0, "dataset", snakemake.wildcards.dataset)
write_csv(table, snakemake.output[0])
log.info("%s: %d packages, %d clips", snakemake.wildcards.dataset, len(table), table["clips"].sum())
