"""Small log-mel spectrogram images with a feature's activation drawn over them, without matplotlib figures.

Hundreds of these are written per study, so they are rasterised directly into an 8-bit palette PNG
(magma colours, one reserved index for the activation trace and one for the gaps between clips):
a few milliseconds and a few kilobytes each. The image holds data only, one pixel per mel band and 10 ms;
the page draws its axes as text beside it (:func:`frequency_ticks` says where each frequency sits), so that
the labels stay sharp and readable however wide the panel makes the image.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

SAMPLE_RATE = 16000
HOP = 160  # 10 ms columns
N_FFT = 400  # 25 ms, as Whisper's front end
N_MELS = 64
FMIN = 40.0
TICK_HZ = (250, 500, 1000, 2000, 4000, 8000)  # candidate frequency-axis ticks (those inside the image are kept)
TRACE, GAP = 255, 254  # palette indices
GAP_PX = 3


def mel(f):
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=float) / 700.0)


def hz(m):
    return 700.0 * (10 ** (np.asarray(m, dtype=float) / 2595.0) - 1.0)


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS, fmin: float = FMIN, fmax: float | None = None) -> np.ndarray:
    """Triangular filters evenly spaced on the mel scale (HTK formula), shape (n_mels, n_fft // 2 + 1)."""
    fmax = fmax or sr / 2
    edges = hz(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))


def band_position(freq_hz: float, sr: int = SAMPLE_RATE, n_mels: int = N_MELS, fmin: float = FMIN, fmax: float | None = None) -> float:
    """Height of a frequency in a :func:`feature_strip` image, 0 = bottom edge, 1 = top edge: band i (0 = lowest)
    fills rows [i, i + 1) from the bottom and peaks at its centre frequency, the (i + 1)-th of the n_mels + 2
    band edges of :func:`mel_filterbank`."""
    fmax = fmax or sr / 2
    step = (mel(fmax) - mel(fmin)) / (n_mels + 1)
    band = (mel(freq_hz) - mel(fmin)) / step - 1.0  # fractional band index whose centre is freq_hz
    return float((band + 0.5) / n_mels)


def frequency_ticks(sr: int = SAMPLE_RATE, n_mels: int = N_MELS, fmin: float = FMIN, fmax: float | None = None) -> list[dict]:
    """The frequency axis of a strip: ``{"hz", "label", "y"}`` (y as in :func:`band_position`) for the round
    frequencies of :data:`TICK_HZ` that fall inside the image, lowest first; labels in Hz, "1k" for 1000."""
    ticks = []
    for f in TICK_HZ:
        y = band_position(f, sr, n_mels, fmin, fmax)
        if 0.0 <= y <= 1.0:
            ticks.append({"hz": f, "label": f"{f // 1000}k" if f >= 1000 else str(f), "y": round(y, 4)})
    return ticks


_FB = mel_filterbank().astype(np.float32)
_WINDOW = np.hanning(N_FFT).astype(np.float32)


def log_mel(audio: np.ndarray) -> np.ndarray:
    """log10 mel power, shape (N_MELS, n_columns), one column per 10 ms."""
    audio = np.asarray(audio, dtype=np.float32)
    n_cols = max(1, len(audio) // HOP)
    padded = np.pad(audio, (N_FFT // 2, N_FFT // 2 + HOP))
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_cols)[:, None]
    spec = np.abs(np.fft.rfft(padded[idx] * _WINDOW, axis=1)).astype(np.float32) ** 2
    return np.log10(_FB @ spec.T + 1e-10)


@lru_cache(maxsize=1)
def palette() -> tuple[int, ...]:
    from matplotlib import colormaps

    lut = (colormaps["magma"](np.linspace(0, 1, 254))[:, :3] * 255).astype(np.uint8)
    pal = lut.reshape(-1).tolist()
    pal += [255, 255, 255]  # GAP
    pal += [0, 229, 255]  # TRACE (cyan)
    return tuple(pal)


def _draw_trace(img: np.ndarray, x0: int, width: int, activation: np.ndarray, vmax: float) -> None:
    """Polyline of activation (one value per model frame) across ``width`` columns from ``x0``."""
    h = img.shape[0]
    if len(activation) == 0 or width <= 0:
        return
    cols = np.minimum((np.arange(width) * len(activation) / width).astype(int), len(activation) - 1)
    level = np.clip(activation[cols] / vmax, 0, 1) if vmax > 0 else np.zeros(width)
    ys = (h - 2 - np.round(level * (h - 4))).astype(int)
    for i in range(width):
        y_prev = ys[i - 1] if i else ys[i]
        top, bottom = min(y_prev, ys[i]), max(y_prev, ys[i])
        img[top : bottom + 1, x0 + i] = TRACE
        img[min(ys[i] + 1, h - 1), x0 + i] = TRACE  # 2 px thick


def feature_strip(snippets: list[np.ndarray], activations: list[np.ndarray], out: str | Path) -> list[tuple[int, int]]:
    """One PNG: the snippets' spectrograms side by side, each with its activation trace (common scale).

    Returns the pixel column range (start, stop) of each snippet, for labels in the page.
    """
    specs = [log_mel(a)[::-1] for a in snippets]  # low frequencies at the bottom
    allv = np.concatenate([s.ravel() for s in specs])
    lo, hi = np.percentile(allv, [5, 99.5])
    vmax = max((float(np.max(a)) for a in activations if len(a)), default=0.0)
    width = sum(s.shape[1] for s in specs) + GAP_PX * (len(specs) - 1)
    img = np.full((N_MELS, max(width, 1)), GAP, dtype=np.uint8)
    spans, x = [], 0
    for spec, act in zip(specs, activations):
        w = spec.shape[1]
        img[:, x : x + w] = np.clip((spec - lo) / max(hi - lo, 1e-6) * 253, 0, 253).astype(np.uint8)
        _draw_trace(img, x, w, np.asarray(act, dtype=float), vmax)
        spans.append((x, x + w))
        x += w + GAP_PX
    pil = Image.fromarray(img, mode="P")
    pil.putpalette(list(palette()))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    pil.save(out, optimize=True)
    return spans
