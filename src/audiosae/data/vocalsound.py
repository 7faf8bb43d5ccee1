"""VocalSound 16 kHz release (github YuanGongND/vocalsound, vs_release_16k.zip): 21,024 recordings of
laughter, sighs, coughs, throat clearing, sneezes and sniffs from 3,365 speakers.

Layout: audio_16k/<f|m><speaker id>_<session>_<class>.wav; datafiles/{tr,val,te}.json (the
standard speaker-disjoint split, {"data": [{"wav": ..., "labels": ...}]}); meta/ (speaker
information). Splits come from the datafiles; class, speaker and gender from the file names.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

AUDIO_DIR = "vocalsound"
SOURCE_URL = "https://www.dropbox.com/s/c5ace70qh1vbyzb/vs_release_16k.zip?dl=1"
SOURCE_FILENAME = "vs_release_16k.zip"
CLASSES = ("laughter", "sigh", "cough", "throatclearing", "sneeze", "sniff")
_NAME = re.compile(r"^(?P<gender>[fm])(?P<speaker>\d+)_(?P<session>\d+)_(?P<label>[a-z]+)$")
_SPLIT_FILES = {"train": "tr.json", "valid": "val.json", "test": "te.json"}


def is_root(folder: Path) -> bool:
    return (folder / "audio_16k").is_dir() and (folder / "datafiles").is_dir()


def clip_table(root: Path, opts: dict, seed: int) -> pd.DataFrame:
    root = Path(root)
    base = root / AUDIO_DIR
    split_of = {}
    for split, name in _SPLIT_FILES.items():
        for entry in json.loads((base / "datafiles" / name).read_text())["data"]:
            split_of[Path(entry["wav"]).stem] = split
    rows = []
    for path in sorted((base / "audio_16k").glob("*.wav")):
        match = _NAME.match(path.stem)
        if match is None:
            raise ValueError(f"{path}: name is not <f|m><speaker>_<session>_<class>.wav")
        rows.append(dict(id=path.stem, path=path.relative_to(root).as_posix(), split=split_of.get(path.stem, ""),
                         sound_class=match["label"], speaker=f"{match['gender']}{match['speaker']}",
                         gender="female" if match["gender"] == "f" else "male", session=int(match["session"]),
                         speech="non-speech", transcript=""))
    table = pd.DataFrame(rows)
    unknown = sorted(set(table["sound_class"]) - set(CLASSES))
    if unknown:
        raise ValueError(f"{base}: unknown classes {unknown}")
    # Files in no split file have no standard split: listed in the report (missing label 'split').
    missing = table["split"] == ""
    table.attrs["unlisted"] = sorted(table.loc[missing, "path"])
    return table[~missing].reset_index(drop=True)


def write_miniature(folder: Path, seed: int = 0, scale: int = 1) -> Path:
    """The zip's content (audio_16k/, datafiles/, meta/) with 12 recordings of 4 speakers, for tests; ``scale`` > 1
    gives each speaker ``scale`` takes of each sound (the full study's rehearsal needs a few clips per class and split)."""
    import numpy as np
    import soundfile as sf

    base = Path(folder)
    (base / "audio_16k").mkdir(parents=True, exist_ok=True)
    (base / "datafiles").mkdir(parents=True, exist_ok=True)
    (base / "meta").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    speakers = {"train": ["f0003", "m0010"], "valid": ["f0020"], "test": ["m0042"]}
    for split, spks in speakers.items():
        data = []
        for spk in spks:
            for label in ("cough", "laughter", "sniff"):
                for take in range(scale):
                    name = f"{spk}_{take}_{label}.wav"
                    sf.write(base / "audio_16k" / name, (0.1 * rng.standard_normal(8000)).astype("float32"), 16000,
                             subtype="PCM_16")
                    data.append({"wav": f"/data/sls/scratch/vocalsound/audio_16k/{name}", "labels": f"/m/vs_{label}"})
        (base / "datafiles" / _SPLIT_FILES[split]).write_text(json.dumps({"data": data}, indent=1))
    (base / "class_labels_indices_vs.csv").write_text("index,mid,display_name\n" + "\n".join(
        f"{i},/m/vs_00{i},{c}" for i, c in enumerate(CLASSES)) + "\n")
    return base
