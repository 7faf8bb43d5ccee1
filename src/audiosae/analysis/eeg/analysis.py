"""5. The analysis: every model of a study of listeners (:class:`EEGStudy`), gains over the acoustic base,
their nulls, p-values and FDR (:func:`analyse`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .features import zscore
from .trf import CircularTRF, draw_shifts, split_segments


def bh_fdr(p: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini-Hochberg (mne.stats.fdr_correction): (reject, q)."""
    from mne.stats import fdr_correction

    p = np.asarray(p, dtype=float)
    if p.size == 0:
        return np.zeros(0, bool), np.zeros(0)
    return fdr_correction(p, alpha=alpha, method="indep")


@dataclass
class Listener:
    name: str
    eeg: dict  # run -> (samples x channels)


def _perm_p(obs: float | np.ndarray, null: np.ndarray) -> np.ndarray:
    """One-sided permutation p-value(s): (1 + #null >= obs) / (1 + n_null); null is (draws, ...)."""
    return (1 + (null >= np.asarray(obs)[None]).sum(0)) / (1 + len(null))


def _gauss_p(obs: float | np.ndarray, null: np.ndarray) -> np.ndarray:
    """One-sided p-value(s) from a normal fitted to the null draws: resolves p below 1 / n_draws, which FDR
    over many features needs (the empirical p is reported beside it)."""
    from scipy.stats import norm

    sd = null.std(0, ddof=1)
    return norm.sf((np.asarray(obs) - null.mean(0)) / np.where(sd > 0, sd, np.inf))


class EEGStudy:
    """Listeners x runs of preprocessed EEG and the runs' stimulus feature matrices at the same rate."""

    def __init__(self, listeners: list[Listener], features: dict[str, dict[int, np.ndarray]], sfreq: float,
                 tmax: float = 0.5, tmin: float = 0.0, segments_per_run: int = 2,
                 alphas=(1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0), n_null: int = 100, min_shift_s: float = 2.0,
                 seed: int = 0):
        if tmin != 0.0:
            raise ValueError("forward TRFs here use lags from 0 (tmin = 0)")
        self.listeners = listeners
        self.features = features  # name -> run -> (samples,) or (samples, k)
        self.sfreq = sfreq
        self.n_lags = int(round(tmax * sfreq)) + 1
        self.segments_per_run = segments_per_run
        self.alphas = np.asarray(alphas, dtype=float)
        self.n_null = n_null
        self.min_shift = int(round(min_shift_s * sfreq))
        self.seed = seed
        self.runs = sorted(next(iter(features.values())).keys())
        for ls in listeners:
            missing = set(self.runs) - set(ls.eeg)
            if missing:
                raise ValueError(f"listener {ls.name} lacks runs {sorted(missing)}")

    def design(self, names: list[str], run: int) -> tuple[np.ndarray, list[str]]:
        cols, labels = [], []
        for name in names:
            x = self.features[name][run]
            x = x[:, None] if x.ndim == 1 else x
            cols.append(x)
            labels += [name] if x.shape[1] == 1 else [f"{name}[{i}]" for i in range(x.shape[1])]
        X = zscore(np.concatenate(cols, axis=1))
        return X, labels

    def model(self, base: list[str], tested: list[str], null: bool = True) -> dict:
        """Fit base+tested for every listener at once (the design is the same stimulus for all listeners,
        so their channels are stacked as outputs and share the ridge strength); the null shifts the tested
        columns by the same draws for every listener.

        Returns r (listeners x channels), r_null (draws x listeners x channels), TRF weights averaged over
        folds (listeners x columns x lags x channels), the column labels and the alphas chosen per fold.
        """
        names = base + tested
        rng = np.random.default_rng(self.seed)
        seg_len = min(len(self.features[names[0]][r]) for r in self.runs) // self.segments_per_run
        shifts = draw_shifts(rng, self.n_null, self.min_shift, seg_len) if null and tested else None
        n_ls = len(self.listeners)
        segs, labels = [], None
        for run in self.runs:
            X, labels = self.design(names, run)
            Y = np.concatenate([zscore(ls.eeg[run][: len(X)]) for ls in self.listeners], axis=1)
            if len(Y) < len(X):
                raise ValueError(f"run {run}: EEG has {len(Y)} samples, the stimulus {len(X)}")
            segs += split_segments(X, Y, run, self.segments_per_run)
        n_base = sum(1 for lb in labels if lb.split("[")[0] in base)
        trf = CircularTRF(segs, self.n_lags)
        idx = list(range(len(labels)))
        shift_sets = None if shifts is None else [{i: int(s) for i in idx[n_base:]} for s in shifts]
        out = trf.cross_validate(idx, self.alphas, shift_sets)
        n_ch = out["r"].shape[0] // n_ls
        w = np.mean([w.reshape(len(labels), self.n_lags, n_ls, n_ch) for w in out["weights"].values()], axis=0)
        res = {"r": out["r"].reshape(n_ls, n_ch), "weights": w.transpose(2, 0, 1, 3), "labels": labels,
               "alphas": out["alphas"]}
        if shift_sets:
            res["r_null"] = out["r_null"].reshape(len(shift_sets), n_ls, n_ch)
        return res


