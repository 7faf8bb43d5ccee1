"""What one SAE's features respond to: density, label associations, probe weights, top-activating clips.

Pure functions of codes and the clip table, so that the feature browser (``audiosae.browser``) only
renders. Everything here works on clip-level codes (one row per clip, in the activation file's order)
plus frame-level codes for the few clips that are shown. :func:`feature_stats` gathers all of it for
one SAE (:class:`FeatureStats`); the browser renders that.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..models.extract import Activations

ID_COLUMNS = ("id", "path", "split")
GROUP_COLUMNS = ("singer", "speaker")  # also shown as concepts when the clip table has them
# A label value "separates" a feature's clips when its one-vs-rest AUROC is at least this far from 0.5 (0.6 or
# 0.4); below it a feature has no strongest concept (the browser shows none).
MIN_SEPARATION = 0.1


def rankdata(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Average ranks (1-based, ties share their mean rank) along axis 0 of a 1-D or 2-D array."""
    assert axis == 0
    x = np.asarray(x)
    if x.ndim == 1:
        s = np.sort(x)
        return (np.searchsorted(s, x, "left") + np.searchsorted(s, x, "right") + 1) / 2.0
    s = np.sort(x, axis=0)
    out = np.empty(x.shape, dtype=float)
    for j in range(x.shape[1]):
        out[:, j] = (np.searchsorted(s[:, j], x[:, j], "left") + np.searchsorted(s[:, j], x[:, j], "right") + 1) / 2.0
    return out


