"""Offline non-speech corpus: coloured noises, tones, chords, note sequences, clicks, textures,
silence and laughter-like bursts. Every sound is made by numpy from a per-clip random stream.

Labels: speech ('non-speech'), whispered (False), speaker/gender (''), transcript ('' - the
correct transcript of non-speech is empty, which paper B's false-speech analysis relies on),
sound_class, and for tonal classes f0_hz.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import signal
from tqdm import tqdm

from . import synth
from .splits import stratified_split
from ..io import write_csv
from .audio import write_wav

SOUND_CLASSES = (
    "white_noise", "pink_noise", "brown_noise", "tone", "chord", "melody", "clicks",
    "rain", "wind", "engine", "silence", "laughter",
)


def _coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power ~ 1/f**exponent (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1] if n > 1 else 1.0
    return np.fft.irfft(spectrum / freqs ** (exponent / 2.0), n)


def _harmonic(f0: float, t: np.ndarray, n_harmonics: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    out = np.zeros_like(t)
    for h in range(1, n_harmonics + 1):
        if h * f0 < sr / 2:
            out += rng.uniform(0.3, 1.0) / h * np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 2 * np.pi))
    return out


def _note_envelope(n: int, sr: int, decay_s: float) -> np.ndarray:
    t = np.arange(n) / sr
    attack = np.minimum(1.0, t / 0.01)
    return attack * np.exp(-t / decay_s)


def render(sound_class: str, duration_s: float, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """(audio, f0_hz or NaN) of one clip of ``sound_class``, before loudness normalisation."""
    n = int(round(duration_s * sr))
    t = np.arange(n) / sr
    f0 = np.nan
    if sound_class.endswith("_noise"):
        exponent = {"white_noise": 0.0, "pink_noise": 1.0, "brown_noise": 2.0}[sound_class]
        audio = _coloured_noise(n, exponent, rng)
    elif sound_class == "tone":
        f0 = float(2 ** rng.uniform(np.log2(100), np.log2(2000)))
        audio = np.sin(2 * np.pi * f0 * t) * synth._fade_envelope(n, sr, 0.02, 0.05)
    elif sound_class == "chord":
        f0 = float(2 ** rng.uniform(np.log2(110), np.log2(440)))
        intervals = [0, 4, 7] if rng.random() < 0.5 else [0, 3, 7]  # major or minor triad
        audio = sum(_harmonic(f0 * 2 ** (i / 12), t, 6, rng, sr) for i in intervals)
        audio = audio * _note_envelope(n, sr, rng.uniform(0.8, 2.0))
    elif sound_class == "melody":
        scale = np.array([0, 2, 4, 5, 7, 9, 11, 12])
        f0 = float(2 ** rng.uniform(np.log2(196), np.log2(523)))
        note_s = rng.uniform(0.15, 0.35)
        audio = np.zeros(n)
        for start in range(0, n, int(note_s * sr)):
            m = min(int(note_s * sr), n - start)
            tt = np.arange(m) / sr
            freq = f0 * 2 ** (rng.choice(scale) / 12)
            audio[start:start + m] = _harmonic(freq, tt, 4, rng, sr) * _note_envelope(m, sr, note_s / 2)
    elif sound_class == "clicks":
        audio = np.zeros(n)
        rate = rng.uniform(2.0, 12.0)
        for k in np.unique((np.cumsum(rng.exponential(1 / rate, size=int(duration_s * rate * 3) + 2)) * sr).astype(int)):
            if k < n:
                m = min(int(0.003 * sr), n - k)
                audio[k:k + m] += rng.choice([-1, 1]) * np.exp(-np.arange(m) / (0.0005 * sr))
    elif sound_class == "rain":
        drops = (rng.random(n) < 200.0 / sr) * rng.standard_normal(n)
        drops = signal.lfilter([1.0], [1.0, -0.9], drops)
        hiss = signal.sosfilt(signal.butter(2, 2000, "highpass", fs=sr, output="sos"), rng.standard_normal(n))
        audio = drops + 0.3 * hiss
    elif sound_class == "wind":
        noise = _coloured_noise(n, 1.5, rng)
        gust = 0.6 + 0.4 * synth._smooth_noise(n, sr, 0.7, rng)
        audio = signal.sosfilt(signal.butter(2, [200, 1500], "bandpass", fs=sr, output="sos"), noise) * np.clip(gust, 0.1, None)
    elif sound_class == "engine":
        f0 = float(rng.uniform(25, 60))
        rumble = signal.sawtooth(2 * np.pi * f0 * t * (1 + 0.02 * synth._smooth_noise(n, sr, 0.5, rng)))
        audio = signal.sosfilt(signal.butter(4, 800, fs=sr, output="sos"), rumble + 0.3 * rng.standard_normal(n))
    elif sound_class == "silence":
        return 1e-4 * rng.standard_normal(n), f0  # a faint noise floor, -80 dBFS
    elif sound_class == "laughter":
        # 'ha ha ha': breathy voiced bursts at 4-6 per second with falling pitch, like a laugh.
        singer = synth.make_singer(f"{'f' if rng.random() < 0.5 else 'm'}{int(rng.integers(1, 10))}", int(rng.integers(1 << 30)))
        f0 = float(singer.speaking_f0_hz * 1.5)
        voice = synth.synthesize("breathy", "a", f0, -20.0, singer, duration_s, sr, rng).astype(float)
        rate = rng.uniform(4.0, 6.0)
        gate = synth._soft_square(2 * np.pi * rate * t, 4.0, bias=-0.2)
        audio = voice * gate * np.exp(-t / rng.uniform(1.0, 3.0))
    else:
        raise ValueError(f"unknown sound class {sound_class!r}; expected one of {SOUND_CLASSES}")
    return np.asarray(audio, dtype=float), f0


def generate_nonspeech_corpus(root: Path, classes: list[str] | None = None, clips_per_class: int = 10,
                              duration_s: float = 2.0, sample_rate: int = 16000, seed: int = 0,
                              progress: bool = True) -> pd.DataFrame:
    """Write ``root/audio/<class>/<class>_<nn>.wav`` and ``root/ground_truth.csv``."""
    root = Path(root)
    classes = list(classes or SOUND_CLASSES)
    rows = []
    jobs = [(c, i) for c in classes for i in range(clips_per_class)]
    for sound_class, i in tqdm(jobs, desc="synthesising non-speech", unit="clip", disable=not progress):
        if sound_class not in SOUND_CLASSES:
            raise ValueError(f"unknown sound class {sound_class!r}; expected one of {SOUND_CLASSES}")
        rng = np.random.default_rng([seed, SOUND_CLASSES.index(sound_class), i])
        audio, f0 = render(sound_class, duration_s, sample_rate, rng)
        if sound_class != "silence":
            loudness = float(rng.uniform(-30.0, -16.0))
            audio = audio / (np.sqrt(np.mean(audio**2)) + 1e-12) * 10 ** (loudness / 20)
            peak = np.abs(audio).max()
            audio = audio / peak * 0.99 if peak > 0.99 else audio
        path = f"audio/{sound_class}/{sound_class}_{i:02d}.wav"
        write_wav(root / path, audio.astype(np.float32), sample_rate)
        rows.append(dict(path=path, speech="non-speech", whispered=False, speaker="", gender="",
                         sound_class=sound_class, transcript="", f0_hz=f0, duration_s=duration_s))
    table = pd.DataFrame(rows)
    write_csv(table, root / "ground_truth.csv", float_format=None)
    return table


def nonspeech_clip_table(root: Path, test_fraction: float, valid_fraction: float, seed: int) -> pd.DataFrame:
    table = pd.read_csv(Path(root) / "ground_truth.csv", keep_default_na=False)
    table["f0_hz"] = pd.to_numeric(table["f0_hz"], errors="coerce")
    table.insert(0, "id", table["path"].map(lambda p: Path(p).stem))
    table["split"] = stratified_split(table, "sound_class", valid_fraction, test_fraction, seed)
    return table
