"""Disentanglement (DCI vs eGeMAPS and true factors, MIG, SAP), dimensions needed and factor regression
for one layer: dense clip means and each SAE's codes."""
from pathlib import Path

from threadpoolctl import threadpool_limits

from audiosae.analysis.factors import analyse_layer
from audiosae.io import write_csv
from audiosae.runtime import setup

setup(snakemake.threads, snakemake.params.seed, snakemake.log[0])
w = snakemake.wildcards
cfg = snakemake.params.cfg
with threadpool_limits(snakemake.threads):
    tables = analyse_layer(
        snakemake.input.activations,
        snakemake.input.clips,
        int(w.layer),
        [Path(p).parent for p in snakemake.input.saes],
        egemaps_csv=snakemake.input.egemaps if "egemaps" in snakemake.input.keys() else None,
        true_factors=cfg["true_factors"],
        dimension_factors=cfg["dimension_factors"],
        alpha=cfg["lasso_alpha"],
        top=cfg["top_factors"],
        common_factors=cfg["common_factors"],
        mig_bins=cfg["mig_bins"],
        fraction=cfg["fraction"],
        seed=snakemake.params.seed,
    )
for name, table in tables.items():
    table.insert(0, "model", w.model)
    table.insert(0, "dataset", w.dataset)
    write_csv(table, snakemake.output[name])
