"""Linear probes on clip-level representations, trained on training singers, scored on held-out ones.

Two protocols:

- ``logreg`` (default): logistic regression on standardised features with the regularisation strength
  chosen by cross-validation on the training split.
- ``linear_adam``: paper A's own probe, a linear layer on the raw codes trained with Adam on cross-entropy
  (lr 0.001, batch 32, 120 epochs, as its code), keeping the weights of the epoch with the best validation loss
  (validation = the valid split).

Accuracy and macro-F1 with bootstrap confidence intervals. A target whose test labels never occur in
training (singer, speaker: the test singers are held out) cannot be scored on the test split; it is scored
on the valid split instead (held-out clips of the training singers) and the table says so in ``scored_on``.
"""
from __future__ import annotations

import inspect
import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..models.extract import Activations
from ..sae.io import load_sae
from ..sae.pipeline import clip_splits

log = logging.getLogger(__name__)


def _logistic_cv_options() -> dict:
    """Options that keep today's behaviour explicit on newer scikit-learn (1.9 deprecates the defaults)."""
    params = inspect.signature(LogisticRegressionCV).parameters
    options = {}
    if "l1_ratios" in params:
        options["l1_ratios"] = (0.0,)
    if "use_legacy_attributes" in params:
        options["use_legacy_attributes"] = False
    return options


def fit_probe(X: np.ndarray, y: np.ndarray, seed: int, Cs=(1e-3, 1e-2, 1e-1, 1.0), folds: int = 3, max_iter: int = 500):
    n_folds = max(2, min(folds, int(pd.Series(y).value_counts().min())))
    probe = make_pipeline(
        StandardScaler(),
        LogisticRegressionCV(
            Cs=list(Cs),
            cv=StratifiedKFold(n_folds, shuffle=True, random_state=seed),
            max_iter=max_iter,
            scoring="accuracy",
            **_logistic_cv_options(),
        ),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe.fit(X, y)
    return probe


def _macro_f1_rows(t: np.ndarray, p: np.ndarray, n_classes: int) -> np.ndarray:
    """Macro-F1 of each row of integer labels, as ``f1_score(average="macro", zero_division=0)`` computes it:
    the mean over the classes present in that row's truth or predictions of 2 tp / (n_true + n_pred)."""
    rows = np.arange(len(t))[:, None] * n_classes
    count = lambda labels: np.bincount((rows + labels).ravel(), minlength=len(t) * n_classes).reshape(len(t), n_classes)
    tp = np.bincount((rows + t)[t == p], minlength=len(t) * n_classes).reshape(len(t), n_classes)
    support = count(t) + count(p)
    present = support > 0
    return (2 * tp / np.maximum(support, 1)).sum(1) / present.sum(1)


def bootstrap_scores(y_true: np.ndarray, y_pred: np.ndarray, n_boot: int, seed: int) -> dict[str, tuple[float, float, float]]:
    """(value, 2.5%, 97.5%) for accuracy and macro-F1, resampling test clips (all resamples at once: a loop of
    scikit-learn calls cost ~1.7 s per probe, most of a probing job)."""
    classes, codes = np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)]), return_inverse=True)
    t, p = codes[: len(y_true)][None], codes[len(y_true) :][None]
    scorers = {
        "accuracy": lambda t, p: (t == p).mean(1),
        "macro_f1": lambda t, p: _macro_f1_rows(t, p, len(classes)),
    }
    idx = np.random.default_rng(seed).integers(0, len(y_true), size=(n_boot, len(y_true)))
    out = {}
    for name, fn in scorers.items():
        value = float(fn(t, p)[0])
        if not n_boot:
            out[name] = (value, np.nan, np.nan)
            continue
        boots = fn(t[0][idx], p[0][idx])
        out[name] = (value, float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5)))
    return out


@torch.no_grad()
def sae_clip_codes(sae, acts: Activations, layer: int, unit: str) -> np.ndarray:
    """SAE codes per clip: codes of the clip mean (paper A), or the mean of frame codes for frame SAEs."""
    if unit == "clip_means":
        return sae.encode(torch.from_numpy(acts.pooled(layer, "mean")).float()).numpy()
    frames = acts.frames(layer)
    return np.stack([sae.encode(torch.from_numpy(frames[a:b]).float()).mean(0).numpy() for a, b in acts.offsets])


