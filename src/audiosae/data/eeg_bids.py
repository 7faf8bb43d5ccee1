"""Natural-speech EEG of Broderick et al. (2018) in BIDS: OpenNeuro ds004408.

19 subjects listened to 20 runs (~180 s each) of an audiobook (The Old Man and the Sea) while 128-channel
BioSemi EEG (channels A1-D32) was recorded; the BIDS release holds the raw recordings in BrainVision format
(512 Hz), one run per stimulus segment, and the stimulus audio ``stimuli/audioNN.wav`` (run NN = audioNN).
The recordings start with the stimulus (the dataset README: starts aligned); when a run has an
``_events.tsv``, the first event's onset is used as the stimulus onset instead.

Files come from OpenNeuro's public S3 bucket over https, one by one, through the project's resumable,
verified download (:mod:`audiosae.data.download`). OpenNeuro publishes no checksum list beside the files,
so a checksum table (``path<TAB>sha256``) pins them when given; without one, each file's sha256 is recorded
beside it on first download with a warning (as for the other unpinned sources).
"""
from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .download import Source, download

log = logging.getLogger(__name__)

DATASET = "ds004408"
BASE_URL = "https://s3.amazonaws.com/openneuro.org/ds004408"
TASK = "listening"
RUN_FILES = ("eeg.vhdr", "eeg.vmrk", "eeg.eeg", "eeg.json", "channels.tsv")
TOP_FILES = ("dataset_description.json", "participants.tsv", "README")
MONTAGE = "biosemi128"


def subject_label(subject: int | str) -> str:
    s = str(subject)
    return s if s.startswith("sub-") else f"sub-{int(s):03d}"


def run_files(subject: int | str, run: int, files=RUN_FILES) -> list[str]:
    sub = subject_label(subject)
    return [f"{sub}/eeg/{sub}_task-{TASK}_run-{int(run):02d}_{suffix}" for suffix in files]


def stimulus_file(run: int) -> str:
    return f"stimuli/audio{int(run):02d}.wav"


def read_checksums(path: str | Path | None) -> dict[str, str]:
    if not path:
        return {}
    with open(path, newline="") as fh:
        return {row[0]: row[1].lower() for row in csv.reader(fh, delimiter="\t") if row and not row[0].startswith("#")}


def fetch(paths: list[str], root: str | Path, base_url: str = BASE_URL, checksums: dict[str, str] | None = None,
          progress: bool = True) -> list[Path]:
    """Download ``paths`` (relative to the dataset root) into ``root``; verified where a checksum is known."""
    root = Path(root)
    out = []
    for rel in paths:
        sha = (checksums or {}).get(rel)
        source = Source(url=f"{base_url.rstrip('/')}/{rel}", filename=Path(rel).name, sha256=sha)
        out.append(download(source, root / rel, progress=progress))
    return out


# ---------------------------------------------------------------------------------------------------------
# Reading


def bids_path(root: str | Path, subject: int | str, run: int):
    from mne_bids import BIDSPath

    return BIDSPath(subject=subject_label(subject)[4:], task=TASK, run=f"{int(run):02d}", datatype="eeg",
                    suffix="eeg", extension=".vhdr", root=Path(root))


def read_run(root: str | Path, subject: int | str, run: int, montage: str | None = MONTAGE):
    """The raw recording of one run (mne-bids), EEG channels with the BioSemi montage, and the stimulus onset."""
    import mne
    from mne_bids import read_raw_bids

    bp = bids_path(root, subject, run)
    raw = read_raw_bids(bp, verbose="error")
    if montage:
        mont = mne.channels.make_standard_montage(montage)
        known = [c for c in raw.ch_names if c in mont.ch_names]
        other = {c: "misc" for c in raw.ch_names if c not in mont.ch_names and raw.get_channel_types([c])[0] == "eeg"}
        if other:  # mastoids / EXG channels: not on the scalp grid
            raw.set_channel_types(other, verbose="error")
        if known:
            raw.set_montage(mont, on_missing="ignore", verbose="error")
    onset = 0.0
    events = bp.copy().update(suffix="events", extension=".tsv")
    if events.fpath.exists():
        table = pd.read_csv(events.fpath, sep="\t")
        if len(table) and "onset" in table:
            onset = float(table["onset"].iloc[0])
    return raw, onset


