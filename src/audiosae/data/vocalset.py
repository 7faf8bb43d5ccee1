"""VocalSet 1.1 layout: synthetic generation, parsing, and the train/valid/test split.

Real layout: FULL/<female1..9|male1..11>/<context>/<technique>/<file>.wav with
file names like f1_arpeggios_belt_a.wav or m10_long_tones_vibrato_o.wav. The
synthetic corpus uses exactly this layout so one parser serves both.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm import tqdm

from audiosae.data import synth
from audiosae.data.audio import write_wav
from audiosae.io import write_csv

log = logging.getLogger(__name__)

TECHNIQUES_10 = synth.TECHNIQUES
VOWELS = ("a", "e", "i", "o", "u")
SUNG_CONTEXTS = ("arpeggios", "scales", "long_tones")
CONTEXTS = SUNG_CONTEXTS + ("excerpts",)
TEST_SINGERS = ("f2", "f8", "m3", "m5", "m10")
ALL_SINGERS = tuple(f"f{i}" for i in range(1, 10)) + tuple(f"m{i}" for i in range(1, 12))
LOUDNESS_RANGE_DB = (-32.0, -12.0)

CLIP_TABLE_COLUMNS = [
    "id", "path", "split", "singer", "gender", "technique", "context", "vowel",
    "f0_hz", "midi", "loudness_db", "duration_s",
]
_GROUND_TRUTH = "ground_truth.csv"
_SINGER_PREFIX = re.compile(r"^(f|m)(\d+)_")
_GENDERS = {"f": "female", "m": "male"}
_IGNORED_PARTS = {"__MACOSX"}

# The 17 technique folders of VocalSet 1.1; paper A uses the 10 of TECHNIQUES_10.
TECHNIQUES_17 = (
    "belt", "breathy", "fast_forte", "fast_piano", "forte", "inhaled", "lip_trill", "messa", "pp",
    "slow_forte", "slow_piano", "spoken", "straight", "trill", "trillo", "vibrato", "vocal_fry",
)
TECHNIQUE_SETS = {10: TECHNIQUES_10, 17: TECHNIQUES_17}

# Quirks of the real release (REFERENCE.md), kept here rather than in the parser logic.
# File stems whose singer cannot be read from the name, mapped to the singer id.
SINGER_EXCEPTIONS: dict[str, str] = {
    "lip_trill_arps": "f2",
    **{f"{context}_straight_{vowel}": "f4" for context in ("arpeggios", "scales") for vowel in VOWELS},
    "row_straight": "m8",
    "scales_vocal_fry": "f2",
}
# Files of no known singer: left out (they could belong to a held-out singer) and listed.
UNKNOWN_SINGER_STEMS = frozenset({"caro_vibrato", "dona_vibrato", "row_vibrato", "slow_vibrato_arps"})
# A second copy of another file: left out and listed.
DUPLICATE_STEMS = frozenset({"f2_scales_vibrato_a(1)"})


def singer_folder(singer_id: str) -> str:
    """'f2' -> 'female2', 'm10' -> 'male10'."""
    match = re.fullmatch(r"(f|m)(\d+)", singer_id)
    if match is None:
        raise ValueError(f"singer id must look like 'f2' or 'm10', got {singer_id!r}")
    return f"{_GENDERS[match.group(1)]}{match.group(2)}"


def _midi(f0_hz: float) -> float:
    return 69.0 + 12.0 * np.log2(f0_hz / 440.0)


# --------------------------------------------------------------------------
# Generation


def _clip_rng(seed: int, singer_id: str, technique: str, take: int) -> np.random.Generator:
    """Independent stream per clip, so adding singers or clips leaves others unchanged."""
    singer_code = (0 if singer_id[0] == "f" else 100) + int(singer_id[1:])
    return np.random.default_rng([seed, singer_code, TECHNIQUES_10.index(technique), take])


def _plan_clips(singers: list[str], clips_per_technique: int, duration_s: float, sample_rate: int,
                seed: int) -> list[dict]:
    """Labels and real-style relative paths of every clip, before any audio is made."""
    clips = []
    name_counts: dict[str, int] = {}
    for singer_id in singers:
        voice = synth.make_singer(singer_id, seed)
        for technique in TECHNIQUES_10:
            for take in range(clips_per_technique):
                rng = _clip_rng(seed, singer_id, technique, take)
                spoken = technique == "spoken"
                context = "excerpts" if spoken else str(rng.choice(SUNG_CONTEXTS))
                vowel = str(rng.choice(VOWELS))
                low, high = synth.technique_f0_range(technique, voice)
                f0_hz = float(low * (high / low) ** rng.random())  # uniform in semitones
                loudness_db = float(rng.uniform(*LOUDNESS_RANGE_DB))
                # Spoken excerpts carry a take number instead of a vowel; repeated sung
                # names get a number after the vowel (f2_scales_vibrato_a_2).
                base = f"{singer_id}_{context}_{technique}" + ("" if spoken else f"_{vowel}")
                name_counts[base] = name_counts.get(base, 0) + 1
                count = name_counts[base]
                stem = f"{base}_{count}" if spoken or count > 1 else base
                path = f"FULL/{singer_folder(singer_id)}/{context}/{technique}/{stem}.wav"
                clips.append(dict(
                    path=path, singer=singer_id, gender=voice.gender, context=context,
                    technique=technique, vowel=vowel, f0_hz=f0_hz, midi=_midi(f0_hz),
                    loudness_db=loudness_db, duration_s=float(duration_s), sample_rate=int(sample_rate),
                    _voice=voice, _rng=rng,
                ))
    return clips


def generate_vocalset_like(root: Path, singers: list[str], clips_per_technique: int, duration_s: float,
                           sample_rate: int, seed: int, progress: bool = True) -> pd.DataFrame:
    """Write a synthetic corpus in the VocalSet 1.1 layout; return and save its ground truth.

    Per clip, f0 is uniform (in semitones) over the singer's range for the technique
    and loudness uniform in LOUDNESS_RANGE_DB, independent of the technique.
    Deterministic: the same arguments give byte-identical files.
    """
    root = Path(root)
    clips = _plan_clips(list(singers), clips_per_technique, duration_s, sample_rate, seed)
    planned = {clip["path"] for clip in clips}
    stale = sorted(p for p in _wav_paths(root) if p.relative_to(root).as_posix() not in planned)
    if stale:  # the parser reads every wav, so leftovers would silently join the corpus
        raise FileExistsError(f"{root} holds {len(stale)} wav files this run would not write, "
                              f"e.g. {stale[0]}; use an empty folder")

    for clip in tqdm(clips, desc="synthesising VocalSet-like clips", unit="clip", disable=not progress):
        audio = synth.synthesize(clip["technique"], clip["vowel"], clip["f0_hz"], clip["loudness_db"],
                                 clip["_voice"], duration_s, sample_rate, clip["_rng"])
        write_wav(root / clip["path"], audio, sample_rate)

    table = pd.DataFrame([{k: v for k, v in clip.items() if not k.startswith("_")} for clip in clips])
    write_csv(table, root / _GROUND_TRUTH, float_format=None)
    return table


# --------------------------------------------------------------------------
# Parsing


def _wav_paths(root: Path) -> list[Path]:
    full = Path(root) / "FULL"
    if not full.is_dir():
        return []
    return sorted(
        p for p in full.rglob("*.wav")
        if not _IGNORED_PARTS.intersection(p.parts) and not p.name.startswith(".")
    )


def _singer_of(stem: str, path: Path) -> str:
    if stem in SINGER_EXCEPTIONS:
        return SINGER_EXCEPTIONS[stem]
    match = _SINGER_PREFIX.match(stem)
    if match is None:
        raise ValueError(f"{path}: file name has no singer prefix like 'f1_' or 'm10_' "
                         f"(add it to SINGER_EXCEPTIONS if it is a known quirk)")
    return f"{match.group(1)}{int(match.group(2))}"


def _vowel_of(stem: str) -> str:
    """Last token that is a single vowel letter ('' for spoken excerpts and the like)."""
    for token in reversed(stem.split("_")[1:]):
        if token in VOWELS:
            return token
    return ""


def parse_vocalset(root: Path, skipped: list[dict] | None = None) -> pd.DataFrame:
    """Labels of every clip under root/FULL, from folder names (technique, context) and file names.

    Columns: id, path (relative to root, posix), singer, gender, context, technique, vowel.
    The release's duplicate and its files of unknown singer are left out; each is appended to
    ``skipped`` (path, problem, action) when a list is given, and logged.
    """
    root = Path(root)
    rows = []
    for path in _wav_paths(root):
        relative = path.relative_to(root)
        if len(relative.parts) != 5:
            raise ValueError(f"{path}: expected FULL/<singer>/<context>/<technique>/<file>.wav")
        if path.stem in UNKNOWN_SINGER_STEMS or path.stem in DUPLICATE_STEMS:
            problem = "no known singer" if path.stem in UNKNOWN_SINGER_STEMS else "duplicate of another file"
            log.info("%s: %s; left out", relative.as_posix(), problem)
            if skipped is not None:
                skipped.append(dict(path=relative.as_posix(), problem=problem, action="skipped"))
            continue
        singer = _singer_of(path.stem, path)
        rows.append(dict(
            id=path.stem, path=relative.as_posix(), singer=singer, gender=_GENDERS[singer[0]],
            context=relative.parts[2], technique=relative.parts[3], vowel=_vowel_of(path.stem),
        ))
    table = pd.DataFrame(rows, columns=["id", "path", "singer", "gender", "context", "technique", "vowel"])
    duplicated = table["id"][table["id"].duplicated()]
    if len(duplicated):
        raise ValueError(f"clip ids (file stems) must be unique; repeated: {sorted(set(duplicated))[:5]}")
    return table


# --------------------------------------------------------------------------
# Splits and the clip table


def assign_splits(df: pd.DataFrame, test_singers: Iterable[str], valid_fraction: float = 0.2,
                  seed: int = 42) -> pd.DataFrame:
    """Add `split`: test singers -> 'test'; other clips -> 'train'/'valid', stratified by technique.

    Deterministic for a given set of clips, whatever their row order.
    """
    out = df.copy()
    is_test = out["singer"].isin(set(test_singers))
    out["split"] = np.where(is_test, "test", "train")
    rng = np.random.default_rng(seed)
    for _, group in out[~is_test].sort_values("id").groupby("technique", sort=True):
        n_valid = int(round(valid_fraction * len(group)))
        if len(group) >= 2 and valid_fraction > 0:  # keep both splits populated when possible
            n_valid = min(max(n_valid, 1), len(group) - 1)
        chosen = rng.permutation(len(group))[:n_valid]
        out.loc[group.index[chosen], "split"] = "valid"
    return out


def _check_agreement(merged: pd.DataFrame, column: str) -> None:
    parsed, truth = merged[column], merged[f"{column}_truth"]
    bad = merged.loc[truth.notna() & (parsed != "") & (parsed != truth), "path"]
    if len(bad):
        raise ValueError(f"{column} from file names disagrees with {_GROUND_TRUTH} for {len(bad)} clips, "
                         f"e.g. {bad.iloc[0]}")


def build_clip_table(root: Path, test_singers: Iterable[str] = TEST_SINGERS, valid_fraction: float = 0.2,
                     seed: int = 42, techniques: int | None = None,
                     skipped: list[dict] | None = None) -> pd.DataFrame:
    """Parsed labels + ground truth (f0, loudness; synthetic corpora only) + splits.

    Without ground_truth.csv (the real data) f0_hz/midi/loudness_db are NaN and
    duration_s is read from the wav headers. ``techniques`` (10 or 17) keeps the clips of that
    label set (paper A: 10); the others are listed in ``skipped`` as excluded, not as errors.
    """
    root = Path(root)
    table = parse_vocalset(root, skipped)
    if techniques is not None:
        keep = table["technique"].isin(TECHNIQUE_SETS[techniques])
        unknown = sorted(set(table["technique"]) - set(TECHNIQUES_17))
        if unknown:
            raise ValueError(f"{root}: technique folders {unknown} are not VocalSet techniques")
        if skipped is not None:
            skipped.extend(dict(path=p, problem=f"technique {t} not in the {techniques}-technique set",
                                action="excluded") for p, t in table.loc[~keep, ["path", "technique"]].itertuples(index=False))
        table = table[keep].reset_index(drop=True)
    truth_path = root / _GROUND_TRUTH
    if truth_path.exists():
        truth = pd.read_csv(truth_path, keep_default_na=False, na_values=[""])
        label_columns = ["singer", "gender", "context", "technique", "vowel"]
        table = table.merge(truth.drop(columns=["sample_rate"]), on="path", how="left",
                            suffixes=("", "_truth"), validate="one_to_one")
        for column in label_columns:
            _check_agreement(table, column)
        # Spoken excerpts have no vowel in their name; the synthesised vowel is known.
        table["vowel"] = table["vowel"].mask(table["vowel"] == "", table["vowel_truth"].fillna(""))
        table = table.drop(columns=[f"{c}_truth" for c in label_columns])
    else:
        table["f0_hz"] = table["midi"] = table["loudness_db"] = np.nan
        table["duration_s"] = [sf.info(root / p).duration for p in table["path"]]
    table = assign_splits(table, test_singers, valid_fraction, seed)
    return table[CLIP_TABLE_COLUMNS]


# --------------------------------------------------------------------------
# Paper A's fixed-length clips


def fix_length(audio: np.ndarray, n: int) -> np.ndarray:
    """First ``n`` samples, zero-padded at the end when shorter."""
    out = np.zeros((n,) + audio.shape[1:], dtype=audio.dtype)
    m = min(n, audio.shape[0])
    out[:m] = audio[:m]
    return out


def clip_folder(folder: Path, seconds: float, progress: bool = True) -> int:
    """Rewrite every wav under ``folder`` in place as its first ``seconds``, zero-padded (paper A: 5 s).

    The subtype (e.g. PCM_16) and sample rate are kept; AppleDouble and __MACOSX debris is left alone.
    Returns the number of files rewritten.
    """
    paths = [p for p in sorted(Path(folder).rglob("*.wav"))
             if not _IGNORED_PARTS.intersection(p.parts) and not p.name.startswith(".")]
    for path in tqdm(paths, desc=f"clipping to {seconds:g} s", unit="file", disable=not progress):
        try:
            info = sf.info(path)
            audio, sr = sf.read(path, dtype="float32", always_2d=True)
        except Exception as exc:  # leave unreadable files to the audio checks, which name them
            log.warning("%s: cannot read (%s); left unclipped for the checks to report", path, exc)
            continue
        tmp = path.with_name(path.name + ".tmp")
        sf.write(tmp, fix_length(audio, int(round(seconds * sr))), sr, subtype=info.subtype, format="WAV")
        os.replace(tmp, path)
    return len(paths)


# --------------------------------------------------------------------------
# A miniature of the real release, with every known quirk, for tests


def write_miniature(folder: Path, sample_rate: int = 8000, seed: int = 0) -> dict[str, str]:
    """Write ``folder/FULL/...`` as VocalSet11.zip holds it, in miniature, plus macOS debris.

    Returns {relative path: expected singer ('' for files that must be left out)}.
    """
    rng = np.random.default_rng(seed)
    files: dict[str, str] = {}

    def put(singer_folder_: str, context: str, technique: str, name: str, singer: str, seconds: float = 6.0):
        rel = f"FULL/{singer_folder_}/{context}/{technique}/{name}"
        path = Path(folder) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, (0.1 * rng.standard_normal(int(seconds * sample_rate))).astype(np.float32), sample_rate,
                 subtype="PCM_16")
        files[rel] = singer

    singers = ["f1", "f2", "f4", "f8", "m1", "m3", "m5", "m8", "m10", "m11"]
    for i, singer in enumerate(singers):
        sf_ = singer_folder(singer)
        for technique in ("belt", "breathy", "vibrato", "straight", "fast_forte", "messa"):
            put(sf_, "arpeggios", technique, f"{singer}_arpeggios_{technique}_{VOWELS[i % 5]}.wav", singer,
                seconds=6.0 if i % 2 else 3.0)
        put(sf_, "excerpts", "spoken", f"{singer}_excerpts_spoken_1.wav" if i % 2 else f"{singer}_spoken_excerpts_1.wav", singer)
    # Token order varies: the folders, not the name, give context and technique.
    put("female1", "scales", "vibrato", "f1_vibrato_scales_e.wav", "f1")
    put("male11", "long_tones", "vocal_fry", "m11_long_vocal_fry_u.wav", "m11")
    # Unprefixed files of known singers.
    put("female2", "arpeggios", "lip_trill", "lip_trill_arps.wav", "f2")
    put("female4", "arpeggios", "straight", "arpeggios_straight_a.wav", "f4")
    put("female4", "scales", "straight", "scales_straight_o.wav", "f4")
    put("male8", "excerpts", "straight", "row_straight.wav", "m8")
    put("female2", "scales", "vocal_fry", "scales_vocal_fry.wav", "f2")
    # The duplicate and the files of unknown singer: left out.
    put("female2", "scales", "vibrato", "f2_scales_vibrato_a.wav", "f2")
    put("female2", "scales", "vibrato", "f2_scales_vibrato_a(1).wav", "")
    for name in ("caro_vibrato.wav", "dona_vibrato.wav", "row_vibrato.wav", "slow_vibrato_arps.wav"):
        put("female9", "excerpts", "vibrato", name, "")
    # macOS debris the parser must ignore.
    debris = Path(folder) / "__MACOSX" / "FULL" / "female1" / "arpeggios" / "belt"
    debris.mkdir(parents=True, exist_ok=True)
    (debris / "._f1_arpeggios_belt_a.wav").write_bytes(b"\x00\x05\x16\x07junk")
    (Path(folder) / "FULL" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (Path(folder) / "FULL" / "female1" / "arpeggios" / "belt" / "._f1_arpeggios_belt_a.wav").write_bytes(b"junk")
    return files
