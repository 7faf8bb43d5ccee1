"""Probe one layer: dense clip means and each SAE's codes."""
from pathlib import Path

from threadpoolctl import threadpool_limits

from audiosae.analysis.probing import probe_layer
from audiosae.io import write_csv
from audiosae.runtime import setup

w = snakemake.wildcards
setup(snakemake.threads, snakemake.params.seed, snakemake.log[0])
probing = snakemake.params.probing
with threadpool_limits(snakemake.threads):
    table = probe_layer(
        snakemake.input.activations,
        snakemake.input.clips,
        int(w.layer),
        [Path(p).parent for p in snakemake.input.saes],
        probing["targets"],
        seed=snakemake.params.seed,
        n_boot=probing["n_bootstrap"],
        protocols=tuple(probing["protocols"]),
        adam=probing["adam"],
        split_columns=probing["split_columns"],
    )
table.insert(0, "model", w.model)
table.insert(0, "dataset", w.dataset)
write_csv(table, snakemake.output[0])
