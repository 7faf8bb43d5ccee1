"""Paper A's disentanglement analyses for one layer, dense clip means vs SAE codes, as tidy tables.

- ``disentanglement``: DCI against the 88 eGeMAPSv02 functionals with paper A's estimator (Lasso alpha=0.1
  per standardised factor, importance = |coef|, completeness with log base = number of codes). Columns say
  which variant a row is:

  - ``fit``: ``paper_a_test_in_sample`` (paper A's notebook: Lasso fitted and R^2 scored on the test split's
    clips only, never the SAE's training clips) or ``held_out`` (fitted on the train split, R^2 on the test
    split); ``in_sample_all_clips`` for the true factors (this project's addition, not in paper A).
  - ``factor_set``: ``all`` (every functional that varies over the corpus: the 88; ``n_factors`` = how many
    factors the row's value is over), ``common_top<k>_dense_fit_r2`` (one set for every representation of
    the layer: the dense layer's top-k functionals by R^2 on the clips the Lasso was fitted on),
    ``common_config`` (the set ``disentanglement.common_factors`` names, the same for every layer) and
    ``own_top<k>_r2`` (paper A's summary: each representation's own top-k by its R^2; completeness and
    informativeness only, since those do not depend on the other factors' columns); ``group`` = ``all`` or
    an eGeMAPS group (per-factor values of the ``all`` fit, averaged over the group).
  - ``formula``: for disentanglement ``paper_a`` (paper A's code: mean over codes of the importance-weighted
    terms, i.e. the standard value / number of codes, so it shrinks with width) or ``standard`` (Eastwood &
    Williams: the weighted sum); ``both`` where the two agree (completeness, informativeness,
    effective_codes); ``standard`` for MIG and SAP.

  Where the clip table carries the true generating factors: DCI, MIG and SAP against them.
- ``dimensions``: the smallest number of codes whose probe reaches 95 % of the full probe's score.
- ``regression``: held-out ridge R^2 of every continuous factor (true and eGeMAPS), for the layer profile.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .acoustic import FACTOR_GROUPS, factor_group
from .dimensions import dims_needed, ridge_r2
from .disentanglement import dci_scores, lasso_importance, mig, sap, subset_dci, top_factors, true_factor_dci
from .probing import layer_representations, scoring_split

log = logging.getLogger(__name__)

DEFAULT_TRUE_FACTORS = {"midi": "continuous", "loudness_db": "continuous", "vowel": "categorical", "technique": "categorical", "singer": "categorical"}
DEFAULT_DIMENSION_FACTORS = {
    "technique": "categorical", "singer": "categorical", "vowel": "categorical", "gender": "categorical",
    "midi": "continuous", "loudness_db": "continuous",
}
KEYS = ["layer", "representation", "variant", "sparsity", "seed"]


def available_factors(clips: pd.DataFrame, spec: dict[str, str]) -> dict[str, tuple[np.ndarray, str]]:
    """The factors of ``spec`` the clip table has: categorical with at least two classes, continuous
    without missing values; others are skipped with a log line."""
    out = {}
    for name, kind in spec.items():
        if name not in clips.columns:
            log.info("factor %s: not in the clip table, skipped", name)
            continue
        col = clips[name]
        if kind == "continuous":
            values = pd.to_numeric(col.replace("", np.nan), errors="coerce").to_numpy(dtype=float)
            if not np.isfinite(values).all() or np.nanstd(values) == 0:
                log.info("factor %s: missing or constant values, skipped", name)
                continue
        else:
            values = col.astype(str).to_numpy()
            if len(np.unique(values)) < 2:
                log.info("factor %s: fewer than two classes, skipped", name)
                continue
        out[name] = (values, kind)
    return out


DIS_COLUMNS = [*KEYS, "factors", "fit", "factor_set", "n_factors", "formula", "group", "metric", "value"]
PAPER_A_FIT = "paper_a_test_in_sample"


def dci_fits(splits: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The clips each DCI variant fits its Lasso on and scores R^2 on: fit name -> (fit mask, score mask).

    paper_a_test_in_sample: paper A's notebook runs eGeMAPS and the regressors on the test singers' clips
    only, in sample; held_out: fitted on the train split, scored on the test split. A variant whose clips
    are missing is left out.
    """
    splits = np.asarray(splits)
    train, test = splits == "train", splits == "test"
    fits = {}
    if test.sum() > 1:
        fits[PAPER_A_FIT] = (test, test)
    if train.sum() > 1 and test.any():
        fits["held_out"] = (train, test)
    return fits


