"""4. Forward TRFs with circular lags (:class:`CircularTRF`), the circular shifts of its null, and the
``mne.decoding.ReceptiveField`` reference fit (:func:`mne_trf`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _xcorr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Circular cross-correlation: out[k, i, j] = sum_u a[u, i] b[(u + k) % n, j]."""
    fa = np.fft.rfft(a, axis=0)
    fb = np.fft.rfft(b, axis=0)
    return np.fft.irfft(np.conj(fa)[:, :, None] * fb[:, None, :], n=a.shape[0], axis=0)


@dataclass
class Segment:
    """Circular sufficient statistics of one stretch of data (one CV unit)."""

    fold: int  # the run it belongs to (outer CV unit)
    n: int
    rxx: np.ndarray  # (n, p, p) feature auto/cross-correlation at every circular lag
    rxy: np.ndarray  # (n, p, c) feature -> EEG cross-correlation at every circular lag
    yy: np.ndarray  # (c,) EEG energy


def make_segment(x: np.ndarray, y: np.ndarray, fold: int) -> Segment:
    """``x``: (n, p) features; ``y``: (n, c) EEG; both centred here."""
    x = x - x.mean(0)
    y = y - y.mean(0)
    return Segment(fold, len(x), _xcorr(x, x), _xcorr(x, y), (y ** 2).sum(0))


def split_segments(x: np.ndarray, y: np.ndarray, fold: int, n_parts: int) -> list[Segment]:
    edges = np.linspace(0, len(x), n_parts + 1).astype(int)
    return [make_segment(x[a:b], y[a:b], fold) for a, b in zip(edges[:-1], edges[1:])]


