"""Stability of SAE features across seeds, neighbouring layers and training rows (paper B)."""
from audiosae.analysis.stability import parse_folder_key, stability_from_folders
from audiosae.io import write_csv
from audiosae.runtime import setup

w = snakemake.wildcards
log = setup(snakemake.threads, snakemake.params.seed, snakemake.log[0])
folders = {parse_folder_key(key): path for key, path in snakemake.params.folders.items()}
table, cosines = stability_from_folders(snakemake.params.plan, folders, snakemake.input.activations, seed=snakemake.params.seed)
for df in (table, cosines):
    df.insert(0, "sparsity", snakemake.params.sparsity)
    df.insert(0, "model", w.model)
    df.insert(0, "dataset", w.dataset)
write_csv(table, snakemake.output.table)
write_csv(cosines, snakemake.output.cosines)