def common_factor_set(dense_fit_r2: np.ndarray, names: list[str], top: int, fixed: list[str] | None = None) -> tuple[str, np.ndarray]:
    """One factor set for every representation of a layer: the columns ``fixed`` names (``common_config``)
    or the dense layer's ``top`` factors by R^2 on its fitting clips (``common_top<k>_dense_fit_r2``).
    Choosing on the fitting clips keeps the held-out scores out of the choice."""
    if fixed:
        missing = [n for n in fixed if n not in names]
        if missing:
            raise KeyError(f"disentanglement.common_factors: {missing} not among the varying eGeMAPS functionals")
        return "common_config", np.array([names.index(n) for n in fixed])
    return f"common_top{top}_dense_fit_r2", top_factors(dense_fit_r2, top)


def _dci_summary_rows(head: tuple, factor_set: str, res: dict, with_disentanglement: bool = True) -> list[tuple]:
    n_factors = len(res["completeness_per_factor"])
    rows = []
    if with_disentanglement:
        rows.append((*head, factor_set, n_factors, "paper_a", "all", "disentanglement", res["disentanglement_paper_a"]))
        rows.append((*head, factor_set, n_factors, "standard", "all", "disentanglement", res["disentanglement"]))
    for metric in ("completeness", "informativeness", "effective_codes"):
        rows.append((*head, factor_set, n_factors, "both", "all", metric, res[metric]))
    return rows


def egemaps_dci_rows(
    key: tuple, fit: str, importance: np.ndarray, r2: np.ndarray, names: list[str], top: int, common: tuple[str, np.ndarray]
) -> list[tuple]:
    """Rows of one representation and fit: DCI over all functionals (with per-group values), over the
    layer's common set, and paper A's per-representation top-k summary."""
    head = (*key, "egemaps", fit)
    full = dci_scores(importance, r2)
    rows = _dci_summary_rows(head, "all", full)
    groups = np.array([factor_group(n) for n in names])
    for g in FACTOR_GROUPS:
        cols = groups == g
        if not cols.any():
            continue
        n = int(cols.sum())
        rows.append((*head, "all", n, "both", g, "completeness", float(full["completeness_per_factor"][cols].mean())))
        rows.append((*head, "all", n, "both", g, "informativeness", float(np.mean(np.clip(np.nan_to_num(r2[cols]), 0, None)))))
        rows.append((*head, "all", n, "both", g, "effective_codes", float(np.nanmean(full["effective_codes_per_factor"][cols]))))
    label, keep = common
    rows += _dci_summary_rows(head, label, subset_dci(importance, r2, keep))
    # Completeness and R^2 of a factor do not depend on the other columns, so paper A's own-top-k means
    # are exact; disentanglement over a per-representation subset is neither paper A's nor standard.
    rows += _dci_summary_rows(head, f"own_top{top}_r2", subset_dci(importance, r2, top_factors(r2, top)), with_disentanglement=False)
    return rows


def egemaps_dci(
    layer: int,
    representations: list[tuple],
    egemaps: np.ndarray,
    names: list[str],
    splits: np.ndarray,
    alpha: float = 0.1,
    top: int = 10,
    common_factors: list[str] | None = None,
) -> list[tuple]:
    """DCI rows (``DIS_COLUMNS``) of every representation (representation, variant, sparsity, seed, X) of a
    layer against the eGeMAPS matrix (clips x functionals), for each fit of ``dci_fits``."""
    fits = dci_fits(splits)
    if PAPER_A_FIT not in fits:
        log.info("no test split: paper A's DCI (fitted on the test clips) is left out")
    # Every representation's Lasso fits first: the common factor set is chosen on the dense layer's.
    lasso = {}
    for i, (*_, X) in enumerate(representations):
        X = np.asarray(X, dtype=np.float64)
        for fit, (on, scored) in fits.items():
            if fit == PAPER_A_FIT:  # in sample: scored on the clips it was fitted on
                imp, r2_fit, _ = lasso_importance(X[on], egemaps[on], alpha=alpha)
                lasso[i, fit] = (imp, r2_fit, r2_fit)
            else:
                lasso[i, fit] = lasso_importance(X[on], egemaps[on], alpha=alpha, X_eval=X[scored], Y_eval=egemaps[scored])
    dense = next(i for i, r in enumerate(representations) if r[0] == "dense")
    common = {fit: common_factor_set(lasso[dense, fit][1], names, top, common_factors) for fit in fits}
    for fit, (label, keep) in common.items():
        log.info("layer %d, %s: %s = %s", layer, fit, label, [names[j] for j in keep])
    rows = []
    for i, (rep, variant, sparsity, sae_seed, _) in enumerate(representations):
        for fit in fits:
            imp, _, r2_scored = lasso[i, fit]
            rows += egemaps_dci_rows((layer, rep, variant, sparsity, sae_seed), fit, imp, r2_scored, names, top, common[fit])
    return rows


