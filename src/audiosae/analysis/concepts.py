"""Concept erasure by feature ablation (paper B): rank SAE features by their association with a binary
concept, zero the top p% in the codes, decode, and score a concept probe on the ablated representation.

Two probes: one fixed before ablation (trained on the decoded full codes) and one retrained on the ablated
representation (does any of the remaining features still carry the concept?). Balanced accuracy, so chance
is 0.5 for every concept however unbalanced. A random feature order is the control. The summary is the
smallest fraction of features whose ablation brings the probe to chance (paper B: 19-27%).

A concept is measured on the clips that carry a label for its column (an empty value, e.g. the speaker sex of
a voice whose sex is unknown or of a non-speech clip, leaves the clip out, also from "the rest" of a one-vs-rest
concept). ``clip_filter`` (config ``concepts.clip_filter``) restricts a column's concepts further to clips whose
other columns hold given values, e.g. ``{"speaker_sex": {"source": "ami"}}``: male against female voices of the
same meeting microphones, not against another corpus's telephone prompts. The table's ``clip_filter`` column
names the restriction (``none`` without one) and ``n_clips`` the train and test clips the concept was measured on.
"""
from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

log = logging.getLogger(__name__)

RANKINGS = ("auroc", "mean_diff", "probe_weight")
SKIP_COLUMNS = ("singer", "speaker")  # identities: many small classes, not concepts
DEFAULT_PERCENTS = (0, 1, 2, 5, 10, 15, 20, 25, 30, 40, 50, 75, 100)


