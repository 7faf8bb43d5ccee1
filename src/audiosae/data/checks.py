"""Checks of every clip before any model sees it: unreadable, corrupt, empty or too-short audio,
odd sample rates, extra channels, missing labels.

Each problem is either an error that names the file (``on_bad_audio: error``, the default) or the
clip is left out of the clip table and listed in the dataset's report (``on_bad_audio: skip``).
Nothing is dropped silently: the report lists every clip left out, with the reason, and notes
the clips that are usable but converted (stereo downmixed, resampled). Messages name each file where
the user keeps it: through a linked folder (a folder dataset's audio/) to the folder itself.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from ..models.registry import MODELS
from .audio import AudioError

log = logging.getLogger(__name__)

REPORT_COLUMNS = ["path", "problem", "action"]
BASE_COLUMNS = ["id", "path", "split"]
SPLITS = ("train", "valid", "test")
# Files at a rate some model reads are passed as they are (to that model); others are always resampled.
MODEL_RATES = frozenset(spec.sample_rate for spec in MODELS.values())
UNLISTED = "missing labels (the file is not in the label table)"


def shown_path(root: Path, path: str) -> Path:
    """Where the file of clip-table ``path`` is for the user: a linked top folder (a folder dataset's audio/,
    linked to the user's folder) is replaced by its target, so messages name the path the user knows."""
    head, _, rest = str(path).partition("/")
    link = Path(root) / head
    if link.is_symlink():
        return Path(os.path.join(link.parent, os.readlink(link))) / rest
    return Path(root) / path


def _wav_data_bytes(path: Path) -> tuple[int, int] | None:
    """(bytes the WAV header's data chunk declares, bytes the file holds after it), or None when the file is
    not RIFF WAVE or the size is unset (0 or 0xFFFFFFFF, as streaming writers leave it). libsndfile reads a
    cut-off WAV as a shorter one without a word, so only the header tells that samples are missing."""
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
            return None
        while len(chunk := fh.read(8)) == 8:
            size = int.from_bytes(chunk[4:], "little")
            if chunk[:4] == b"data":
                held = path.stat().st_size - fh.tell()
                return None if size in (0, 0xFFFFFFFF) else (size, held)
            fh.seek(size + (size & 1), os.SEEK_CUR)  # chunks are padded to an even length
    return None


def check_audio_file(path: Path, min_duration_s: float = 0.0, min_sample_rate: int = 8000,
                     max_sample_rate: int = 192000) -> tuple[list[str], list[str]]:
    """(problems, notes) of one file. Problems make a clip unusable; notes describe conversions.

    The whole file is decoded, so a truncated or corrupt body is found, not only a bad header.
    """
    if not path.exists():
        return ["file does not exist"], []
    if path.stat().st_size == 0:
        return ["file is empty (0 bytes)"], []
    try:
        info = sf.info(path)
    except Exception as exc:
        return [f"cannot read audio ({exc})".replace("\n", " ")], []
    problems, notes = [], []
    if info.frames == 0:
        return ["file holds no samples"], []
    if not min_sample_rate <= info.samplerate <= max_sample_rate:
        problems.append(f"sample rate {info.samplerate} Hz outside {min_sample_rate}-{max_sample_rate} Hz")
    try:
        audio, _ = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:
        return [f"audio data is corrupt ({exc})".replace("\n", " ")], []
    if audio.shape[0] == 0:
        return ["file holds no samples"], []
    if not np.all(np.isfinite(audio)):
        problems.append("audio contains NaN or infinite samples")
    duration = audio.shape[0] / info.samplerate
    declared = _wav_data_bytes(path)
    if declared and declared[0] > declared[1]:  # bytes, not frames: compressed WAVs (ADPCM) pack many per block
        problems.append(f"truncated: header says {duration * declared[0] / declared[1]:.3f} s, "
                        f"file holds {duration:.3f} s")
    if duration < min_duration_s:
        problems.append(f"{duration:.3f} s is shorter than the minimum {min_duration_s:g} s")
    if info.channels > 1:
        notes.append(f"{info.channels} channels, averaged to mono when loaded")
    if info.samplerate not in MODEL_RATES:
        notes.append(f"resampled from {info.samplerate} Hz to the model's rate when loaded")
    return problems, notes


def check_clips(root: str | Path, table: pd.DataFrame, label_columns: list[str], on_bad_audio: str = "error",
                min_duration_s: float = 0.0, min_sample_rate: int = 8000,
                skipped: list[dict] | None = None, progress: bool = False,
                unlisted: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check each clip's audio and its labels; return (usable clips, report).

    ``on_bad_audio='error'`` raises AudioError naming every bad file (the first 20 in full);
    ``'skip'`` leaves them out and lists them in the report with action ``skipped``.
    ``skipped`` holds entries the parser already left out (duplicates, unknown singers); they
    join the report as they are. ``unlisted`` are audio files (paths like the table's) that no row
    labels: bad input like the rest, so one error names them together with every bad clip.
    """
    from tqdm import tqdm

    if on_bad_audio not in ("error", "skip"):
        raise ValueError(f"on_bad_audio must be 'error' or 'skip', got {on_bad_audio!r}")
    root = Path(root)
    tops = {str(p).split("/")[0] for p in table.get("path", [])}
    where = shown_path(root, tops.pop()) if len(tops) == 1 else root  # the audio folder, the user's own if linked
    missing_columns = [c for c in BASE_COLUMNS + list(label_columns) if c not in table.columns]
    if missing_columns:
        raise ValueError(f"{where}: clip table lacks the columns {missing_columns}")
    bad_split = ~table["split"].isin(SPLITS)
    if bad_split.any():
        row = table[bad_split].iloc[0]
        raise ValueError(f"{shown_path(root, row['path'])}: split {row['split']!r} is not one of {SPLITS}")
    duplicated = table["id"][table["id"].duplicated()]
    if len(duplicated):
        raise ValueError(f"{where}: clip ids must be unique; repeated: {sorted(set(duplicated))[:5]}")

    report = list(skipped or [])
    keep = np.ones(len(table), dtype=bool)
    errors = []
    for i, row in enumerate(tqdm(table.itertuples(index=False), total=len(table), desc="checking audio",
                                 unit="clip", disable=not progress)):
        # Read through the user's path: soundfile's own messages name the file too.
        problems, notes = check_audio_file(shown_path(root, row.path), min_duration_s, min_sample_rate)
        for column in label_columns:
            value = getattr(row, column)
            if value is None or (isinstance(value, float) and np.isnan(value)) or (isinstance(value, str) and not value.strip()):
                problems.append(f"missing label {column!r}")
        if problems:
            keep[i] = False
            errors.append(f"{shown_path(root, row.path)}: {'; '.join(problems)}")
            report.extend(dict(path=row.path, problem=p, action="skipped" if on_bad_audio == "skip" else "error")
                          for p in problems)
        else:  # conversions matter only for the clips that are used
            report.extend(dict(path=row.path, problem=note, action="note") for note in notes)
    for path in unlisted or []:
        errors.append(f"{shown_path(root, path)}: {UNLISTED}")
        report.append(dict(path=path, problem=UNLISTED, action="skipped" if on_bad_audio == "skip" else "error"))
    report = pd.DataFrame(report, columns=REPORT_COLUMNS)
    if errors and on_bad_audio == "error":
        shown = "\n  ".join(errors[:20]) + (f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else "")
        raise AudioError(f"{len(errors)} unusable clips under {where} (set on_bad_audio: skip to leave them out "
                         f"and list them in the report):\n  {shown}")
    if errors:
        log.warning("%d clips left out as unusable; listed in the report, e.g. %s", len(errors), errors[0])
    out = table[keep].reset_index(drop=True)
    if out.empty:
        raise AudioError(f"{where}: no usable clips left")
    return out, report
