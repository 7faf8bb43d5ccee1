"""Offline speech corpus: sentences rendered by eSpeak NG (PyPI ``espeakng-loader``) through ctypes.

Several speakers (eSpeak voice variants f1-f5, m1-m7 with their own pitch and rate), each speaking
every sentence normally and whispered (variants ``whisperf`` / ``whisper`` at the speaker's pitch and
rate), resampled from eSpeak's 22.05 kHz int16 to the corpus rate (16 kHz by default).
Labels: speech, whispered, speaker, gender, transcript, sound_class; speakers are held out for test.
"""
from __future__ import annotations

import ctypes
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from .audio import resample
from .splits import group_split
from ..io import write_csv
from .audio import write_wav

AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_RATE, ESPEAK_PITCH = 1, 3
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_LOCK = threading.Lock()
_ENGINE: dict = {}

SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
)


@dataclass(frozen=True)
class Speaker:
    name: str  # eSpeak variant, e.g. 'f3' or 'm2'
    gender: str
    pitch: int  # eSpeak pitch 0-100
    rate: int  # words per minute


def default_speakers() -> list[Speaker]:
    female = [Speaker(f"f{i}", "female", 55 + 6 * i, 150 + 8 * i) for i in range(1, 6)]
    male = [Speaker(f"m{i}", "male", 25 + 5 * i, 145 + 7 * i) for i in range(1, 8)]
    return female + male


def speaker_from_name(name: str) -> Speaker:
    for speaker in default_speakers():
        if speaker.name == name:
            return speaker
    raise ValueError(f"unknown speaker {name!r}; choose from {[s.name for s in default_speakers()]}")


def _engine():
    """Load and initialise libespeak-ng once per process."""
    if not _ENGINE:
        try:
            import espeakng_loader
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise ImportError("speech_synth needs the PyPI package espeakng-loader (pip install espeakng-loader)") from exc
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p]
        rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
        if rate <= 0:
            raise RuntimeError("eSpeak NG failed to initialise")
        chunks: list[np.ndarray] = []

        def collect(wav, n, _events):
            if n > 0:
                chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0

        callback = _CALLBACK(collect)
        lib.espeak_SetSynthCallback(callback)
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        _ENGINE.update(lib=lib, rate=rate, chunks=chunks, callback=callback)  # keep the callback alive
    return _ENGINE


def speak(text: str, speaker: Speaker, whispered: bool = False, language: str = "en-us") -> tuple[np.ndarray, int]:
    """Render ``text``; returns (float32 audio in [-1, 1], eSpeak's sample rate, 22050)."""
    with _LOCK:
        engine = _engine()
        lib = engine["lib"]
        variant = ("whisperf" if speaker.gender == "female" else "whisper") if whispered else speaker.name
        voice = f"{language}+{variant}"
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"eSpeak NG has no voice {voice!r}")
        lib.espeak_SetParameter(ESPEAK_RATE, speaker.rate, 0)
        lib.espeak_SetParameter(ESPEAK_PITCH, speaker.pitch, 0)
        # eSpeak draws the noise of whispered and breathy voices from a generator seeded per process; seed it per
        # utterance so that the same text and voice give the same audio in every run.
        lib.espeak_ng_SetRandSeed(zlib.crc32(f"{voice}|{speaker.rate}|{speaker.pitch}|{text}".encode()))
        engine["chunks"].clear()
        data = text.encode()
        status = lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, 0, None, None)
        if status != 0 or not engine["chunks"]:
            raise RuntimeError(f"eSpeak NG could not render {text!r} with {voice} (status {status})")
        audio = np.concatenate(engine["chunks"]).astype(np.float32) / 32768.0
        return audio, engine["rate"]


def _normalise(audio: np.ndarray, loudness_db: float) -> np.ndarray:
    voiced = audio[np.abs(audio) > 1e-4]
    rms = np.sqrt(np.mean((voiced if voiced.size else audio) ** 2)) + 1e-12
    out = audio * (10 ** (loudness_db / 20) / rms)
    peak = np.abs(out).max()
    return (out / peak * 0.99 if peak > 0.99 else out).astype(np.float32)


def generate_speech_corpus(root: Path, speakers: list[str] | None = None, n_sentences: int = 10,
                           sentences: list[str] | None = None, whisper: bool = True,
                           sample_rate: int = 16000, seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """Write ``root/audio/<speaker>/<speaker>_<style>_<nn>.wav`` and ``root/ground_truth.csv``."""
    root = Path(root)
    chosen = [speaker_from_name(s) for s in speakers] if speakers else default_speakers()
    texts = list(sentences) if sentences else list(SENTENCES[:n_sentences])
    styles = ["normal", "whispered"] if whisper else ["normal"]
    rows = []
    jobs = [(sp, style, i, text) for sp in chosen for style in styles for i, text in enumerate(texts)]
    for speaker, style, i, text in tqdm(jobs, desc="speaking (eSpeak NG)", unit="utt", disable=not progress):
        audio, rate = speak(text, speaker, whispered=style == "whispered")
        rng = np.random.default_rng([seed, ord(speaker.name[0]), int(speaker.name[1:]), i, len(style)])
        audio = _normalise(resample(audio, rate, sample_rate), float(rng.uniform(-28.0, -20.0)))
        path = f"audio/{speaker.name}/{speaker.name}_{style}_{i:02d}.wav"
        write_wav(root / path, audio, sample_rate)
        rows.append(dict(path=path, speech="speech", whispered=style == "whispered", speaker=speaker.name,
                         gender=speaker.gender, sound_class="whispered_speech" if style == "whispered" else "speech",
                         transcript=text, duration_s=len(audio) / sample_rate))
    table = pd.DataFrame(rows)
    write_csv(table, root / "ground_truth.csv", float_format=None)
    return table


def speech_clip_table(root: Path, test_speakers: list[str] | None, test_fraction: float, valid_fraction: float,
                      seed: int) -> pd.DataFrame:
    table = pd.read_csv(Path(root) / "ground_truth.csv", keep_default_na=False)
    table.insert(0, "id", table["path"].map(lambda p: Path(p).stem))
    table["split"] = group_split(table, "speaker", valid_fraction, test_fraction, seed, test_speakers)
    return table