class LinearAdamProbe:
    """Paper A's probe: nn.Linear on raw features, cross-entropy, Adam, best validation loss wins. The defaults are
    its code's (theomariotte/sae_audio_ssl config/sae_downstream_vocalset.py: 120 epochs, batch 32, lr 0.001) and
    config/schema.yaml's probing.adam; the workflow always passes the schema's."""

    def __init__(self, epochs: int = 120, lr: float = 1e-3, batch_size: int = 32, weight_decay: float = 0.0, seed: int = 0):
        self.epochs, self.lr, self.batch_size, self.weight_decay, self.seed = epochs, lr, batch_size, weight_decay, seed

    def fit(self, X: np.ndarray, y: np.ndarray, X_valid: np.ndarray, y_valid: np.ndarray) -> "LinearAdamProbe":
        self.classes_ = np.unique(y)
        index = {c: i for i, c in enumerate(self.classes_)}
        gen = torch.Generator().manual_seed(self.seed)
        xt = torch.as_tensor(X, dtype=torch.float32)
        yt = torch.as_tensor([index[c] for c in y])
        known = np.isin(y_valid, self.classes_)
        xv = torch.as_tensor(X_valid[known], dtype=torch.float32)
        yv = torch.as_tensor([index[c] for c in y_valid[known]])
        torch.manual_seed(self.seed)
        layer = torch.nn.Linear(xt.shape[1], len(self.classes_))
        opt = torch.optim.Adam(layer.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        loss_fn = torch.nn.CrossEntropyLoss()
        best, best_state, self.best_epoch_ = np.inf, None, -1
        for epoch in range(self.epochs):
            perm = torch.randperm(len(xt), generator=gen)
            for start in range(0, len(xt), self.batch_size):
                idx = perm[start : start + self.batch_size]
                opt.zero_grad()
                loss_fn(layer(xt[idx]), yt[idx]).backward()
                opt.step()
            with torch.no_grad():
                v = float(loss_fn(layer(xv), yv)) if len(xv) else float(loss_fn(layer(xt), yt))
            if v < best:
                best, self.best_epoch_ = v, epoch
                best_state = {k: t.clone() for k, t in layer.state_dict().items()}
        layer.load_state_dict(best_state)
        self.layer_, self.best_valid_loss_ = layer, best
        return self

    @torch.no_grad()
    def predict(self, X: np.ndarray) -> np.ndarray:
        logits = self.layer_(torch.as_tensor(X, dtype=torch.float32))
        return self.classes_[logits.argmax(1).numpy()]


def scoring_split(y: np.ndarray, splits: np.ndarray) -> str:
    """'test' when most test clips carry a label seen in training, else 'valid' (e.g. singer identity)."""
    train_labels = set(y[splits == "train"])
    test = y[splits == "test"]
    if len(test) and np.isin(test, list(train_labels)).mean() >= 0.5:
        return "test"
    return "valid"


def _early_stopping_split(y: np.ndarray, seed: int, fraction: float = 0.25) -> np.ndarray:
    """A stratified share of the training rows for early stopping (when valid is the scoring split)."""
    rng = np.random.default_rng(seed)
    hold = np.zeros(len(y), bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        n = int(round(fraction * len(idx)))
        if len(idx) > 1 and n:
            hold[rng.choice(idx, min(n, len(idx) - 1), replace=False)] = True
    return hold


def probe_rows(
    X: np.ndarray,
    y: np.ndarray,
    splits: np.ndarray,
    seed: int,
    n_boot: int,
    protocol: str = "logreg",
    scored_on: str = "test",
    adam: dict | None = None,
) -> tuple[list[tuple], object]:
    """Fit on the train split, score on ``scored_on``; rows of (metric, value, ci_low, ci_high)."""
    train, evaluate = splits == "train", splits == scored_on
    if protocol == "logreg":
        probe = fit_probe(X[train], y[train], seed)
    elif protocol == "linear_adam":
        if scored_on == "valid":  # valid is the score: stop early on a slice of train instead
            hold = _early_stopping_split(y[train], seed)
            Xtr, ytr = X[train], y[train]
            probe = LinearAdamProbe(seed=seed, **(adam or {})).fit(Xtr[~hold], ytr[~hold], Xtr[hold], ytr[hold])
        else:
            valid = splits == "valid"
            probe = LinearAdamProbe(seed=seed, **(adam or {})).fit(X[train], y[train], X[valid], y[valid])
    else:
        raise ValueError(f"unknown probing protocol {protocol!r}; use 'logreg' or 'linear_adam'")
    scores = bootstrap_scores(y[evaluate], probe.predict(X[evaluate]), n_boot, seed)
    return [(m, v, lo, hi) for m, (v, lo, hi) in scores.items()], probe


def layer_representations(activations: str | Path, clips_csv: str | Path, layer: int, sae_dirs: list[str | Path], seed: int = 0):
    """Clip-level representations of one layer: dense clip means and each SAE's codes.

    Returns (splits, clip rows in activation order, [(representation, variant, sparsity, seed, X), ...]).
    """
    clips = pd.read_csv(clips_csv, keep_default_na=False)
    with Activations(activations) as acts:
        splits = clip_splits(acts, clips)
        by_id = clips.set_index(clips["id"].astype(str)).loc[acts.clip_ids]
        representations = [("dense", "none", np.nan, seed, acts.pooled(layer, "mean"))]
        for d in sae_dirs:
            sae, cfg = load_sae(d)
            representations.append(("sae", cfg["variant"], cfg["sparsity"], cfg["seed"], sae_clip_codes(sae, acts, layer, cfg["train_on"])))
    return splits, by_id, representations


def probe_layer(
    activations: str | Path,
    clips_csv: str | Path,
    layer: int,
    sae_dirs: list[str | Path],
    targets: list[str],
    seed: int = 0,
    n_boot: int = 1000,
    protocols: tuple[str, ...] = ("logreg",),
    adam: dict | None = None,
    split_columns: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Tidy table: one row per (representation, sparsity, target, protocol, metric); ``scored_on`` names
    the split the score comes from (test = held-out singers; valid = held-out clips of training singers),
    ``split_column`` the clip-table column it is read from (``split_columns``: target -> column; default
    ``split``, e.g. pitch probed on held-out instruments with ``split_by_instrument``)."""
    default_splits, by_id, representations = layer_representations(activations, clips_csv, layer, sae_dirs, seed)
    split_columns = split_columns or {}
    rows = []
    for target in targets:
        if target not in by_id.columns:
            raise KeyError(f"{clips_csv}: no column {target!r} to probe")
        split_column = split_columns.get(target, "split")
        if split_column not in by_id.columns:
            raise KeyError(f"{clips_csv}: no column {split_column!r} (the split of probe target {target!r})")
        splits = default_splits if split_column == "split" else by_id[split_column].astype(str).to_numpy()
        y = by_id[target].astype(str).to_numpy()
        labelled = y != ""
        trained_on = sorted(set(y[labelled & (splits == "train")]))
        if len(trained_on) < 2:
            raise ValueError(f"{clips_csv}: probe target {target!r} has {len(trained_on)} class in the train split "
                             f"(column {split_column!r}: {trained_on}); a probe needs two. Remove it from the dataset's "
                             f"probe_targets or give it a split column where training sees every class")
        scored_on = scoring_split(y[labelled], splits[labelled])
        eval_y = y[(splits == scored_on) & labelled]
        chance = float(pd.Series(eval_y).value_counts(normalize=True).max())
        for protocol in protocols:
            rows.append(("chance", "none", np.nan, seed, target, protocol, split_column, scored_on, "accuracy", chance,
                         chance, chance))
            for rep, variant, sparsity, sae_seed, X in representations:
                scored, _ = probe_rows(X[labelled], y[labelled], splits[labelled], seed, n_boot, protocol, scored_on, adam)
                for metric, value, lo, hi in scored:
                    rows.append((rep, variant, sparsity, sae_seed, target, protocol, split_column, scored_on, metric, value,
                                 lo, hi))
                log.info("layer %d %s s=%s %s (%s, on %s): accuracy %.3f", layer, rep, sparsity, target, protocol, scored_on, scored[0][1])
    columns = ["representation", "variant", "sparsity", "seed", "target", "protocol", "split_column", "scored_on", "metric",
               "value", "ci_low", "ci_high"]
    table = pd.DataFrame(rows, columns=columns)
    table.insert(0, "layer", layer)
    return table
