"""Reading audio for the models: mono float32 at the model's sample rate."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from ..io import atomic_path


class AudioError(ValueError):
    """An audio file that cannot be used; the message names the file."""


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    if orig_sr == target_sr:
        return audio.astype(np.float32, copy=False)
    ratio = Fraction(target_sr, orig_sr)
    return resample_poly(audio, ratio.numerator, ratio.denominator).astype(np.float32)


def load_audio(path: str | Path, target_sr: int, min_duration_s: float = 0.0) -> np.ndarray:
    """Load ``path`` as mono float32 at ``target_sr``; raise AudioError naming the file on bad input."""
    path = Path(path)
    try:
        audio, sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for unreadable files
        raise AudioError(f"{path}: cannot read audio ({exc})") from exc
    if audio.shape[0] == 0:
        raise AudioError(f"{path}: file holds no samples")
    audio = audio.mean(axis=1)
    if not np.all(np.isfinite(audio)):
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
    if audio.shape[0] / sr < min_duration_s:
        raise AudioError(f"{path}: {audio.shape[0] / sr:.3f} s is shorter than the minimum {min_duration_s} s")
    return resample(audio, sr, target_sr)


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """16-bit PCM WAV written beside ``path`` and renamed, so a killed run leaves no truncated file."""
    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(tmp, audio, sample_rate, subtype="PCM_16", format="WAV")
