"""Disentanglement metrics: DCI (Eastwood & Williams 2018), MIG (Chen et al. 2018), SAP (Kumar et al. 2018).

Pure functions on arrays, so each is testable on planted data with a known answer:

- ``dci_scores(importance, informativeness)``: disentanglement, completeness and informativeness from a
  codes x factors importance matrix (paper A: importance = |Lasso coefficient|, completeness with the log
  base = number of codes). Disentanglement comes twice: Eastwood & Williams' importance-weighted sum over
  codes (``disentanglement``) and paper A's code, which takes the mean over codes of the weighted terms
  (``disentanglement_paper_a`` = the weighted sum / number of codes). It also returns the base-free
  ``effective_codes`` per factor (exp of the natural-log entropy of the factor's importance over codes),
  because completeness with log base = number of codes is not comparable between representations of
  different widths (384 dense dims vs 1536 codes).
- ``top_factors`` and ``subset_dci``: DCI over a chosen set of factor columns (paper A's top-10 by R^2, or
  one set common to every representation).
- ``lasso_importance(X, Y)``: paper A's estimator, Lasso(alpha) per factor on standardised codes and
  standardised factors; in-sample (paper A) or fitted on one split and scored on another (held-out).
- ``mig`` and ``sap``: against known (true) factors, categorical or continuous.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso
from sklearn.preprocessing import StandardScaler


def _entropy(p: np.ndarray, axis: int, base: float) -> np.ndarray:
    """Entropy of distributions along ``axis`` (zeros ignored) in log ``base``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -terms.sum(axis=axis) / np.log(base)


def dci_scores(importance: np.ndarray, informativeness: np.ndarray | None = None) -> dict:
    """DCI from a (codes x factors) non-negative importance matrix.

    Returns disentanglement (Eastwood & Williams: sum over codes of rho_i (1 - H_K(P_i.)), K = factors,
    rho_i = the code's share of all importance), disentanglement_paper_a (paper A's code: the mean over codes
    of the same terms, i.e. that sum / number of codes), completeness per factor (1 - H_D(P_.j), D = codes),
    their mean, informativeness (mean of the given per-factor scores, each clipped at 0) and effective_codes
    per factor (exp of the natural entropy; 1 = a single code). A factor no code explains gets completeness 0
    and effective_codes NaN.
    """
    R = np.abs(np.asarray(importance, dtype=np.float64))
    n_codes, n_factors = R.shape
    total = R.sum()
    row = R.sum(axis=1)
    col = R.sum(axis=0)
    if n_factors > 1 and total > 0:
        P = np.divide(R, row[:, None], out=np.zeros_like(R), where=row[:, None] > 0)
        d_code = 1.0 - _entropy(P, axis=1, base=n_factors)
        weighted = d_code * row / total
    else:
        weighted = np.where(row > 0, row / total, 0.0) if total > 0 else np.zeros(n_codes)
    disentanglement = float(weighted.sum())
    # Paper A's np.mean(code_importance * D): the weights rho_i already sum to 1, so the mean divides the
    # weighted sum by the number of codes, dead ones included; it shrinks as the representation widens.
    disentanglement_paper_a = float(weighted.mean())
    Q = np.divide(R, col[None, :], out=np.zeros_like(R), where=col[None, :] > 0)
    if n_codes > 1:
        completeness_j = np.where(col > 0, 1.0 - _entropy(Q, axis=0, base=n_codes), 0.0)
    else:
        completeness_j = (col > 0).astype(float)
    effective = np.where(col > 0, np.exp(_entropy(Q, axis=0, base=np.e)), np.nan)
    out = {
        "disentanglement": disentanglement,
        "disentanglement_paper_a": disentanglement_paper_a,
        "n_codes": n_codes,
        "completeness": float(completeness_j.mean()),
        "completeness_per_factor": completeness_j,
        "effective_codes_per_factor": effective,
        "effective_codes": float(np.nanmean(effective)) if np.isfinite(effective).any() else np.nan,
    }
    if informativeness is not None:  # R^2 below 0 (worse than the mean) counts as 0
        out["informativeness"] = float(np.mean(np.clip(np.nan_to_num(informativeness, nan=0.0), 0.0, None)))
    return out


def _standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    scaler = StandardScaler().fit(train)
    return [scaler.transform(a) for a in (train, *others)]