def auroc_per_feature(codes: np.ndarray, y: np.ndarray) -> np.ndarray:
    """AUROC of each column as a score for y (Mann-Whitney with average ranks for ties)."""
    from scipy.stats import rankdata

    y = np.asarray(y, bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return np.full(codes.shape[1], 0.5)
    ranks = rankdata(codes, axis=0)
    return (ranks[y].sum(0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def mean_difference(codes: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Difference of the mean code between positives and negatives, in units of the pooled standard deviation."""
    y = np.asarray(y, bool)
    diff = codes[y].mean(0) - codes[~y].mean(0)
    sd = np.sqrt(0.5 * (codes[y].var(0) + codes[~y].var(0)))
    return np.where(sd > 0, diff / np.where(sd > 0, sd, 1.0), 0.0)


def _logreg(seed: int, C: float = 0.1):
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=300, tol=1e-3, random_state=seed))


def fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return model.fit(X, y)


def probe_weights(codes: np.ndarray, y: np.ndarray, seed: int = 0) -> np.ndarray:
    """|weight| of a logistic probe on standardised codes (constant features get 0)."""
    model = fit(_logreg(seed), codes, np.asarray(y, bool))
    return np.abs(model[-1].coef_[0])


def feature_scores(codes: np.ndarray, y: np.ndarray, ranking: str, seed: int = 0) -> np.ndarray:
    """Association of each feature with the concept (larger = more associated), from training clips only."""
    if ranking == "auroc":
        return np.abs(auroc_per_feature(codes, y) - 0.5)
    if ranking == "mean_diff":
        return np.abs(mean_difference(codes, y))
    if ranking == "probe_weight":
        return probe_weights(codes, y, seed)
    raise ValueError(f"unknown ranking {ranking!r}; use one of {RANKINGS}")


def feature_order(scores: np.ndarray, seed: int = 0) -> np.ndarray:
    """Features from most to least associated; ties broken at random (seeded)."""
    rng = np.random.default_rng(seed)
    return np.lexsort((rng.random(len(scores)), -scores))


def n_ablated(percent: float, d_sae: int) -> int:
    return int(round(percent / 100.0 * d_sae))


def ablation_curve(codes: np.ndarray, W_dec: np.ndarray, b_dec: np.ndarray, y: np.ndarray, train: np.ndarray,
                   test: np.ndarray, order: np.ndarray, percents=DEFAULT_PERCENTS, seed: int = 0) -> pd.DataFrame:
    """Balanced accuracy of the fixed and the retrained probe on test clips after zeroing the first p% of
    ``order`` in the codes and decoding (codes @ W_dec + b_dec)."""
    y = np.asarray(y, bool)
    full = codes @ W_dec + b_dec
    fixed = fit(_logreg(seed), full[train], y[train])
    rows = []
    for p in percents:
        ablated = codes.copy()
        ablated[:, order[: n_ablated(p, codes.shape[1])]] = 0.0
        rep = ablated @ W_dec + b_dec
        fixed_acc = balanced_accuracy_score(y[test], fixed.predict(rep[test]))
        if np.ptp(rep[train], axis=0).max() < 1e-9:  # nothing left: the retrained probe can only guess
            retrained_acc = 0.5
        else:
            retrained_acc = balanced_accuracy_score(y[test], fit(_logreg(seed), rep[train], y[train]).predict(rep[test]))
        rows += [{"percent": float(p), "n_ablated": n_ablated(p, codes.shape[1]), "probe": "fixed", "balanced_accuracy": fixed_acc},
                 {"percent": float(p), "n_ablated": n_ablated(p, codes.shape[1]), "probe": "retrained", "balanced_accuracy": retrained_acc}]
    return pd.DataFrame(rows)


def concept_ablation(codes: np.ndarray, W_dec: np.ndarray, b_dec: np.ndarray, y: np.ndarray, train: np.ndarray,
                     test: np.ndarray, rankings=("auroc", "probe_weight"), percents=DEFAULT_PERCENTS, n_random: int = 3,
                     seed: int = 0) -> pd.DataFrame:
    """Ablation curves of one concept for every ranking plus ``n_random`` random orders (ordering = 'random')."""
    y = np.asarray(y, bool)
    parts = []
    for ranking in rankings:
        order = feature_order(feature_scores(codes[train], y[train], ranking, seed), seed)
        parts.append(ablation_curve(codes, W_dec, b_dec, y, train, test, order, percents, seed).assign(ordering=ranking, repeat=0))
    rng = np.random.default_rng(seed)
    for r in range(n_random):
        order = rng.permutation(codes.shape[1])
        parts.append(ablation_curve(codes, W_dec, b_dec, y, train, test, order, percents, seed).assign(ordering="random", repeat=r))
    return pd.concat(parts, ignore_index=True)


def fraction_to_chance(curve: pd.DataFrame, margin: float = 0.05) -> float:
    """Smallest ablated fraction (0-1) from which on the probe stays within ``margin`` of chance (0.5);
    NaN when the full-code probe is itself at chance, 1.0 when only ablating everything gets there."""
    curve = curve.sort_values("percent")
    acc = curve["balanced_accuracy"].to_numpy()
    pct = curve["percent"].to_numpy()
    if acc[0] <= 0.5 + margin:
        return float("nan")
    at_chance = acc <= 0.5 + margin
    for i in range(len(acc)):
        if at_chance[i:].all():
            return float(pct[i]) / 100.0
    return float("nan")


def summarise(curves: pd.DataFrame, margin: float = 0.05) -> pd.DataFrame:
    """Fraction of features to chance per concept, ordering and probe (random orders averaged first)."""
    keys = [c for c in curves.columns if c not in ("percent", "n_ablated", "balanced_accuracy", "repeat")]
    mean = curves.groupby(keys + ["percent"], as_index=False, dropna=False)["balanced_accuracy"].mean()
    rows = []
    for key, part in mean.groupby(keys, dropna=False):
        rows.append({**dict(zip(keys, key)), "fraction_to_chance": fraction_to_chance(part, margin),
                     "accuracy_full": float(part.sort_values("percent")["balanced_accuracy"].iloc[0])})
    return pd.DataFrame(rows)


def _allowed_values(allowed) -> list[str]:
    """One value or a list of values of a clip_filter condition, as text."""
    return [str(a) for a in ([allowed] if isinstance(allowed, (str, int, float, bool)) else allowed)]


def filter_mask(clips: pd.DataFrame, conditions: dict | None) -> np.ndarray:
    """Clips whose columns hold the given values (``{column: value or list of values}``, compared as text)."""
    keep = np.ones(len(clips), bool)
    for column, allowed in (conditions or {}).items():
        if column not in clips.columns:
            raise KeyError(f"concepts.clip_filter: clip table has no column {column!r}")
        keep &= clips[column].astype(str).isin(_allowed_values(allowed)).to_numpy()
    return keep


def describe_filter(conditions: dict | None) -> str:
    """``source=ami`` (``; `` between columns, ``|`` between values); ``none`` without conditions."""
    if not conditions:
        return "none"
    return "; ".join(f"{column}={'|'.join(_allowed_values(allowed))}" for column, allowed in conditions.items())


def binary_concepts(clips: pd.DataFrame, targets: list[str], max_values: int = 12,
                    clip_filter: dict | None = None) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(column, value, boolean labels, clips measured on) per concept: two-valued columns give one concept (the
    alphabetically later value as positive), others one per value (value vs rest, most frequent first). A concept
    is measured on the clips with a non-empty value of its column that pass ``clip_filter[column]``
    (:func:`filter_mask`); labels outside them are False."""
    out = []
    for col in targets:
        if col not in clips.columns:
            raise KeyError(f"concepts.targets: clip table has no column {col!r}")
        values = clips[col].astype(str)
        on = (values != "").to_numpy() & filter_mask(clips, (clip_filter or {}).get(col))
        counts = values[on].value_counts()
        if len(counts) < 2:
            continue
        if len(counts) == 2:
            pos = sorted(counts.index)[-1]
            out.append((col, pos, (values == pos).to_numpy() & on, on))
            continue
        for v in list(counts.index)[:max_values]:
            out.append((col, v, (values == v).to_numpy() & on, on))
    return out


def concept_ablation_study(activations: str, clips_csv: str, sae_dirs: list[str], targets: list[str] | None,
                           rankings=("auroc", "probe_weight"), percents=DEFAULT_PERCENTS, n_random: int = 3,
                           max_values: int = 12, min_class_count: int = 4, seed: int = 0,
                           clip_filter: dict | None = None) -> pd.DataFrame:
    """Concept ablation curves for every SAE folder (one layer each) and every concept of the clip table
    (``clip_filter``: target column -> {column: value(s)}, the clips its concepts are measured on)."""
    from ..models.extract import Activations
    from ..sae.io import load_sae
    from ..sae.pipeline import clip_splits
    from .probing import sae_clip_codes

    clips = pd.read_csv(clips_csv, keep_default_na=False)
    parts = []
    with Activations(activations) as acts:
        splits = clip_splits(acts, clips)
        by_id = clips.set_index(clips["id"].astype(str)).loc[acts.clip_ids].reset_index(drop=True)
        train = splits == "train"
        test = splits == "test" if (splits == "test").any() else splits == "valid"
        concepts = binary_concepts(by_id, targets, max_values, clip_filter)
        for d in sae_dirs:
            sae, cfg = load_sae(d)
            codes = sae_clip_codes(sae, acts, int(cfg["layer"]), cfg["train_on"]).astype(np.float64)
            W_dec = sae.W_dec.detach().numpy().astype(np.float64)
            b_dec = sae.b_dec.detach().numpy().astype(np.float64)
            for col, value, y, on in concepts:
                tr, te = train & on, test & on
                counts = [int(y[tr].sum()), int((~y[tr]).sum()), int(y[te].sum()), int((~y[te]).sum())]
                if min(counts) < min_class_count:
                    # said in the job's log, so that a concept missing from the table is not a mystery
                    log.warning("concept %s=%s (clips: %s) skipped: train %d / %d, test %d / %d (positive / negative), "
                                "below concepts.min_class_count %d", col, value,
                                describe_filter((clip_filter or {}).get(col)), *counts, min_class_count)
                    continue
                curves = concept_ablation(codes, W_dec, b_dec, y, tr, te, rankings, percents, n_random, seed)
                parts.append(curves.assign(layer=int(cfg["layer"]), variant=cfg["variant"], sparsity=cfg["sparsity"],
                                           sae_seed=cfg["seed"], target=col, concept=value,
                                           clip_filter=describe_filter((clip_filter or {}).get(col)),
                                           n_clips=int(tr.sum() + te.sum()),
                                           n_pos_train=counts[0], n_pos_test=counts[2], d_sae=codes.shape[1]))
    if not parts:
        return pd.DataFrame(columns=["layer", "target", "concept", "ordering", "repeat", "probe", "percent", "n_ablated", "balanced_accuracy"])
    return pd.concat(parts, ignore_index=True)
