"""Tidy tables gathered from per-SAE metrics.json files."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

METRICS = ("mse", "fvu", "cosine", "l0", "dead_fraction", "dense_fraction")


def reconstruction_table(metrics_files: list[str | Path]) -> pd.DataFrame:
    """One row per (dataset, model, layer, variant, sparsity, seed, split, metric). The model-level splice cost
    (metrics.json 'downstream', where measured) comes as split 'downstream' with its own metrics (ce_recovered, ...)."""
    rows = []
    for path in metrics_files:
        m = json.loads(Path(path).read_text())
        measured = [(split, metric) for split in ("train", "held_out") for metric in METRICS]
        measured += [("downstream", metric) for metric in m.get("downstream", {})]
        for split, metric in measured:
            rows.append(
                {
                    "dataset": m.get("dataset"),
                    "model": m.get("model"),
                    "layer": m["layer"],
                    "variant": m["variant"],
                    "sparsity": m["sparsity"],
                    "k": m["k"],
                    "d_sae": m["d_sae"],
                    "seed": m["seed"],
                    "split": split,
                    "metric": metric,
                    "value": m[split][metric],
                }
            )
    return pd.DataFrame(rows).sort_values(["layer", "sparsity", "seed", "split", "metric"], kind="stable").reset_index(drop=True)