def analyse_layer(
    activations: str | Path,
    clips_csv: str | Path,
    layer: int,
    sae_dirs: list[str | Path],
    egemaps_csv: str | Path | None = None,
    true_factors: dict[str, str] | None = None,
    dimension_factors: dict[str, str] | None = None,
    alpha: float = 0.1,
    top: int = 10,
    common_factors: list[str] | None = None,
    mig_bins: int = 20,
    fraction: float = 0.95,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """The three tables (disentanglement, dimensions, regression) for one layer. ``common_factors`` fixes the
    eGeMAPS functionals of the common DCI factor set (default: the dense layer's top ``top`` by R^2)."""
    splits, clips, representations = layer_representations(activations, clips_csv, layer, sae_dirs, seed)
    truth = available_factors(clips, DEFAULT_TRUE_FACTORS if true_factors is None else true_factors)
    dim_factors = available_factors(clips, DEFAULT_DIMENSION_FACTORS if dimension_factors is None else dimension_factors)
    egemaps = names = None
    if egemaps_csv is not None:
        table = pd.read_csv(egemaps_csv)
        table["id"] = table["id"].astype(str)
        egemaps_df = table.set_index("id").loc[clips.index]
        keep = egemaps_df.std(axis=0) > 0  # a functional constant over the corpus is no factor
        egemaps, names = egemaps_df.loc[:, keep].to_numpy(dtype=np.float64), list(egemaps_df.columns[keep])
    train, test = splits == "train", splits == "test"
    continuous_truth = {n: v for n, (v, k) in truth.items() if k == "continuous"}

    dis_rows, dim_rows, reg_rows = [], [], []
    if egemaps is not None:
        dis_rows += egemaps_dci(layer, representations, egemaps, names, splits, alpha, top, common_factors)
    for rep, variant, sparsity, sae_seed, X in representations:
        X = np.asarray(X, dtype=np.float64)
        key = (layer, rep, variant, sparsity, sae_seed)
        if egemaps is not None and train.any() and test.any():
            r2 = ridge_r2(X[train], egemaps[train], X[test], egemaps[test])
            reg_rows += [(*key, "egemaps", n, factor_group(n), "r2", float(v)) for n, v in zip(names, r2)]
        if truth:
            res = true_factor_dci(X, truth, alpha=alpha)
            head = (*key, "true", "in_sample_all_clips")
            dis_rows += _dci_summary_rows(head, "all", res)
            for j, n in enumerate(res["factor_names"]):
                dis_rows.append((*head, "all", 1, "both", n, "completeness", float(res["completeness_per_factor"][j])))
                dis_rows.append((*head, "all", 1, "both", n, "informativeness", float(res["informativeness_per_factor"][j])))
                dis_rows.append((*head, "all", 1, "both", n, "effective_codes", float(res["effective_codes_per_factor"][j])))
            for metric, scores in (("mig", mig(X, truth, mig_bins)), ("sap", sap(X, truth))):
                for n, v in scores.items():
                    dis_rows.append((*head, "all", len(truth) if n == "mean" else 1, "standard", "all" if n == "mean" else n, metric, v))
        if continuous_truth and train.any() and test.any():
            Y = np.stack(list(continuous_truth.values()), axis=1)
            r2 = ridge_r2(X[train], Y[train], X[test], Y[test])
            reg_rows += [(*key, "true", n, n, "r2", float(v)) for n, v in zip(continuous_truth, r2)]
        for name, (values, kind) in dim_factors.items():
            scored_on = scoring_split(values, splits) if kind == "categorical" else "test"
            fit, ev = train, splits == scored_on
            if not fit.any() or not ev.any():
                continue
            res = dims_needed(X[fit], values[fit], X[ev], values[ev], kind, fraction=fraction)
            for metric in ("full_score", "chance", "n_dims", "n_dims_above_chance", "n_available"):
                v = res[metric]
                dim_rows.append((*key, name, kind, scored_on, metric, np.nan, np.nan if v is None else float(v)))
            for size, score in zip(res["sizes"], res["scores"]):
                dim_rows.append((*key, name, kind, scored_on, "score_at_size", size, score))
        log.info("layer %d %s s=%s done", layer, rep, sparsity)

    return {
        "disentanglement": pd.DataFrame(dis_rows, columns=DIS_COLUMNS),
        "dimensions": pd.DataFrame(dim_rows, columns=[*KEYS, "factor", "kind", "scored_on", "metric", "size", "value"]),
        "regression": pd.DataFrame(reg_rows, columns=[*KEYS, "factors", "factor", "group", "metric", "value"]),
    }


# ---- layer profile -------------------------------------------------------------------------------

# property -> [(source, how to read it)]; a source the tables lack is skipped. eGeMAPS sources use the core
# descriptor's mean functional (group means mix in slopes and variabilities that no layer predicts well).
PROFILE_SOURCES = {
    "pitch": [
        ("true f0 (MIDI), ridge R2", ("regression", "true", ["midi"])),
        ("eGeMAPS F0 mean, ridge R2", ("regression", "egemaps", ["F0semitoneFrom27.5Hz_sma3nz_amean"])),
    ],
    "formants": [
        ("eGeMAPS F1-F3 frequency means, ridge R2", ("regression", "egemaps", ["F1frequency_sma3nz_amean", "F2frequency_sma3nz_amean", "F3frequency_sma3nz_amean"])),
        ("vowel probe accuracy", ("probing", "vowel")),
    ],
    "loudness": [
        ("true loudness (dB), ridge R2", ("regression", "true", ["loudness_db"])),
        ("eGeMAPS loudness mean, ridge R2", ("regression", "egemaps", ["loudness_sma3_amean"])),
    ],
    "technique": [("technique probe accuracy", ("probing", "technique"))],
}


def layer_profile(regression: pd.DataFrame, probing: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per property and source: the held-out score of every layer and representation, and which layer
    scores best (``best`` = True on that row), so 'pitch peaks early, formants later' can be checked."""
    rows = []
    for prop, sources in PROFILE_SOURCES.items():
        for label, spec in sources:
            if spec[0] == "regression":
                _, factors, names = spec
                sub = regression[(regression["factors"] == factors) & regression["factor"].isin(names)]
                metric = "r2"
            else:
                if probing is None or probing.empty:
                    continue
                sub = probing[(probing["target"] == spec[1]) & (probing["metric"] == "accuracy") & (probing["representation"] != "chance")]
                if "protocol" in sub:
                    sub = sub[sub["protocol"] == "logreg"]
                metric = "accuracy"
            if sub.empty:
                continue
            agg = sub.groupby(["model", "layer", "representation", "variant", "sparsity"], dropna=False)["value"].mean().reset_index()
            agg.insert(0, "source", label)
            agg.insert(0, "property", prop)
            agg["metric"] = metric
            rows.append(agg)
    if not rows:
        return pd.DataFrame(columns=["property", "source", "model", "layer", "representation", "variant", "sparsity", "value", "metric", "best"])
    group = ["property", "source", "model", "representation", "variant", "sparsity"]
    out = pd.concat(rows, ignore_index=True)  # rows were built in PROFILE_SOURCES order: keep it
    out["_order"] = out.groupby(["property", "source"], sort=False).ngroup()
    out = out.sort_values(["_order", "model", "representation", "variant", "sparsity", "layer"], kind="stable").drop(columns="_order").reset_index(drop=True)
    best = out.groupby(group, dropna=False)["value"].transform("max")
    out["best"] = out["value"] >= best - 1e-12
    # Ties: keep only the earliest best layer marked.
    out["best"] &= ~out.duplicated([*group, "best"]) | ~out["best"]
    return out