def r2_per_column(y: np.ndarray, y_hat: np.ndarray) -> np.ndarray:
    ss_res = ((y - y_hat) ** 2).sum(axis=0)
    ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    return 1.0 - np.divide(ss_res, ss_tot, out=np.full_like(ss_res, np.nan), where=ss_tot > 0)


def _fit_lasso(Xs: np.ndarray, Ys: np.ndarray, alpha: float, max_iter: int = 2000, tol: float = 1e-3) -> Lasso:
    model = Lasso(alpha=alpha, max_iter=max_iter, tol=tol, selection="cyclic", precompute=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(Xs, Ys)
    return model


def lasso_importance(
    X: np.ndarray,
    Y: np.ndarray,
    alpha: float = 0.1,
    X_eval: np.ndarray | None = None,
    Y_eval: np.ndarray | None = None,
    max_iter: int = 2000,
    tol: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paper A's DCI regressor: one Lasso per factor on standardised codes and factors.

    Returns (importance = |coef| of shape codes x factors, R^2 per factor on the fitting data,
    R^2 per factor on (X_eval, Y_eval), or the fitting data again when none is given).
    Standardisation is fitted on the fitting split only. Constant codes stay zero.
    """
    if X_eval is None:
        X_eval, Y_eval = X, Y
    Xs, Xe = _standardise(X, X_eval)
    Ys, Ye = _standardise(np.asarray(Y, dtype=np.float64), np.asarray(Y_eval, dtype=np.float64))
    model = _fit_lasso(Xs, Ys, alpha, max_iter, tol)
    coef = np.atleast_2d(model.coef_)  # factors x codes
    return np.abs(coef).T, r2_per_column(Ys, model.predict(Xs).reshape(Ys.shape)), r2_per_column(Ye, model.predict(Xe).reshape(Ye.shape))


def top_factors(scores: np.ndarray, top: int | None = 10) -> np.ndarray:
    """Indices of the ``top`` factors by score (R^2), best first, ties by column order; NaN scores last;
    all factors when top is None."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")
    return order if top is None else order[: min(top, len(order))]


def subset_dci(importance: np.ndarray, scores: np.ndarray, keep: np.ndarray) -> dict:
    """DCI over the factor columns ``keep`` only (the codes' importance re-normalised over them)."""
    keep = np.asarray(keep, dtype=int)
    out = dci_scores(np.asarray(importance)[:, keep], np.asarray(scores, dtype=np.float64)[keep])
    out["factors"] = keep
    return out


def top_factor_dci(importance: np.ndarray, scores: np.ndarray, top: int | None = 10) -> dict:
    """DCI over the representation's own ``top`` factors by score (R^2), as paper A picks the factors whose
    completeness and R^2 it averages; all factors when top is None."""
    return subset_dci(importance, scores, top_factors(scores, top))


# ---- factors with known ground truth -------------------------------------------------------------


def encode_factor(values: np.ndarray, kind: str, n_bins: int = 20) -> np.ndarray:
    """Integer codes of a factor: class index (categorical) or equal-width bin (continuous)."""
    values = np.asarray(values)
    if kind == "categorical":
        return np.unique(values.astype(str), return_inverse=True)[1]
    return discretise(values.astype(np.float64)[:, None], n_bins)[:, 0]


def discretise(X: np.ndarray, n_bins: int = 20) -> np.ndarray:
    """Equal-width bins per column (as disentanglement_lib's histogram discretiser); constants -> bin 0."""
    X = np.asarray(X, dtype=np.float64)
    lo, hi = X.min(axis=0), X.max(axis=0)
    width = np.where(hi > lo, (hi - lo) / n_bins, 1.0)
    return np.clip(((X - lo) / width).astype(np.int64), 0, n_bins - 1)


def mutual_information_matrix(codes_binned: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """MI (nats) between every binned code (columns) and one integer factor, vectorised over codes."""
    n, D = codes_binned.shape
    B = int(codes_binned.max()) + 1
    F = int(factor.max()) + 1
    flat = (codes_binned * F + factor[:, None]) + np.arange(D)[None, :] * (B * F)
    joint = np.bincount(flat.ravel(), minlength=D * B * F).reshape(D, B, F) / n
    pc = joint.sum(axis=2, keepdims=True)
    pf = joint.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(joint > 0, joint * np.log(joint / (pc * pf)), 0.0)
    return terms.sum(axis=(1, 2))


def _factor_entropy(factor: np.ndarray) -> float:
    p = np.bincount(factor) / len(factor)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def mig(codes: np.ndarray, factors: dict[str, tuple[np.ndarray, str]], n_bins: int = 20) -> dict[str, float]:
    """Mutual information gap per factor and its mean ('mean'): (MI top1 - MI top2) / H(factor)."""
    binned = discretise(codes, n_bins)
    out = {}
    for name, (values, kind) in factors.items():
        f = encode_factor(values, kind, n_bins)
        h = _factor_entropy(f)
        if h == 0 or codes.shape[1] < 2:
            out[name] = np.nan
            continue
        mi = np.sort(mutual_information_matrix(binned, f))[::-1]
        out[name] = float((mi[0] - mi[1]) / h)
    out["mean"] = float(np.nanmean(list(out.values()))) if out else np.nan
    return out


def sap_score_matrix(codes: np.ndarray, values: np.ndarray, kind: str) -> np.ndarray:
    """Per-code predictiveness of one factor in [0, 1]: squared correlation (continuous) or the
    correlation ratio eta^2 = between-class / total variance of the code (categorical). Constant codes 0."""
    X = np.asarray(codes, dtype=np.float64)
    Xc = X - X.mean(axis=0)
    total = (Xc**2).sum(axis=0)
    if kind == "categorical":
        labels = np.unique(np.asarray(values).astype(str), return_inverse=True)[1]
        counts = np.bincount(labels)
        sums = np.zeros((counts.size, X.shape[1]))
        np.add.at(sums, labels, Xc)
        between = (sums**2 / counts[:, None]).sum(axis=0)
    else:
        y = np.asarray(values, dtype=np.float64)
        yc = y - y.mean()
        cov = Xc.T @ yc
        between = np.divide(cov**2, (yc**2).sum(), out=np.zeros_like(cov), where=(yc**2).sum() > 0)
    return np.divide(between, total, out=np.zeros_like(total), where=total > 1e-12)


def sap(codes: np.ndarray, factors: dict[str, tuple[np.ndarray, str]]) -> dict[str, float]:
    """Separated attribute predictability per factor and its mean: top1 - top2 of the per-code scores."""
    out = {}
    for name, (values, kind) in factors.items():
        s = np.sort(sap_score_matrix(codes, values, kind))[::-1]
        out[name] = float(s[0] - s[1]) if s.size > 1 else np.nan
    out["mean"] = float(np.nanmean(list(out.values()))) if out else np.nan
    return out


def factor_design(factors: dict[str, tuple[np.ndarray, str]]) -> tuple[np.ndarray, list[str]]:
    """Regression targets for DCI on true factors: the value (continuous) or one-hot columns (categorical);
    returns the matrix and, per column, the factor it belongs to."""
    cols, owner = [], []
    for name, (values, kind) in factors.items():
        if kind == "categorical":
            classes, idx = np.unique(np.asarray(values).astype(str), return_inverse=True)
            onehot = np.eye(len(classes))[idx]
            cols.append(onehot)
            owner += [name] * len(classes)
        else:
            cols.append(np.asarray(values, dtype=np.float64)[:, None])
            owner.append(name)
    return np.hstack(cols), owner


def true_factor_dci(codes: np.ndarray, factors: dict[str, tuple[np.ndarray, str]], alpha: float = 0.1) -> dict:
    """DCI against known factors, in sample: Lasso per target column, a categorical factor's importance is
    the sum over its one-hot columns; informativeness is R^2 (continuous) or argmax accuracy (categorical)."""
    Y, owner = factor_design(factors)
    Xs, = _standardise(codes)
    Ys, = _standardise(Y)
    model = _fit_lasso(Xs, Ys, alpha)
    imp_cols = np.abs(np.atleast_2d(model.coef_)).T
    pred = model.predict(Xs).reshape(Ys.shape)
    names = list(factors)
    owner = np.array(owner)
    importance = np.stack([imp_cols[:, owner == n].sum(axis=1) for n in names], axis=1)
    info = []
    for n in names:
        values, kind = factors[n]
        cols = owner == n
        if kind == "categorical":
            classes, idx = np.unique(np.asarray(values).astype(str), return_inverse=True)
            info.append(float((pred[:, cols].argmax(axis=1) == idx).mean()))
        else:
            info.append(float(r2_per_column(Ys[:, cols], pred[:, cols])[0]))
    out = dci_scores(importance, np.array(info))
    out["informativeness_per_factor"] = np.array(info)
    out["factor_names"] = names
    return out