def stimulus_runs(root: str | Path, runs: list[int], out_root: str | Path, sample_rate: int = 16000) -> pd.DataFrame:
    """Convert ``stimuli/audioNN.wav`` (44.1 kHz stereo) to mono ``out_root/audio/run-NN.wav`` at ``sample_rate``;
    returns the run table (run, path relative to ``out_root``, duration_s)."""
    from .audio import load_audio
    from .audio import write_wav

    rows = []
    for run in runs:
        audio = load_audio(Path(root) / stimulus_file(run), sample_rate)
        path = f"audio/run-{int(run):02d}.wav"
        write_wav(Path(out_root) / path, audio, sample_rate)
        rows.append(dict(run=int(run), path=path, duration_s=len(audio) / sample_rate))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------
# A miniature dataset in the real layout (tests, dry runs)


def write_brainvision(stem: Path, data_uv: np.ndarray, sfreq: float, ch_names: list[str]) -> None:
    """Minimal BrainVision triplet (.vhdr, .vmrk, .eeg; float32, multiplexed, uV), as BioSemi exports hold."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    name = stem.name
    channels = "\n".join(f"Ch{i + 1}={c},,1,µV" for i, c in enumerate(ch_names))
    (stem.parent / f"{name}.vhdr").write_text(
        "Brain Vision Data Exchange Header File Version 1.0\n\n[Common Infos]\nCodepage=UTF-8\n"
        f"DataFile={name}.eeg\nMarkerFile={name}.vmrk\nDataFormat=BINARY\nDataOrientation=MULTIPLEXED\n"
        f"NumberOfChannels={len(ch_names)}\nSamplingInterval={1e6 / sfreq:.6f}\n\n[Binary Infos]\n"
        f"BinaryFormat=IEEE_FLOAT_32\n\n[Channel Infos]\n{channels}\n", encoding="utf-8")
    (stem.parent / f"{name}.vmrk").write_text(
        "Brain Vision Data Exchange Marker File, Version 1.0\n\n[Common Infos]\nCodepage=UTF-8\n"
        f"DataFile={name}.eeg\n\n[Marker Infos]\nMk1=New Segment,,1,1,0\n", encoding="utf-8")
    np.asarray(data_uv, dtype="<f4").T.tofile(stem.parent / f"{name}.eeg")  # samples x channels, multiplexed


def make_mini_bids(root: str | Path, stimuli: dict[int, tuple[np.ndarray, int]], eeg: dict[tuple[int, int], np.ndarray],
                   sfreq: float = 512.0, ch_names: list[str] | None = None, events: bool = False) -> Path:
    """Write a miniature ds004408: ``stimuli`` run -> (audio, rate) (stereo, like the real WAVs), ``eeg``
    (subject, run) -> (channels x samples, uV) at ``sfreq``. Same names and sidecars as the release."""
    import mne
    import soundfile as sf

    root = Path(root)
    ch_names = ch_names or mne.channels.make_standard_montage(MONTAGE).ch_names
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps(
        {"Name": "Broderick et al. 2018 natural speech (miniature)", "BIDSVersion": "1.8.0", "DatasetType": "raw"}))
    (root / "README").write_text("Miniature stand-in for OpenNeuro ds004408: same layout, generated data.\n")
    subjects = sorted({s for s, _ in eeg})
    pd.DataFrame({"participant_id": [subject_label(s) for s in subjects]}).to_csv(root / "participants.tsv", sep="\t", index=False)
    for run, (audio, rate) in stimuli.items():
        path = root / stimulus_file(run)
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.stack([audio, audio], axis=1), rate, subtype="PCM_16")
    for (subject, run), data in eeg.items():
        sub = subject_label(subject)
        stem = root / sub / "eeg" / f"{sub}_task-{TASK}_run-{int(run):02d}_eeg"
        write_brainvision(stem, data, sfreq, ch_names)
        (stem.parent / f"{stem.name}.json").write_text(json.dumps(
            {"TaskName": TASK, "SamplingFrequency": sfreq, "EEGReference": "CMS/DRL", "PowerLineFrequency": 50,
             "SoftwareFilters": "n/a", "EEGChannelCount": len(ch_names)}))
        pd.DataFrame({"name": ch_names, "type": "EEG", "units": "µV"}).to_csv(
            stem.parent / f"{sub}_task-{TASK}_run-{int(run):02d}_channels.tsv", sep="\t", index=False)
        if events:
            pd.DataFrame({"onset": [1.0], "duration": [data.shape[1] / sfreq - 1.0], "trial_type": [f"audio{int(run):02d}"]}).to_csv(
                stem.parent / f"{sub}_task-{TASK}_run-{int(run):02d}_events.tsv", sep="\t", index=False)
    return root