def peak_lag(trf: np.ndarray, sfreq: float) -> float:
    """Lag (s) of the peak global field power of a TRF (lags x channels), over the interior lags: the first
    and last lag of a ridge TRF absorb whatever an autocorrelated stimulus explains outside the window."""
    gfp = np.sqrt((trf ** 2).mean(axis=1))
    if len(gfp) > 4:
        gfp = gfp.copy()
        gfp[[0, -1]] = -np.inf
    return float(np.argmax(gfp) / sfreq)


def analyse(study: EEGStudy, layers: list[int], sae_layer: int, screened: np.ndarray, base: list[str],
            top_set: int = 5, fdr_alpha: float = 0.05, channels: list[str] | None = None,
            progress: bool = True) -> dict[str, pd.DataFrame]:
    """Every model of the study; tidy tables.

    - ``channels``: representation, layer, feature, listener ('mean' = across listeners), channel, r,
      r_base, gain, p, q, significant — for the envelope alone, the acoustic base, dense PCs per layer,
      every screened SAE feature, and the top set.
    - ``features``: per screened feature, the mean gain over channels and listeners, its permutation p,
      FDR q across features, rank, TRF peak lag.
    - ``layers``: per layer, the mean r over channels of base + PCs, gain over the base, p, q.
    - ``trfs``: lag x channel TRF weights (first-fold mean, standardised units) for the base and top features.
    """
    chan = channels or [f"ch{i}" for i in range(next(iter(study.listeners[0].eeg.values())).shape[1])]
    rows, layer_rows, feat_rows, trf_rows = [], [], [], []

    def add_rows(rep, layer, feature, res, r_base):
        r = res["r"]
        mean_r = r.mean(0)
        gain = mean_r - (r_base.mean(0) if r_base is not None else 0.0)
        if "r_null" in res:
            null_gain = res["r_null"].mean(1) - (r_base.mean(0)[None] if r_base is not None else 0.0)
            p, p_perm = _gauss_p(gain, null_gain), _perm_p(gain, null_gain)
            reject, q = bh_fdr(p, fdr_alpha)
            reject &= gain > 0  # above its null and an actual improvement of the held-out prediction
            null95 = np.quantile(null_gain, 0.95, axis=0)
        else:
            p = q = p_perm = null95 = np.full(len(chan), np.nan)
            reject = np.zeros(len(chan), bool)
        for ci, ch in enumerate(chan):
            rows.append(dict(representation=rep, layer=layer, feature=feature, listener="mean", channel=ch,
                             r=mean_r[ci], gain=gain[ci], null_gain_95=null95[ci], p=p[ci], p_perm=p_perm[ci],
                             q=q[ci], significant=bool(reject[ci])))
            for li, ls in enumerate(study.listeners):
                rows.append(dict(representation=rep, layer=layer, feature=feature, listener=ls.name, channel=ch,
                                 r=r[li, ci], gain=np.nan, null_gain_95=np.nan, p=np.nan, p_perm=np.nan, q=np.nan,
                                 significant=False))

    def add_trf(rep, feature, res, label):
        w = res["weights"].mean(0)  # listeners averaged: (columns, lags, channels)
        k = res["labels"].index(label)
        for lag in range(study.n_lags):
            for ci, ch in enumerate(chan):
                trf_rows.append(dict(representation=rep, feature=feature, column=label, lag_s=lag / study.sfreq,
                                     channel=ch, weight=w[k, lag, ci]))

    env = study.model([], ["envelope"])
    add_rows("envelope", np.nan, "", env, None)
    add_trf("envelope", "", env, "envelope")
    base_res = study.model([], base) if base != ["envelope"] else env
    if base != ["envelope"]:
        add_rows("acoustic", np.nan, "", base_res, None)
    r_base = base_res["r"]
    for L in tqdm(layers, desc="EEG: dense layers", disable=not progress):
        res = study.model(base, [f"pcs{L}"])
        add_rows("dense_pcs", L, "", res, r_base)
        gain = res["r"].mean(0).mean() - r_base.mean(0).mean()
        null_gain = res["r_null"].mean(1).mean(1) - r_base.mean(0).mean()
        layer_rows.append(dict(layer=L, r=res["r"].mean(0).mean(), r_base=r_base.mean(0).mean(), gain=gain,
                               p=float(_gauss_p(gain, null_gain)), p_perm=float(_perm_p(gain, null_gain)),
                               null_gain_mean=float(null_gain.mean()),
                               null_gain_95=float(np.quantile(null_gain, 0.95))))
    feat_res = {}
    for f in tqdm(screened, desc="EEG: SAE features", disable=not progress):
        name = f"sae{int(f)}"
        res = study.model(base, [name])
        feat_res[int(f)] = res
        gain_ch = res["r"].mean(0) - r_base.mean(0)
        null_ch = res["r_null"].mean(1) - r_base.mean(0)[None]
        gain, null_gain = gain_ch.mean(), null_ch.mean(1)
        w = res["weights"].mean(0)[res["labels"].index(name)]
        feat_rows.append(dict(layer=sae_layer, feature=int(f), gain=gain, max_channel_gain=gain_ch.max(),
                              p=float(_gauss_p(gain, null_gain)), p_perm=float(_perm_p(gain, null_gain)),
                              null_gain_mean=float(null_gain.mean()),
                              null_gain_95=float(np.quantile(null_gain, 0.95)),
                              peak_lag_s=peak_lag(w, study.sfreq)))
    features = pd.DataFrame(feat_rows)
    if len(features):
        reject, q = bh_fdr(features["p"].to_numpy(), fdr_alpha)
        features["q"], features["significant"] = q, reject & (features["gain"].to_numpy() > 0)
        features = features.sort_values("gain", ascending=False, kind="stable").reset_index(drop=True)
        features["rank"] = np.arange(1, len(features) + 1)
        top = features["feature"].head(top_set).tolist()
        for f in top:
            add_rows("sae_feature", sae_layer, str(f), feat_res[f], r_base)
            add_trf("sae_feature", str(f), feat_res[f], f"sae{f}")
        res = study.model(base, [f"sae{f}" for f in top])
        add_rows("sae_top_set", sae_layer, "+".join(map(str, top)), res, r_base)
    layer_table = pd.DataFrame(layer_rows)
    if len(layer_table):
        reject, layer_table["q"] = bh_fdr(layer_table["p"].to_numpy(), fdr_alpha)
        layer_table["significant"] = reject & (layer_table["gain"].to_numpy() > 0)
    return {"channels": pd.DataFrame(rows), "features": features, "layers": layer_table, "trfs": pd.DataFrame(trf_rows)}
