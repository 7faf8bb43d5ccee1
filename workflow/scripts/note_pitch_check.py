"""CREPE's pitch of each recorded note (instruments kind) against the pitch its file name gives."""
from pathlib import Path

import pandas as pd

from audiosae.analysis.acoustics import load_crepe_net
from audiosae.analysis.note_pitch import note_pitch_check, summarise
from audiosae.io import write_csv
from audiosae.runtime import setup

p = snakemake.params
log = setup(snakemake.threads, p.seed, snakemake.log[0])
clips = pd.read_csv(snakemake.input.clips, keep_default_na=False)
check = note_pitch_check(clips, Path(snakemake.input.clips).parent, load_crepe_net(p.crepe_capacity),
                         frames=p.frames, voicing_threshold=p.voicing_threshold, progress=True)
check.insert(0, "crepe", p.crepe_capacity)
summary = summarise(check)
write_csv(check, snakemake.output.check)
write_csv(summary, snakemake.output.summary)
row = summary.iloc[0]
log.info("%d notes: %.3f agree within 50 cents, %.3f octave errors, %d without a voiced frame", row["n_clips"],
         row["agreement"], row["octave_errors"], row["no_f0"])
