"""2. Stimulus features at the EEG rate: envelope, onsets, dense layer frames and SAE codes resampled from the
model's frame rate; variance screening of SAE latents and PCs of dense layers."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd
from scipy.signal import hilbert, resample_poly


def _ratio(target: float, source: float) -> Fraction:
    return Fraction(target).limit_denominator(1000) / Fraction(source).limit_denominator(1000)


def to_rate(x: np.ndarray, source_rate: float, target_rate: float, n: int | None = None) -> np.ndarray:
    """Resample along axis 0 (polyphase, anti-aliased), then crop or zero-pad to ``n`` samples."""
    x = np.asarray(x, dtype=np.float64)
    if source_rate != target_rate:
        r = _ratio(target_rate, source_rate)
        x = resample_poly(x, r.numerator, r.denominator, axis=0)
    if n is not None:
        if x.shape[0] >= n:
            x = x[:n]
        else:
            x = np.concatenate([x, np.zeros((n - x.shape[0],) + x.shape[1:])])
    return x


def envelope(audio: np.ndarray, sample_rate: int, sfreq: float, n: int | None = None) -> np.ndarray:
    """Broadband amplitude envelope (|Hilbert|, compressed by ^0.6) at ``sfreq``."""
    env = np.abs(hilbert(np.asarray(audio, dtype=np.float64))) ** 0.6
    return np.maximum(to_rate(env, sample_rate, sfreq, n), 0.0)


def onsets(env: np.ndarray, sfreq: float) -> np.ndarray:
    """Half-wave rectified temporal derivative of the envelope (acoustic onsets)."""
    return np.maximum(np.diff(env, prepend=env[:1]) * sfreq, 0.0)


def run_frames(acts, chunks: pd.DataFrame, layer: int, run: int) -> np.ndarray:
    """The frames of one run (its chunks in order) from an activation file."""
    index = {cid: i for i, cid in enumerate(acts.clip_ids)}
    offsets = acts.offsets
    part = chunks[chunks["run"] == run].sort_values("chunk")
    frames = acts.frames(layer)
    return np.concatenate([frames[slice(*offsets[index[cid]])] for cid in part["id"]]).astype(np.float32)


def encode_frames(sae, frames: np.ndarray, batch: int = 4096) -> np.ndarray:
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(frames), batch):
            out.append(sae.encode(torch.from_numpy(np.ascontiguousarray(frames[start : start + batch]))).numpy())
    return np.concatenate(out) if out else np.zeros((0, sae.d_sae), np.float32)


@dataclass
class RunFeatures:
    """Stimulus features of one run at one rate (all arrays: samples x features)."""

    run: int
    sfreq: float
    envelope: np.ndarray
    onsets: np.ndarray
    layers: dict  # layer -> dense frames resampled
    sae: np.ndarray | None  # SAE codes resampled (all latents)


def run_features(audio: np.ndarray, sample_rate: int, frames_by_layer: dict, frame_rate: float,
                 sae_codes: np.ndarray | None, sfreq: float, duration_s: float, run: int = 0) -> RunFeatures:
    n = int(round(duration_s * sfreq))
    env = envelope(audio, sample_rate, sfreq, n)
    layers = {L: to_rate(f, frame_rate, sfreq, n) for L, f in frames_by_layer.items()}
    codes = None if sae_codes is None else to_rate(sae_codes, frame_rate, sfreq, n)
    return RunFeatures(run, sfreq, env, onsets(env, sfreq), layers, codes)


def zscore(x: np.ndarray, axis: int = 0) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(axis=axis, keepdims=True)
    return (x - x.mean(axis=axis, keepdims=True)) / np.where(sd > 0, sd, 1.0)


def screen_features(codes_by_run: list[np.ndarray], top: int) -> np.ndarray:
    """Indices of the ``top`` SAE latents with the largest variance at the EEG rate (stimulus only, no EEG)."""
    var = np.concatenate(codes_by_run).var(axis=0)
    order = np.argsort(-var, kind="stable")
    return np.sort(order[: min(top, int((var > 0).sum()))])


def layer_pcs(frames_by_run: list[np.ndarray], n_pcs: int) -> list[np.ndarray]:
    """Scores of the first ``n_pcs`` principal components of a dense layer (fit on all runs' stimulus frames)."""
    allf = np.concatenate(frames_by_run)
    mean = allf.mean(0)
    _, _, vt = np.linalg.svd(allf - mean, full_matrices=False)
    comps = vt[:n_pcs].T
    return [(f - mean) @ comps for f in frames_by_run]
