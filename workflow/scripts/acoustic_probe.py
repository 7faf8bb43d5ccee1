"""Softmax probes of pitch, loudness and timbre on one layer: the dense frames and every SAE's codes, trained on the
train split and scored on the test split; each row names the SAE's variant and its RMS normalisation."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from audiosae.analysis.acoustics import layer_frames, probe_properties
from audiosae.analysis.generation import save_probe
from audiosae.io import write_csv
from audiosae.models.extract import Activations
from audiosae.runtime import setup
from audiosae.sae.io import load_sae

p = snakemake.params
w = snakemake.wildcards
log = setup(snakemake.threads, p.seed, snakemake.log[0])
labels = pd.read_csv(snakemake.input.labels)
with Activations(snakemake.input.activations) as acts:
    dense = layer_frames(acts, int(w.layer), labels)
probe = dict(p.probe)
max_train = probe.pop("max_train_frames")
accs, tops = [], []
runs = [("dense", None)] + [("sae", Path(c).parent) for c in snakemake.input.saes]
for kind, folder in runs:
    if kind == "dense":
        feats, meta = dense, {"features": "dense", "variant": "none", "rms_norm_input": np.nan,
                              "rms_norm_codes": np.nan, "expansion": np.nan, "l1": np.nan, "l0": np.nan}
    else:
        sae, cfg = load_sae(folder)
        with torch.no_grad():
            feats = sae.encode(torch.as_tensor(dense)).numpy()
        meta = {"features": "sae", "variant": cfg["variant"], "rms_norm_input": bool(cfg.get("rms_norm_input", False)),
                "rms_norm_codes": bool(cfg.get("rms_norm_codes", False)), "expansion": float(cfg["expansion"]),
                "l1": float(cfg["l1_coefficient"]), "l0": float((feats > 0).sum(1).mean())}
    acc, top, raw = probe_properties(feats, labels, max_train_frames=max_train, seed=p.seed, n_bins=p.n_bins, **probe)
    params = Path(snakemake.output.params)
    params.mkdir(parents=True, exist_ok=True)
    name = "dense" if kind == "dense" else folder.name
    for prop, res in raw.items():  # the probes themselves, for steering directions and the generation analysis
        if "weight" in res:
            save_probe(params / f"{name}_{prop}.npz", res)
    for t in (acc, top):
        for k, v in reversed(list(meta.items())):
            t.insert(0, k, v)
    accs.append(acc)
    tops.append(top)
    log.info("%s: %s", meta, acc[["property", "accuracy"]].to_dict("records"))
acc, top = pd.concat(accs, ignore_index=True), pd.concat(tops, ignore_index=True)
for t in (acc, top):
    t.insert(0, "layer", int(w.layer))
    t.insert(0, "model", w.model)
    t.insert(0, "dataset", w.dataset)
write_csv(acc, snakemake.output.accuracy)
write_csv(top, snakemake.output.top)