class CircularTRF:
    """Ridge TRFs (lags 0..n_lags-1 samples) from segment statistics, with circular shifts of chosen features.

    Within a segment the lagged design is circular: column (i, a) is x_i((t - a) mod n). Then
    G[(i,a),(j,b)] = Rxx_ij(a - b) and B[(i,a),c] = Rxy_ic(a); shifting feature i by s samples turns
    these into Rxx_ij(a - b + s) (i shifted, j not) and Rxy_ic(a + s), so every shift is a slice.
    """

    def __init__(self, segments: list[Segment], n_lags: int):
        self.segments = segments
        self.L = n_lags
        a = np.arange(n_lags)
        self.dlag = a[:, None] - a[None, :]  # a - b

    def gram(self, seg: Segment, feats: list[int], shifts: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
        L, n = self.L, seg.n
        p = len(feats)
        G = np.empty((p * L, p * L))
        B = np.empty((p * L, seg.rxy.shape[2]))
        a = np.arange(L)
        for ii, i in enumerate(feats):
            si = shifts.get(i, 0)
            B[ii * L : (ii + 1) * L] = seg.rxy[(a + si) % n, i, :]
            for jj, j in enumerate(feats):
                sj = shifts.get(j, 0)
                # sum_t x_i(t - si - a) x_j(t - sj - b) = Rxx_ij(a - b + si - sj)
                G[ii * L : (ii + 1) * L, jj * L : (jj + 1) * L] = seg.rxx[(self.dlag + si - sj) % n, i, j]
        return G, B

    def stats(self, segs: list[Segment], feats, shifts):
        G = B = yy = None
        for seg in segs:
            g, b = self.gram(seg, feats, shifts.get(id(seg), {}) if shifts else {})
            G = g if G is None else G + g
            B = b if B is None else B + b
            yy = seg.yy.copy() if yy is None else yy + seg.yy
        return G, B, yy

    @staticmethod
    def solve(G: np.ndarray, B: np.ndarray, alphas: np.ndarray) -> list[np.ndarray]:
        """Ridge weights for each alpha (relative to the mean diagonal of G)."""
        s, V = np.linalg.eigh(G)
        VB = V.T @ B
        scale = np.trace(G) / len(G)
        return [V @ (VB / (s + a * scale)[:, None]) for a in alphas]

    @staticmethod
    def solve_one(G: np.ndarray, B: np.ndarray, alpha: float) -> np.ndarray:
        from scipy.linalg import solve

        scale = np.trace(G) / len(G)
        return solve(G + alpha * scale * np.eye(len(G)), B, assume_a="pos", check_finite=False)

    @staticmethod
    def score(W: np.ndarray, G: np.ndarray, B: np.ndarray, yy: np.ndarray) -> np.ndarray:
        """Pearson r per channel of the prediction X W with y, from the test statistics."""
        num = (W * B).sum(0)
        var = ((G @ W) * W).sum(0)
        return num / np.sqrt(np.maximum(var * yy, 1e-300))

    def cross_validate(self, feats: list[int], alphas: np.ndarray, shift_sets: list[dict] | None = None,
                       fixed_alpha: dict | None = None) -> dict:
        """Held-out r per channel with runs as outer folds.

        Without ``fixed_alpha`` the alpha of each outer fold is chosen by leave-one-segment-out CV over the
        training segments (mean r over channels). ``shift_sets``: a list of {feature: shift} per null draw,
        scored with the alphas chosen on the unshifted data. Returns r (channels,), alphas per fold,
        weights per fold, and r_null (draws x channels) when asked.
        """
        folds = sorted({s.fold for s in self.segments})
        if len(folds) < 2:
            raise ValueError("the TRF cross-validation needs at least two runs")
        if fixed_alpha is None and min(sum(s.fold != f for s in self.segments) for f in folds) < 2:
            raise ValueError("choosing the TRF's alpha leaves one training segment out of each fold: it needs two "
                             "training segments per fold (three runs, or two segments per run)")
        r_sum, chosen, weights = 0.0, {}, {}
        null_sum = None
        for f in folds:
            train = [s for s in self.segments if s.fold != f]
            test = [s for s in self.segments if s.fold == f]
            if fixed_alpha is not None:
                alpha = fixed_alpha[f]
            else:
                inner = np.zeros(len(alphas))
                for k in range(len(train)):
                    fit = [s for i, s in enumerate(train) if i != k]
                    G, B, _ = self.stats(fit, feats, None)
                    Gt, Bt, yt = self.stats([train[k]], feats, None)
                    for ai, W in enumerate(self.solve(G, B, alphas)):
                        inner[ai] += np.nanmean(self.score(W, Gt, Bt, yt))
                alpha = float(alphas[int(np.argmax(inner))])
            chosen[f] = alpha
            G, B, _ = self.stats(train, feats, None)
            W = self.solve_one(G, B, alpha)
            weights[f] = W
            Gt, Bt, yt = self.stats(test, feats, None)
            r_sum = r_sum + self.score(W, Gt, Bt, yt)
            if shift_sets:
                rows = []
                for shifts in shift_sets:
                    per_seg = {id(s): {i: shifts[i] % s.n for i in shifts} for s in self.segments}
                    G, B, _ = self.stats(train, feats, per_seg)
                    Wn = self.solve_one(G, B, alpha)
                    Gt, Bt, yt = self.stats(test, feats, per_seg)
                    rows.append(self.score(Wn, Gt, Bt, yt))
                null_sum = np.array(rows) if null_sum is None else null_sum + np.array(rows)
        out = {"r": r_sum / len(folds), "alphas": chosen, "weights": weights}
        if shift_sets:
            out["r_null"] = null_sum / len(folds)
        return out


def draw_shifts(rng: np.random.Generator, n_draws: int, min_samples: int, length: int) -> np.ndarray:
    """Circular shifts at least ``min_samples`` away from zero in both directions."""
    if length <= 2 * min_samples:
        raise ValueError(f"segments of {length} samples are too short for shifts of at least {min_samples}")
    return rng.integers(min_samples, length - min_samples, size=n_draws)


def mne_trf(X: np.ndarray, y: np.ndarray, sfreq: float, tmax: float, alpha: float):
    """Fit ``mne.decoding.ReceptiveField`` (ridge, lags 0..tmax) on runs stacked as epochs.

    ``X``: (samples, runs, features), ``y``: (samples, runs, channels); alpha relative to the mean diagonal
    of the lagged design's Gram matrix, as in :class:`CircularTRF`. Returns the fitted estimator.
    """
    from mne.decoding import ReceptiveField
    from sklearn.linear_model import Ridge

    scale = X.shape[0] * X.shape[1]  # z-scored features: the mean diagonal of the Gram matrix is the sample count
    rf = ReceptiveField(0.0, tmax, sfreq, estimator=Ridge(alpha=alpha * scale), scoring="corrcoef")
    return rf.fit(X, y)
