"""Stability of SAE features: match decoder atoms of two SAEs one to one (Hungarian algorithm on
cosine similarity) and report how many find a close partner (paper B: over half across seeds)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

THRESHOLDS = (0.5, 0.7, 0.9)


def unit_rows(w: np.ndarray) -> np.ndarray:
    return w / np.clip(np.linalg.norm(w, axis=1, keepdims=True), 1e-12, None)


def match_atoms(w_a: np.ndarray, w_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching of the rows of two decoders (d_sae x d_in) maximising total cosine.

    Returns (index into w_b for each row of w_a, cosine of each matched pair). With unequal sizes the
    smaller side is matched completely.
    """
    cos = unit_rows(w_a) @ unit_rows(w_b).T
    rows, cols = linear_sum_assignment(cos, maximize=True)
    order = np.argsort(rows)
    return cols[order], cos[rows[order], cols[order]]


def random_baseline(d_sae: int, d_in: int, seed: int) -> np.ndarray:
    """Matched cosines of two random unit dictionaries of the same shape: the chance level."""
    rng = np.random.default_rng(seed)
    _, cos = match_atoms(rng.standard_normal((d_sae, d_in)), rng.standard_normal((d_sae, d_in)))
    return cos


def stability_rows(cos: np.ndarray, alive: np.ndarray | None = None) -> dict[str, float]:
    """Shares of matched atoms above each threshold (among live latents when ``alive`` is given)."""
    if alive is not None:
        cos = cos[alive]
    out = {f"share_above_{t:g}": float((cos > t).mean()) if cos.size else float("nan") for t in THRESHOLDS}
    out.update({"median_cosine": float(np.median(cos)) if cos.size else float("nan"), "n_atoms": int(cos.size)})
    return out


def stability_table(pairs: list[dict]) -> pd.DataFrame:
    """Tidy table from a list of {'comparison', 'layer_a', 'layer_b', 'seed_a', 'seed_b', 'sparsity', 'W_a', 'W_b', ...}.

    Adds a random-dictionary control per pair, so every share can be read against chance.
    """
    rows = []
    for i, p in enumerate(pairs):
        _, cos = match_atoms(p["W_a"], p["W_b"])
        control = random_baseline(*p["W_a"].shape, seed=i)
        keys = {k: v for k, v in p.items() if not k.startswith("W_")}
        for source, values in (("sae", cos), ("random", control)):
            for metric, value in stability_rows(values).items():
                rows.append({**keys, "source": source, "metric": metric, "value": value})
    return pd.DataFrame(rows)


# --- Workflow helpers: SAE folders in, the stability table and the matched-cosine distribution out. ---

HIST_EDGES = np.linspace(-0.2, 1.0, 25)


def stability_plan(layers: list[int], seeds: list[int], model_layers: list[int], neighbours: bool = True,
                   row_fractions: list[float] = ()) -> list[dict]:
    """Pairs of (layer, seed) SAEs to match: every pair of seeds at each layer, and each layer (first seed)
    against its neighbouring layers (second seed) when they exist in the model. Each pair has the fraction of the
    training clips its SAEs saw (``train_fraction``, 1.0: all); for each of ``row_fractions``, each layer's first
    two seeds trained on that fraction are matched too (comparison ``seed``), so the share of matched atoms can be
    read against the training data.

    The neighbour takes another seed on purpose: SAEs of equal width built from the same seed start from the
    same random dictionary, and short training leaves atoms near their start, so same-seed layers would look
    alike for a reason that has nothing to do with the model. The seed pairs of the same layer give the
    baseline to read the layer comparison against."""
    plan = []
    for layer in layers:
        for i, sa in enumerate(seeds):
            for sb in seeds[i + 1 :]:
                plan.append({"comparison": "seed", "layer_a": layer, "layer_b": layer, "seed_a": sa, "seed_b": sb,
                             "train_fraction": 1.0})
        if neighbours:
            for other in (layer - 1, layer + 1):
                if other in model_layers:
                    plan.append({"comparison": "neighbour_layer", "layer_a": layer, "layer_b": other,
                                 "seed_a": seeds[0], "seed_b": seeds[1], "train_fraction": 1.0})
        for fraction in sorted(row_fractions, reverse=True):
            plan.append({"comparison": "seed", "layer_a": layer, "layer_b": layer, "seed_a": seeds[0],
                         "seed_b": seeds[1], "train_fraction": float(fraction)})
    return plan


def sae_key(layer: int, seed: int, fraction: float = 1.0) -> tuple:
    """Key of one SAE of a plan: (layer, seed) trained on every training clip, (layer, seed, fraction) on part."""
    return (layer, seed) if float(fraction) == 1.0 else (layer, seed, float(fraction))


def pair_keys(p: dict) -> tuple[tuple, tuple]:
    fraction = p.get("train_fraction", 1.0)
    return sae_key(p["layer_a"], p["seed_a"], fraction), sae_key(p["layer_b"], p["seed_b"], fraction)


