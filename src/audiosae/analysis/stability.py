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


def stability_plan(layers: list[int], seeds: list[int], model_layers: list[int], neighbours: bool = True) -> list[dict]:
    """Pairs of (layer, seed) SAEs to match: every pair of seeds at each layer, and each layer (first seed)
    against its neighbouring layers (second seed) when they exist in the model.

    The neighbour takes another seed on purpose: SAEs of equal width built from the same seed start from the
    same random dictionary, and short training leaves atoms near their start, so same-seed layers would look
    alike for a reason that has nothing to do with the model. The seed pairs of the same layer give the
    baseline to read the layer comparison against."""
    plan = []
    for layer in layers:
        for i, sa in enumerate(seeds):
            for sb in seeds[i + 1 :]:
                plan.append({"comparison": "seed", "layer_a": layer, "layer_b": layer, "seed_a": sa, "seed_b": sb})
        if neighbours:
            for other in (layer - 1, layer + 1):
                if other in model_layers:
                    plan.append({"comparison": "neighbour_layer", "layer_a": layer, "layer_b": other,
                                 "seed_a": seeds[0], "seed_b": seeds[1]})
    return plan


def sae_folders_needed(plan: list[dict]) -> list[tuple[int, int]]:
    """The distinct (layer, seed) SAEs a plan reads."""
    need = []
    for p in plan:
        for key in (("layer_a", "seed_a"), ("layer_b", "seed_b")):
            item = (p[key[0]], p[key[1]])
            if item not in need:
                need.append(item)
    return need


def run_stability(plan: list[dict], decoders: dict, alive: dict | None = None, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Match every planned pair. ``decoders`` maps (layer, seed) -> W_dec (d_sae x d_in); ``alive`` optionally
    maps (layer, seed) -> boolean mask of latents that fire on the data.

    Returns (tidy table of shares above .5/.7/.9 and the median cosine, for all atoms and for atoms alive in
    both SAEs, with a random-dictionary control; histogram of matched cosines per pair and source).
    """
    rows, hist = [], []
    for i, p in enumerate(plan):
        wa, wb = decoders[(p["layer_a"], p["seed_a"])], decoders[(p["layer_b"], p["seed_b"])]
        idx, cos = match_atoms(wa, wb)
        sources = [("sae", "all", cos), ("random", "all", random_baseline(*wa.shape, seed=seed + i))]
        if alive is not None:
            both = alive[(p["layer_a"], p["seed_a"])] & alive[(p["layer_b"], p["seed_b"])][idx]
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
    """``folders`` maps (layer, seed) -> SAE folder. With an activation file, latents are also judged alive on
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
    # the table says how many distinct training rows and row draws the compared SAEs had.
    for side in ("a", "b"):
        keys = list(zip(table[f"layer_{side}"], table[f"seed_{side}"]))
        for name in ("train_rows", "rows_seen"):
            table[f"{name}_{side}"] = [data[k][name] for k in keys]
    return table, hist


def training_data(folder, cfg: dict) -> dict:
    """Distinct training rows (metrics.json) and rows drawn in training (steps x batch size) of one SAE."""
    import json
    from pathlib import Path

    metrics_path = Path(folder) / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    training = cfg.get("training", {})
    steps, batch = training.get("steps"), training.get("batch_size")
    return {"train_rows": metrics.get("train", {}).get("n_rows"),
            "rows_seen": steps * batch if steps and batch else None}
