"""ESC-50 (github karoldvl/ESC-50, master.zip): 2000 five-second clips, 50 classes, 5 folds.

Layout: ESC-50-master/audio/<fold>-<freesound id>-<take>-<target>.wav and
ESC-50-master/meta/esc50.csv (filename, fold, target, category, esc10, src_file, take).
The standard protocol is 5-fold cross-validation by the given folds; here one fold is the test
split and another the validation split (defaults 5 and 4), the rest train.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .download import Source

AUDIO_DIR = "ESC-50"
SOURCE = Source(
    url="https://github.com/karoldvl/ESC-50/archive/master.zip",
    filename="ESC-50-master.zip",
    md5="7771e4b9d86d0945acce719c7a59305a",
)


def is_root(folder: Path) -> bool:
    return (folder / "meta" / "esc50.csv").is_file() and (folder / "audio").is_dir()


def clip_table(root: Path, opts: dict, seed: int) -> pd.DataFrame:
    root = Path(root)
    meta = pd.read_csv(root / AUDIO_DIR / "meta" / "esc50.csv")
    test_fold, valid_fold = int(opts["test_fold"]), int(opts["valid_fold"])
    table = pd.DataFrame({
        "id": meta["filename"].str.replace(".wav", "", regex=False),
        "path": [f"{AUDIO_DIR}/audio/{f}" for f in meta["filename"]],
        "split": ["test" if f == test_fold else "valid" if f == valid_fold else "train" for f in meta["fold"]],
        "sound_class": meta["category"].astype(str),
        "target": meta["target"].astype(int),
        "fold": meta["fold"].astype(int),
        "esc10": meta["esc10"].astype(bool),
        "speech": "non-speech",
        "transcript": "",
    })
    listed = set(meta["filename"])
    table.attrs["unlisted"] = sorted(f"{AUDIO_DIR}/audio/{p.name}" for p in (root / AUDIO_DIR / "audio").glob("*.wav")
                                     if p.name not in listed)
    return table


def write_miniature(folder: Path, seed: int = 0, scale: int = 1) -> Path:
    """ESC-50-master/ with 10 clips (2 per fold, 2 classes) in the real layout, for tests; ``scale`` > 1 gives each
    fold and class ``scale`` takes (A, B, ...), as the full study's rehearsal needs a few clips per class and split."""
    import numpy as np
    import soundfile as sf

    base = Path(folder) / "ESC-50-master"
    (base / "audio").mkdir(parents=True, exist_ok=True)
    (base / "meta").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for fold in range(1, 6):
        for target, category in ((0, "dog"), (10, "rain")):
            for take in "ABCDEFGH"[:scale]:
                name = f"{fold}-{100032 + fold * 7 + target}-{take}-{target}.wav"
                sf.write(base / "audio" / name, (0.1 * rng.standard_normal(44100 // 4)).astype("float32"), 44100,
                         subtype="PCM_16")
                rows.append(dict(filename=name, fold=fold, target=target, category=category, esc10=target == 0,
                                 src_file=100032 + fold, take=take))
    pd.DataFrame(rows).to_csv(base / "meta" / "esc50.csv", index=False)
    (base / "README.md").write_text("ESC-50 miniature\n")
    return base
