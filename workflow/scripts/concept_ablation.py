"""Concept ablation curves and the fraction of features that erases each concept (paper B)."""
from threadpoolctl import threadpool_limits

from audiosae.analysis.concepts import concept_ablation_study, summarise
from audiosae.io import write_csv
from audiosae.runtime import setup

w = snakemake.wildcards
log = setup(snakemake.threads, snakemake.params.seed, snakemake.log[0])
cfg = snakemake.params.concepts
with threadpool_limits(snakemake.threads):
    curves = concept_ablation_study(
        snakemake.input.activations,
        snakemake.input.clips,
        snakemake.params.sae_dirs,
        snakemake.params.targets,
        rankings=tuple(cfg["rankings"]),
        percents=tuple(cfg["percents"]),
        n_random=cfg["n_random"],
        max_values=cfg["max_values"],
        min_class_count=cfg["min_class_count"],
        seed=snakemake.params.seed,
        clip_filter=cfg["clip_filter"],
    )
summary = summarise(curves, cfg["chance_margin"]) if len(curves) else curves.iloc[:0]
for df in (curves, summary):
    df.insert(0, "model", w.model)
    df.insert(0, "dataset", w.dataset)
log.info("%d concepts, %d curve rows", curves[["layer", "target", "concept"]].drop_duplicates().shape[0] if len(curves) else 0, len(curves))
write_csv(curves, snakemake.output.curves)
write_csv(summary, snakemake.output.summary)