@torch.no_grad()
def encode_rows(sae, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Dense codes of raw activation rows, in batches."""
    out = [sae.encode(torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size], dtype=np.float32))).numpy() for i in range(0, len(x), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def clip_level_codes(sae, acts: Activations, layer: int, unit: str) -> np.ndarray:
    """One code vector per clip: codes of the clip mean for clip-mean SAEs, the max over frames for frame SAEs."""
    if unit == "clip_means":
        return encode_rows(sae, acts.pooled(layer, "mean"))
    frames = acts.frames(layer)
    return np.stack([encode_rows(sae, frames[a:b]).max(0) for a, b in acts.offsets])


def concept_columns(clips: pd.DataFrame, probe_targets: list[str], concepts: list[str] | None) -> list[str]:
    """Categorical clip-table columns to associate features with (None: probe targets plus singer/speaker)."""
    if concepts is not None:
        missing = [c for c in concepts if c not in clips.columns]
        if missing:
            raise KeyError(f"browser.concepts: clip table has no column(s) {missing}")
        return list(concepts)
    cols = [c for c in probe_targets if c in clips.columns]
    return cols + [c for c in GROUP_COLUMNS if c in clips.columns and c not in cols]


def numeric_columns(clips: pd.DataFrame, numeric: list[str] | None) -> list[str]:
    """Continuous clip-table columns to correlate features with (None: every numeric non-constant column)."""
    if numeric is not None:
        missing = [c for c in numeric if c not in clips.columns]
        if missing:
            raise KeyError(f"browser.numeric: clip table has no column(s) {missing}")
        return list(numeric)
    return [
        c for c in clips.columns
        if c not in ID_COLUMNS and pd.api.types.is_numeric_dtype(clips[c]) and clips[c].nunique(dropna=True) > 1
    ]


def concept_auroc(codes: np.ndarray, labels: pd.DataFrame, min_count: int = 2) -> pd.DataFrame:
    """One-vs-rest AUROC and mean-activation difference of every feature for every label value.

    AUROC = P(code of a clip with the value > code of a clip without it), ties counted half;
    0.5 = no association. Values held by fewer than ``min_count`` clips (or by all) are skipped.
    """
    n, F = codes.shape
    ranks = rankdata(codes, axis=0)  # average ranks handle the many exact zeros
    rows = []
    for col in labels.columns:
        values = labels[col].astype(str).to_numpy()
        for value in sorted(set(values) - {"", "nan"}):
            pos = values == value
            n_pos = int(pos.sum())
            n_neg = n - n_pos
            if n_pos < min_count or n_neg < min_count:
                continue
            auroc = (ranks[pos].sum(0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
            diff = codes[pos].mean(0) - codes[~pos].mean(0)
            rows.append(pd.DataFrame({"feature": np.arange(F), "concept": col, "value": value, "auroc": auroc, "mean_diff": diff, "n": n_pos}))
    if not rows:
        return pd.DataFrame(columns=["feature", "concept", "value", "auroc", "mean_diff", "n"])
    return pd.concat(rows, ignore_index=True)


def spearman_columns(codes: np.ndarray, table: pd.DataFrame) -> pd.DataFrame:
    """Spearman r of every feature with every numeric column (NaN for constant features)."""
    n, F = codes.shape
    rc = rankdata(codes, axis=0)
    rc = rc - rc.mean(0)
    rc_norm = np.sqrt((rc**2).sum(0))
    rows = []
    for col in table.columns:
        v = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(v)
        if ok.sum() < 3:
            continue
        if not ok.all():
            r = spearman_columns(codes[ok], table.loc[ok, [col]])
            rows.append(r)
            continue
        rv = rankdata(v)
        rv = rv - rv.mean()
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (rc * rv[:, None]).sum(0) / (rc_norm * np.sqrt((rv**2).sum()))
        rows.append(pd.DataFrame({"feature": np.arange(F), "variable": col, "r": r}))
    if not rows:
        return pd.DataFrame(columns=["feature", "variable", "r"])
    return pd.concat(rows, ignore_index=True)


def ridge_probe_weights(codes: np.ndarray, y: np.ndarray, alpha: float = 10.0) -> tuple[np.ndarray, list[str]]:
    """Linear (ridge, one-vs-rest) probe on standardised codes: weights (classes x features), classes.

    Solved in the dual, (X X^T + alpha I)^-1, which is cheap with fewer clips than features.
    Binary targets give one row (for the second class). Dead features get weight 0.
    """
    classes = sorted(set(y))
    sd = codes.std(0)
    X = np.where(sd > 0, (codes - codes.mean(0)) / np.where(sd > 0, sd, 1), 0.0)
    Y = np.stack([np.where(y == c, 1.0, -1.0) for c in classes], 1)
    Y = Y - Y.mean(0)
    A = np.linalg.solve(X @ X.T + alpha * np.eye(len(X)), Y)
    W = (X.T @ A).T
    if len(classes) == 2:
        return W[1:], classes[1:]
    return W, classes


def select_features(density: np.ndarray, strength: np.ndarray, n: int) -> list[int]:
    """Up to ``n`` live features: half by association strength, the rest by density (no repeats)."""
    alive = np.flatnonzero(density > 0)
    by_assoc = alive[np.argsort(-strength[alive], kind="stable")]
    by_density = alive[np.argsort(-density[alive], kind="stable")]
    chosen: list[int] = []
    for f in by_assoc[: (n + 1) // 2]:
        chosen.append(int(f))
    for f in by_density:
        if len(chosen) >= n:
            break
        if int(f) not in chosen:
            chosen.append(int(f))
    for f in by_assoc:  # fewer live features than n: take what is left
        if len(chosen) >= min(n, len(alive)):
            break
        if int(f) not in chosen:
            chosen.append(int(f))
    return chosen


def top_clips(codes: np.ndarray, feature: int, m: int) -> list[int]:
    """Indices of the ``m`` clips on which the feature is strongest (only clips where it is active)."""
    col = codes[:, feature]
    order = np.argsort(-col, kind="stable")
    return [int(i) for i in order[:m] if col[i] > 0]


def snippet_window(n_frames: int, peak: int, frame_rate: float, seconds: float) -> tuple[int, int]:
    """Frame range [start, stop) of about ``seconds`` centred on ``peak``, kept inside the clip."""
    width = max(1, int(round(seconds * frame_rate)))
    if width >= n_frames:
        return 0, n_frames
    start = min(max(0, peak - width // 2), n_frames - width)
    return start, start + width


def peak_frame(act: np.ndarray) -> int:
    """Frame where a feature's activation over one clip peaks (the middle frame when it never fires)."""
    return int(np.argmax(act)) if act.max() > 0 else len(act) // 2


def class_probes(codes: np.ndarray, table: pd.DataFrame, train: np.ndarray, probe_targets: list[str],
                 alpha: float = 10.0) -> list[tuple[str, str, np.ndarray]]:
    """:func:`ridge_probe_weights` of every probe target on the training clips that have a label, as
    (target, class, weights over features) rows; targets with fewer than two classes there are skipped."""
    probes = []
    for target in probe_targets:
        y = table[target].astype(str).to_numpy()
        ok = train & (y != "")
        if len(set(y[ok])) < 2:
            continue
        W, classes = ridge_probe_weights(codes[ok], y[ok], alpha)
        probes += [(target, c, w) for c, w in zip(classes, W)]
    return probes


def strongest_concepts(auroc: pd.DataFrame, n_features: int, min_separation: float = MIN_SEPARATION) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """The :func:`concept_auroc` table with the strength of each association, ``dev`` = |AUROC - 0.5|; per
    feature whose strongest row separates (``dev >= min_separation``), that row (indexed by feature); and the
    strongest ``dev`` per feature, separating or not (0 where there is none)."""
    strength = np.zeros(n_features)
    best = pd.DataFrame()
    if len(auroc):
        dev = (auroc["auroc"] - 0.5).abs().to_numpy()
        auroc = auroc.assign(dev=dev)
        idx = auroc.groupby("feature")["dev"].idxmax()
        best = auroc.loc[idx].set_index("feature")
        strength[best.index.to_numpy()] = best["dev"].to_numpy()
        best = best[best["dev"] >= min_separation - 1e-9]  # AUROC 0.6 is 0.1 from 0.5, not 0.0999...
    return auroc, best, strength


def strongest_correlates(corr: pd.DataFrame) -> pd.DataFrame:
    """Per feature, the :func:`spearman_columns` row with the largest |r| (indexed by feature; NaN r left out)."""
    if len(corr):
        c2 = corr.dropna(subset=["r"])
        if len(c2):
            c2 = c2.assign(a=c2["r"].abs())
            return c2.loc[c2.groupby("feature")["a"].idxmax()].set_index("feature")
    return pd.DataFrame()


@dataclass
class FeatureStats:
    """Everything the browser shows about one SAE's features, computed from clip-level codes."""

    density: np.ndarray  # fraction of clips on which each feature is active
    concepts: list[str]  # categorical columns associated with (concept_columns)
    numeric: list[str]  # numeric columns correlated with (numeric_columns)
    auroc: pd.DataFrame  # concept_auroc, plus dev = |AUROC - 0.5| when not empty
    corr: pd.DataFrame  # spearman_columns
    probes: list[tuple[str, str, np.ndarray]]  # class_probes
    best_concept: pd.DataFrame  # per feature (index) that some label value separates (MIN_SEPARATION), its strongest auroc row
    best_correlate: pd.DataFrame  # per feature (index), its strongest corr row
    best_probe: np.ndarray | None  # per feature, the probes row that weights it most (None without probes)
    strength: np.ndarray  # per feature, |AUROC - 0.5| of its strongest concept (separating or not)
    chosen: list[int]  # features to detail (select_features)

    @property
    def n_features(self) -> int:
        return len(self.density)

    @property
    def n_alive(self) -> int:
        return int((self.density > 0).sum())

    def associations(self, feature: int) -> pd.DataFrame:
        """The feature's concept associations, strongest first."""
        a = self.auroc
        return a[a["feature"] == feature].sort_values("dev", ascending=False) if len(a) else a

    def correlations(self, feature: int) -> pd.DataFrame:
        """The feature's Spearman correlations, in column order."""
        c = self.corr
        return c[c["feature"] == feature] if len(c) else c


def feature_stats(codes: np.ndarray, table: pd.DataFrame, splits: np.ndarray, probe_targets: list[str],
                  concepts: list[str] | None = None, numeric: list[str] | None = None, probe_alpha: float = 10.0,
                  n_features: int = 32, min_separation: float = MIN_SEPARATION) -> FeatureStats:
    """Density, concept AUROCs, Spearman correlations and ridge probes (on ``splits == 'train'`` clips) of
    every feature, each feature's strongest association of each kind, and the ``n_features`` to detail.

    ``table`` is the clip table in the order of ``codes``' rows; ``concepts`` / ``numeric`` as in
    :func:`concept_columns` / :func:`numeric_columns`; a feature has a strongest concept only where its
    |AUROC - 0.5| reaches ``min_separation``."""
    density = (codes > 0).mean(0)
    concepts = concept_columns(table, probe_targets, concepts)
    numeric = numeric_columns(table, numeric)
    auroc = concept_auroc(codes, table[concepts])
    corr = spearman_columns(codes, table[numeric].apply(pd.to_numeric, errors="coerce")) if numeric else spearman_columns(codes, table[[]])
    probes = class_probes(codes, table, splits == "train", probe_targets, probe_alpha)
    auroc, best, strength = strongest_concepts(auroc, codes.shape[1], min_separation)
    chosen = select_features(density, strength, n_features)
    best_probe = np.abs(np.stack([w for _, _, w in probes])).argmax(0) if probes else None
    return FeatureStats(density, concepts, numeric, auroc, corr, probes, best, strongest_correlates(corr), best_probe, strength, chosen)