def folder_key(key: tuple) -> str:
    """An SAE key as a string (Snakemake params): '2_0', or '2_0_0.25' for a fraction of the training clips."""
    return "_".join(str(v) for v in key)  # str(float) round-trips exactly


def parse_folder_key(text: str) -> tuple:
    """Inverse of :func:`folder_key`."""
    parts = text.split("_")
    return sae_key(int(parts[0]), int(parts[1]), float(parts[2]) if len(parts) > 2 else 1.0)


def sae_folders_needed(plan: list[dict]) -> list[tuple]:
    """The distinct SAEs a plan reads, as :func:`sae_key` keys."""
    need = []
    for p in plan:
        for item in pair_keys(p):
            if item not in need:
                need.append(item)
    return need


def run_stability(plan: list[dict], decoders: dict, alive: dict | None = None, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Match every planned pair. ``decoders`` maps each :func:`sae_key` ((layer, seed), or (layer, seed, fraction)
    for an SAE trained on part of the training clips) -> W_dec (d_sae x d_in); ``alive`` optionally maps the same
    keys -> boolean mask of latents that fire on the data.

    Returns (tidy table of shares above .5/.7/.9 and the median cosine, for all atoms and for atoms alive in
    both SAEs, with a random-dictionary control; histogram of matched cosines per pair and source).
    """
    rows, hist = [], []
    for i, p in enumerate(plan):
        ka, kb = pair_keys(p)
        p = {**p, "train_fraction": float(p.get("train_fraction", 1.0))}
        wa, wb = decoders[ka], decoders[kb]
        idx, cos = match_atoms(wa, wb)
        sources = [("sae", "all", cos), ("random", "all", random_baseline(*wa.shape, seed=seed + i))]
        if alive is not None:
            both = alive[ka] & alive[kb][idx]
            sources.append(("sae", "alive", cos[both]))
        for source, atoms, values in sources:
            for metric, value in stability_rows(values).items():
                rows.append({**p, "source": source, "atoms": atoms, "metric": metric, "value": value})
            counts, _ = np.histogram(np.clip(values, HIST_EDGES[0], HIST_EDGES[-1]), HIST_EDGES)
            for lo, hi, c in zip(HIST_EDGES[:-1], HIST_EDGES[1:], counts):
                hist.append({**p, "source": source, "atoms": atoms, "bin_low": lo, "bin_high": hi, "count": int(c)})
    return pd.DataFrame(rows), pd.DataFrame(hist)


def alive_mask(sae, rows: np.ndarray) -> np.ndarray:
    """Latents that fire on at least one of the rows."""
    import torch

    with torch.no_grad():
        fired = np.zeros(sae.W_dec.shape[0], bool)
        for i in range(0, len(rows), 4096):
            fired |= (sae.encode(torch.from_numpy(np.ascontiguousarray(rows[i : i + 4096], dtype=np.float32))) > 0).any(0).numpy()
    return fired


def stability_from_folders(plan: list[dict], folders: dict, activations: str | None = None, max_rows: int = 20000,
                           seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``folders`` maps each :func:`sae_key` -> SAE folder. With an activation file, latents are also judged alive on
    the SAE's training unit (clip means, or the first ``max_rows`` frames)."""
    from ..models.extract import Activations
    from ..sae.io import load_sae

    decoders, alive, data = {}, {} if activations else None, {}
    acts = Activations(activations) if activations else None
    try:
        for key, folder in folders.items():
            sae, cfg = load_sae(folder)
            decoders[key] = sae.W_dec.detach().numpy().astype(np.float64)
            data[key] = training_data(folder, cfg)
            if acts is not None:
                layer = int(cfg.get("layer", key[0]))
                rows = acts.pooled(layer, "mean") if cfg.get("train_on", "clip_means") == "clip_means" else acts.frames(layer)[:max_rows]
                alive[key] = alive_mask(sae, np.asarray(rows))
    finally:
        if acts is not None:
            acts.close()
    table, hist = run_stability(plan, decoders, alive, seed=seed)
    # How much data each pair saw: paper B's > 50 % across seeds comes from SAEs trained on far more frames, so
    # the table says how many distinct training rows and row draws the compared SAEs had (train_fraction < 1: SAEs
    # trained on part of the training clips, for the matched share against the training rows).
    for side in ("a", "b"):
        keys = [sae_key(layer, s, f) for layer, s, f in zip(table[f"layer_{side}"], table[f"seed_{side}"], table["train_fraction"])]
        for name in ("train_rows", "rows_seen"):
            table[f"{name}_{side}"] = [data[k][name] for k in keys]
    return table, hist


def training_data(folder, cfg: dict) -> dict:
    """Distinct training rows (metrics.json: ``train_rows``; older files only have the rows measured for the
    train-split metrics, at most sae.eval_rows) and rows drawn in training (steps x batch size) of one SAE."""
    import json
    from pathlib import Path

    metrics_path = Path(folder) / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    training = cfg.get("training", {})
    steps, batch = training.get("steps"), training.get("batch_size")
    return {"train_rows": metrics.get("train_rows", metrics.get("train", {}).get("n_rows")),
            "rows_seen": steps * batch if steps and batch else None}
