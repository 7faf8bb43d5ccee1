"""LibriSpeech test-clean (openslr 12): 16 kHz FLAC with transcripts.

Layout: LibriSpeech/test-clean/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac beside
<speaker>-<chapter>.trans.txt ("<utt id> TRANSCRIPT" per line); LibriSpeech/SPEAKERS.TXT gives
each reader's sex (lines "ID | SEX | SUBSET | MINUTES | NAME", comments start with ';').
test-clean is the standard test set; inside it, speakers are split into train/valid/test
(speaker-disjoint) so that probes are scored on unseen speakers.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .download import Source
from .splits import group_split

AUDIO_DIR = "LibriSpeech"
SOURCE = Source(
    url="https://www.openslr.org/resources/12/test-clean.tar.gz",
    filename="test-clean.tar.gz",
    sha256="39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23",
)


def is_root(folder: Path) -> bool:
    return folder.name == "LibriSpeech" and any(folder.glob("*/*/*/*.trans.txt"))


def read_speakers(path: Path) -> dict[str, str]:
    """Speaker id -> 'female'/'male' from SPEAKERS.TXT."""
    sexes = {}
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(";") or "|" not in line:
            continue
        fields = [f.strip() for f in line.split("|")]
        if len(fields) >= 2 and fields[1] in ("F", "M"):
            sexes[fields[0]] = "female" if fields[1] == "F" else "male"
    return sexes


def parse(root: Path, subset: str = "test-clean") -> pd.DataFrame:
    root = Path(root)
    base = root / AUDIO_DIR
    sexes = read_speakers(base / "SPEAKERS.TXT") if (base / "SPEAKERS.TXT").exists() else {}
    rows = []
    for trans in sorted((base / subset).glob("*/*/*.trans.txt")):
        for line in trans.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            utt, _, text = line.partition(" ")
            speaker, chapter, _ = utt.split("-")
            audio = trans.parent / f"{utt}.flac"
            rows.append(dict(id=utt, path=audio.relative_to(root).as_posix(), speaker=speaker,
                             gender=sexes.get(speaker, ""), chapter=chapter, transcript=text.strip(),
                             speech="speech", subset=subset))
    if not rows:
        raise FileNotFoundError(f"{base / subset}: no transcripts (*.trans.txt) found")
    table = pd.DataFrame(rows)
    listed = set(table["path"])
    unlisted = sorted(p.relative_to(root).as_posix() for p in (base / subset).glob("*/*/*.flac")
                      if p.relative_to(root).as_posix() not in listed)
    table.attrs["unlisted"] = unlisted  # audio without a transcript line: reported as missing labels
    return table


def clip_table(root: Path, opts: dict, seed: int) -> pd.DataFrame:
    table = parse(root, opts.get("subset", "test-clean"))
    table["split"] = group_split(table, "speaker", opts["valid_fraction"], opts["test_fraction"], seed)
    return table


def write_miniature(folder: Path, seed: int = 0, scale: int = 1) -> Path:
    """A tiny LibriSpeech tree (3 speakers, 2 utterances each) in the real layout, for tests; ``scale`` > 1 adds
    4 (scale - 1) more speakers, half of each sex (the full study's rehearsal needs both sexes in every split)."""
    import numpy as np
    import soundfile as sf

    base = Path(folder) / "LibriSpeech"
    (base).mkdir(parents=True, exist_ok=True)
    (base / "SPEAKERS.TXT").write_text(
        "; Some comment\n;ID  |SEX| SUBSET           |MINUTES| NAME\n"
        "61   | M | test-clean       | 25.03 | Paul-Gabriel Wiener\n"
        "121  | F | test-clean       | 25.03 | Nikolle Doolin\n"
        "237  | F | test-clean       | 25.00 | Oliver Brown\n"
        + "".join(f"{1000 + i}  | {'MF'[i % 2]} | test-clean       | 25.00 | Reader {i}\n" for i in range(4 * (scale - 1))))
    rng = np.random.default_rng(seed)
    extra = [(str(1000 + i), str(2000 + i)) for i in range(4 * (scale - 1))]
    for speaker, chapter in (("61", "70968"), ("121", "121726"), ("237", "126133"), *extra):
        folder_ = base / "test-clean" / speaker / chapter
        folder_.mkdir(parents=True, exist_ok=True)
        lines = []
        for utt in range(2):
            uid = f"{speaker}-{chapter}-{utt:04d}"
            sf.write(folder_ / f"{uid}.flac", (0.1 * rng.standard_normal(8000)).astype("float32"), 16000, format="FLAC")
            lines.append(f"{uid} HE BEGAN A CONFUSED COMPLAINT {utt}")
        (folder_ / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return base
