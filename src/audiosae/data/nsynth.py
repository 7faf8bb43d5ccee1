"""NSynth test split (magenta): 4096 four-second notes at 16 kHz with pitch, velocity, instrument labels.

Layout: nsynth-test/examples.json (note_str -> {pitch, velocity, instrument_str,
instrument_family_str, instrument_source_str, qualities_str, ...}) and nsynth-test/audio/<note_str>.wav.
The archive is the standard test split; inside it, instruments are split into train/valid/test
(instrument-disjoint, as NSynth's own splits keep instruments apart).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .download import Source
from .splits import group_split

AUDIO_DIR = "nsynth-test"
# No checksum is published with the archive; set datasets.<name>.md5 or sha256 to pin the copy you
# trust. This default is the sha256 recorded by the project (see config/paper.yaml).
SOURCE_URL = "https://download.magenta.tensorflow.org/datasets/nsynth/nsynth-test.jsonwav.tar.gz"
SOURCE_FILENAME = "nsynth-test.jsonwav.tar.gz"


def is_root(folder: Path) -> bool:
    return (folder / "examples.json").is_file() and (folder / "audio").is_dir()


def clip_table(root: Path, opts: dict, seed: int) -> pd.DataFrame:
    root = Path(root)
    examples = json.loads((root / AUDIO_DIR / "examples.json").read_text())
    rows = []
    for note, ex in sorted(examples.items()):
        pitch = int(ex["pitch"])
        rows.append(dict(
            id=note, path=f"{AUDIO_DIR}/audio/{note}.wav", pitch=pitch,
            f0_hz=float(440.0 * 2 ** ((pitch - 69) / 12)), velocity=int(ex["velocity"]),
            instrument=str(ex["instrument_str"]), instrument_family=str(ex["instrument_family_str"]),
            instrument_source=str(ex["instrument_source_str"]),
            qualities=";".join(ex.get("qualities_str", [])), speech="non-speech", transcript="",
        ))
    table = pd.DataFrame(rows)
    table["pitch_class"] = (table["pitch"] % 12).map(lambda k: ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"][k])
    table["split"] = group_split(table, "instrument", opts["valid_fraction"], opts["test_fraction"], seed)
    listed = set(examples)
    table.attrs["unlisted"] = sorted(f"{AUDIO_DIR}/audio/{p.name}" for p in (root / AUDIO_DIR / "audio").glob("*.wav")
                                     if p.stem not in listed)
    return table


def write_miniature(folder: Path, seed: int = 0, scale: int = 1) -> Path:
    """nsynth-test/ with 6 notes of 3 instruments in the real layout, for tests; ``scale`` > 1 gives each family
    ``scale`` instruments (the full study's rehearsal needs every family in every instrument-disjoint split)."""
    import soundfile as sf

    base = Path(folder) / "nsynth-test"
    (base / "audio").mkdir(parents=True, exist_ok=True)
    examples = {}
    t = np.arange(8000) / 16000
    families = (("keyboard", "acoustic"), ("organ", "electronic"), ("guitar", "synthetic"))
    for i, (family, source) in enumerate(families * scale):
        for pitch, velocity in ((60, 25), (69, 127)):
            inst = f"{family}_{source}_{i:03d}"
            note = f"{inst}-{pitch:03d}-{velocity:03d}"
            f0 = 440.0 * 2 ** ((pitch - 69) / 12)
            sf.write(base / "audio" / f"{note}.wav", (0.3 * np.sin(2 * np.pi * f0 * t)).astype("float32"), 16000, subtype="PCM_16")
            examples[note] = dict(note_str=note, pitch=pitch, velocity=velocity, sample_rate=16000, instrument_str=inst,
                                  instrument=i, instrument_family_str=family, instrument_family=i % len(families),
                                  instrument_source_str=source, instrument_source=i % len(families), qualities_str=["bright"],
                                  qualities=[1] + [0] * 9, note=1000 + i)
    (base / "examples.json").write_text(json.dumps(examples, indent=2))
    return base
