"""Bad input found in one pass and named where the user can find it: every problem of a dataset in one error,
truncated WAVs, the user's own paths in messages, resampling noted, and archives that would flood the disk or
hold several unsafe members."""
from __future__ import annotations

import io
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from audiosae.data import esc50, kinds
from audiosae.data.audio import AudioError
from audiosae.data.checks import check_audio_file
from audiosae.data.download import UnsafeArchiveError, safe_extract


def _folder(tmp_path: Path, rows: dict[str, str], rate: int = 16000) -> tuple[Path, dict]:
    """A folder dataset: one 0.5 s WAV per row ({file: emotion}), its labels CSV and its options."""
    folder = tmp_path / "my_audio"
    folder.mkdir()
    for i, name in enumerate(rows):
        sf.write(folder / name, 0.1 * np.random.default_rng(i).standard_normal(rate // 2), rate)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"file": list(rows), "emotion": list(rows.values())}).to_csv(labels, index=False)
    opts = dict(kind="folder", path=str(folder), labels=str(labels), file_column="file", label_columns=None,
                required_labels=None, group_column=None, test_fraction=0.34, valid_fraction=0.34,
                on_bad_audio="error", min_duration_s=0.1)
    return folder, opts


def _prepared(tmp_path: Path, rows: dict[str, str], rate: int = 16000) -> tuple[Path, Path, dict]:
    folder, opts = _folder(tmp_path, rows, rate)
    root = tmp_path / "datasets" / "mine"
    kinds.prepare_dataset(root, opts, 0)
    return folder, root, opts


# --------------------------------------------------------------------------
# One error for every problem


def test_one_error_names_unlisted_corrupt_and_unlabelled_files(tmp_path):
    folder, root, opts = _prepared(tmp_path, {f"c{i}.wav": "sad" for i in range(4)} | {"unlabelled.wav": "",
                                                                                        "corrupt.wav": "sad"})
    (folder / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage that is not audio")
    sf.write(folder / "unlisted.wav", np.zeros(8000), 16000)
    with pytest.raises(AudioError) as err:
        kinds.build_clip_table(root, opts, 0)
    message = str(err.value)
    assert "3 unusable clips" in message
    for name, words in {"unlisted.wav": "not in the label table", "corrupt.wav": "cannot read audio",
                        "unlabelled.wav": "missing label 'emotion'"}.items():
        assert any(name in line and words in line for line in message.splitlines()), (name, message)
    # skip: the same three are left out and listed.
    table, report = kinds.build_clip_table(root, {**opts, "on_bad_audio": "skip"}, 0)
    assert len(table) == 4
    assert set(report.loc[report["action"] == "skipped", "path"]) == {
        "audio/unlisted.wav", "audio/corrupt.wav", "audio/unlabelled.wav"}


def test_many_problems_are_shown_twenty_then_counted(tmp_path):
    folder, root, opts = _prepared(tmp_path, {"c0.wav": "sad", "c1.wav": "sad"})
    for i in range(25):
        sf.write(folder / f"unlisted{i:02d}.wav", np.zeros(8000), 16000)
    with pytest.raises(AudioError, match=r"(?s)25 unusable clips.*\.\.\. and 5 more") as err:
        kinds.build_clip_table(root, opts, 0)
    assert sum("unlisted" in line for line in str(err.value).splitlines()) == 20


# --------------------------------------------------------------------------
# Truncated WAVs


def _wav(path: Path, seconds: float = 2.0, rate: int = 16000) -> bytes:
    sf.write(path, 0.1 * np.ones(int(seconds * rate)), rate, subtype="PCM_16")
    return path.read_bytes()


def test_truncated_wav_is_bad_input(tmp_path):
    data = _wav(tmp_path / "whole.wav")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    # libsndfile reads the half that is there without a word.
    assert sf.info(cut).frames == len(sf.read(cut)[0]) < 32000
    problems, _ = check_audio_file(cut)
    assert problems == ["truncated: header says 2.000 s, file holds 0.999 s"]


@pytest.mark.parametrize("tail", [b"", b"\x00"])
def test_complete_wav_passes_also_with_a_trailing_byte(tmp_path, tail):
    path = tmp_path / "a.wav"
    path.write_bytes(_wav(path) + tail)
    assert check_audio_file(path) == ([], [])
    odd = tmp_path / "odd.wav"  # 8-bit mono with an odd number of frames: a padded data chunk
    sf.write(odd, 0.1 * np.ones(16001), 16000, subtype="PCM_U8")
    assert check_audio_file(odd) == ([], [])


def test_truncated_wav_is_skipped_or_named(tmp_path):
    folder, root, opts = _prepared(tmp_path, {f"c{i}.wav": "sad" for i in range(3)})
    data = _wav(folder / "c1.wav")
    (folder / "c1.wav").write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match=r"c1\.wav: truncated: header says 2\.000 s, file holds 0\.999 s"):
        kinds.build_clip_table(root, opts, 0)
    table, report = kinds.build_clip_table(root, {**opts, "on_bad_audio": "skip"}, 0)
    assert "audio/c1.wav" not in set(table["path"])
    assert report.set_index("path").loc["audio/c1.wav", "problem"].startswith("truncated")


# --------------------------------------------------------------------------
# The user's paths in messages; conversions noted


def test_messages_name_the_users_folder_not_the_link(tmp_path):
    folder, root, opts = _prepared(tmp_path, {f"c{i}.wav": "sad" for i in range(3)} | {"missing.wav": "sad"})
    (folder / "missing.wav").unlink()
    (folder / "c2.wav").write_bytes(b"not audio")
    sf.write(folder / "unlisted.wav", np.zeros(8000), 16000)
    with pytest.raises(AudioError) as err:
        kinds.build_clip_table(root, opts, 0)
    message = str(err.value)
    real = folder.resolve()
    for name in ("missing.wav", "c2.wav", "unlisted.wav"):
        assert f"{real / name}:" in message, message
    assert "datasets/mine" not in message


def test_resampling_is_noted(tmp_path):
    folder, root, opts = _prepared(tmp_path, {"c0.wav": "sad", "c1.wav": "happy"}, rate=44100)
    sf.write(folder / "c2.wav", 0.1 * np.ones(8000), 16000)
    pd.DataFrame({"file": ["c0.wav", "c1.wav", "c2.wav"], "emotion": ["sad", "happy", "sad"]}).to_csv(opts["labels"],
                                                                                                       index=False)
    table, report = kinds.build_clip_table(root, opts, 0)
    assert len(table) == 3
    notes = report[report["action"] == "note"].set_index("path")["problem"]
    assert notes.to_dict() == {f"audio/c{i}.wav": "resampled from 44100 Hz to the model's rate when loaded"
                               for i in (0, 1)}


# --------------------------------------------------------------------------
# Archives: size limits and every unsafe member named


def test_extraction_stops_above_the_size_limit_before_writing(tmp_path):
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.txt", b"x" * 3000)
        zf.writestr("b.txt", b"y" * 3000)
    with pytest.raises(UnsafeArchiveError, match=r"big\.zip: .*6000 bytes.*max_extract_gb"):
        safe_extract(archive, tmp_path / "out", max_bytes=5000)
    assert not any((tmp_path / "out").iterdir())
    assert len(safe_extract(archive, tmp_path / "out", max_bytes=6000)) == 2


def test_extraction_stops_a_zip_bomb(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", bytes(10 << 20))
    assert archive.stat().st_size < 100_000
    with pytest.raises(UnsafeArchiveError, match=r"bomb\.zip: .*compression ratio .*max_compression_ratio"):
        safe_extract(archive, tmp_path / "out")
    assert not any((tmp_path / "out").iterdir())


def test_archive_limits_come_from_the_dataset_options(tmp_path):
    esc50.write_miniature(tmp_path / "src")
    archive = Path(shutil.make_archive(str(tmp_path / "master"), "zip", tmp_path / "src"))
    opts = dict(kind="esc50", test_fold=5, valid_fold=4, max_extract_gb=1e-6)
    with pytest.raises(UnsafeArchiveError, match="max_extract_gb"):
        kinds.prepare_dataset(tmp_path / "esc", opts, 0, archive=archive, progress=False)
    kinds.prepare_dataset(tmp_path / "esc", {**opts, "max_extract_gb": 1.0}, 0, archive=archive, progress=False)
    assert any((tmp_path / "esc").rglob("*.wav"))


def test_every_unsafe_member_is_named(tmp_path):
    archive = tmp_path / "bad.tar"
    with tarfile.open(archive, "w") as tf:
        for name in ("ok.txt", "../evil.txt", "/abs/evil2.txt"):
            info = tarfile.TarInfo(name)
            info.size = 4
            tf.addfile(info, io.BytesIO(b"data"))
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    with pytest.raises(UnsafeArchiveError) as err:
        safe_extract(archive, tmp_path / "out")
    message = str(err.value)
    assert "3 unsafe members" in message
    for words in ("'../evil.txt' would be written outside", "'/abs/evil2.txt' would be written outside",
                  "'link' is a link or special file"):
        assert words in message, message
    assert not (tmp_path / "out" / "ok.txt").exists()
