"""Paper B's figures: stability of features, concept ablation curves, steering trade-off."""
import pandas as pd

from audiosae.plots import paper_b
from audiosae.runtime import setup

setup(snakemake.threads, None, snakemake.log[0])
w = snakemake.wildcards
title = f"{w.model} on {w.dataset}"
if snakemake.rule == "figure_stability":
    paper_b.stability_figure(pd.read_csv(snakemake.input.table), pd.read_csv(snakemake.input.cosines), snakemake.output, title=title)
elif snakemake.rule == "figure_concept_ablation":
    paper_b.concept_ablation_figure(pd.read_csv(snakemake.input.curves), pd.read_csv(snakemake.input.summary), snakemake.output, title=title)
elif snakemake.rule == "figure_steering":
    paper_b.steering_figure(pd.read_csv(snakemake.input.table), snakemake.output, title=title)
else:
    raise ValueError(f"no paper B figure for rule {snakemake.rule}")
