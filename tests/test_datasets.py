"""Dataset kinds: downloads (local file:// and a local http server), safe extraction, every real dataset's
parser on a miniature archive in its real layout, the generated speech and non-speech corpora, your own
folder, and bad input."""
from __future__ import annotations

import functools
import http.server
import io
import shutil
import stat
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from audiosae.data import esc50, kinds, librispeech, nsynth, vocalset, vocalsound
from audiosae.data.audio import AudioError
from audiosae.data.download import DownloadError, Source, UnsafeArchiveError, download, file_digests, safe_extract


# --------------------------------------------------------------------------
# Downloads


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with HTTP Range support; records the Range headers it saw; can cut a response short."""

    ranges: list = []
    cut_after: int | None = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        header = self.headers.get("Range")
        type(self).ranges.append(header)
        start = int(header.split("=")[1].split("-")[0]) if header else 0
        body = data[start:]
        self.send_response(206 if header else 200)
        if header:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = type(self).cut_after
        if cut is not None and not header:
            self.wfile.write(body[:cut])  # the connection drops mid-file
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = type("Handler", (_RangeHandler,), {"ranges": [], "cut_after": None})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()


def _payload(path: Path, n: int = 300_000) -> bytes:
    data = np.random.default_rng(0).integers(0, 256, n, dtype=np.uint8).tobytes()
    path.write_bytes(data)
    return data


def test_download_over_http_verifies_and_resumes(server, tmp_path):
    served, url, handler = server
    data = _payload(served / "a.tar.gz")
    digests = file_digests(served / "a.tar.gz")
    source = Source(f"{url}/a.tar.gz", "a.tar.gz", md5=digests["md5"], sha256=digests["sha256"], size=len(data))
    dest = tmp_path / "dl" / "a.tar.gz"
    # An interrupted earlier run left the first 100 kB; the download resumes from there.
    dest.parent.mkdir()
    (dest.parent / "a.tar.gz.part").write_bytes(data[:100_000])
    download(source, dest, progress=False)
    assert dest.read_bytes() == data
    assert handler.ranges == ["bytes=100000-"]
    assert not (dest.parent / "a.tar.gz.part").exists()
    # A verified file is kept as it is: no second request.
    download(source, dest, progress=False)
    assert handler.ranges == ["bytes=100000-"]


def test_dropped_connection_is_resumed_on_retry(server, tmp_path):
    served, url, handler = server
    data = _payload(served / "b.zip")
    handler.cut_after = 120_000
    source = Source(f"{url}/b.zip", "b.zip", sha256=file_digests(served / "b.zip")["sha256"], size=len(data))
    download(source, tmp_path / "b.zip", retries=3, progress=False, backoff_s=0.0)
    assert (tmp_path / "b.zip").read_bytes() == data
    assert handler.ranges[0] is None and handler.ranges[1] == "bytes=120000-"


def test_wrong_checksum_fails_and_names_the_file(server, tmp_path):
    served, url, _ = server
    _payload(served / "c.zip")
    source = Source(f"{url}/c.zip", "c.zip", md5="0" * 32)
    with pytest.raises(DownloadError, match=r"c\.zip\.part: md5 .* does not match the expected 0{32}"):
        download(source, tmp_path / "c.zip", progress=False)
    assert not (tmp_path / "c.zip").exists() and not (tmp_path / "c.zip.part").exists()
    # file:// goes through the same verification.
    with pytest.raises(DownloadError, match="does not match"):
        download(Source((served / "c.zip").as_uri(), "c.zip", sha256="f" * 64), tmp_path / "c2.zip", progress=False)


def test_unpinned_download_records_its_sha256(tmp_path, caplog):
    data = _payload(tmp_path / "d.zip")
    dest = download(Source((tmp_path / "d.zip").as_uri(), "d.zip"), tmp_path / "dl" / "d.zip", progress=False)
    assert dest.read_bytes() == data
    recorded = (tmp_path / "dl" / "d.zip.sha256").read_text().split()[0]
    assert recorded == file_digests(tmp_path / "d.zip")["sha256"]
    assert "no checksum configured" in caplog.text


def test_only_https_or_local_urls():
    with pytest.raises(ValueError, match="only https"):
        Source("http://example.org/x.zip", "x.zip", md5="0" * 32)
    with pytest.raises(ValueError, match="only https"):
        Source("ftp://example.org/x.zip", "x.zip", md5="0" * 32)
    Source("https://example.org/x.zip", "x.zip", md5="0" * 32)
    Source("http://127.0.0.1:8000/x.zip", "x.zip", md5="0" * 32)


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_extraction_refuses_paths_outside_the_target(tmp_path, name):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr(name, "evil")
    with pytest.raises(UnsafeArchiveError, match="outside"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "ok.txt").exists()  # checked before anything is written
    assert not (tmp_path / "evil.txt").exists()


def test_extraction_refuses_paths_outside_the_target_in_tar(tmp_path):
    archive = tmp_path / "bad.tar"
    with tarfile.open(archive, "w") as tf:
        for name in ("ok.txt", "../evil.txt"):
            info = tarfile.TarInfo(name)
            info.size = 4
            tf.addfile(info, io.BytesIO(b"data"))
    with pytest.raises(UnsafeArchiveError, match="'../evil.txt' would be written outside"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "ok.txt").exists() and not (tmp_path / "evil.txt").exists()


def test_extraction_refuses_links_in_zip(tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("FULL/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="'FULL/link' is a link or special file"):
        safe_extract(archive, tmp_path / "out")


def test_extraction_refuses_links_in_tar(tmp_path):
    archive = tmp_path / "bad.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("FULL/link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(info)
    with pytest.raises(UnsafeArchiveError, match="FULL/link.*link"):
        safe_extract(archive, tmp_path / "out")


# --------------------------------------------------------------------------
# Real datasets on miniature archives (downloaded from a local server, as the workflow does)


def _archive_of(folder: Path, out: Path, fmt: str) -> Path:
    return Path(shutil.make_archive(str(out), fmt, folder))


def _fetch_and_build(kind: str, archive: Path, tmp_path: Path, url: str | None = None, **opts):
    spec = kinds.get_kind(kind)
    source = spec.source({"kind": kind})
    digest = file_digests(archive)["sha256"]
    local = Source(url or archive.as_uri(), source.filename, sha256=digest)
    fetched = download(local, tmp_path / "downloads" / source.filename, progress=False)
    opts = {"kind": kind, "on_bad_audio": "error", "min_duration_s": 0.1, **opts}
    root = tmp_path / "datasets" / kind
    kinds.prepare_dataset(root, opts, 42, archive=fetched, progress=False)
    assert (root / spec.audio_dir).is_dir()
    table, report = kinds.build_clip_table(root, opts, 42)
    assert table["path"].str.startswith(spec.audio_dir + "/").all()
    assert all((root / p).is_file() for p in table["path"])
    return table, report


def test_vocalset_archive_with_every_quirk(server, tmp_path):
    served, url, _ = server
    expected = vocalset.write_miniature(tmp_path / "src")
    _archive_of(tmp_path / "src", served / "VocalSet11", "zip")
    table, report = _fetch_and_build("vocalset", served / "VocalSet11.zip", tmp_path, url=f"{url}/VocalSet11.zip",
                                     techniques=10, clip_seconds=5.0, test_singers=list(vocalset.TEST_SINGERS),
                                     valid_fraction=0.2, split_seed=42)
    by_path = table.set_index("path")
    kept = {p: s for p, s in expected.items() if s and p.split("/")[3] in vocalset.TECHNIQUES_10}
    assert set(by_path.index) == set(kept)
    for path, singer in kept.items():
        assert by_path.loc[path, "singer"] == singer, path
    # Unprefixed files of known singers, m10 vs m1, m11, token order from the folders.
    assert by_path.loc["FULL/female2/arpeggios/lip_trill/lip_trill_arps.wav", "singer"] == "f2"
    assert by_path.loc["FULL/male8/excerpts/straight/row_straight.wav", "singer"] == "m8"
    row = by_path.loc["FULL/female1/scales/vibrato/f1_vibrato_scales_e.wav"]
    assert (row["context"], row["technique"], row["vowel"]) == ("scales", "vibrato", "e")
    assert by_path.loc["FULL/male11/long_tones/vocal_fry/m11_long_vocal_fry_u.wav", "singer"] == "m11"
    assert set(table.loc[table["path"].str.contains("/male10/"), "singer"]) == {"m10"}
    # The duplicate and unknown singers are left out and listed; the 17-technique clips excluded and listed.
    listed = report.set_index("path")
    assert listed.loc["FULL/female2/scales/vibrato/f2_scales_vibrato_a(1).wav", "problem"] == "duplicate of another file"
    for name in ("caro_vibrato", "dona_vibrato", "row_vibrato", "slow_vibrato_arps"):
        assert listed.loc[f"FULL/female9/excerpts/vibrato/{name}.wav", "problem"] == "no known singer"
    assert (report["action"] == "excluded").sum() == 20  # fast_forte + messa of 10 singers
    # Held-out singers are the test split; the rest train/valid.
    assert set(table.loc[table["split"] == "test", "singer"]) == {"f2", "f8", "m3", "m5", "m10"}
    assert set(table.loc[table["split"] != "test", "split"]) == {"train", "valid"}
    # Paper A's 5 s clips: longer files cut, shorter ones zero-padded.
    for path in ("FULL/female1/arpeggios/belt/f1_arpeggios_belt_a.wav", "FULL/female2/arpeggios/belt/f2_arpeggios_belt_e.wav"):
        audio, sr = sf.read(tmp_path / "datasets/vocalset" / path)
        assert len(audio) == 5 * sr
    short, sr = sf.read(tmp_path / "datasets/vocalset/FULL/female1/arpeggios/belt/f1_arpeggios_belt_a.wav")
    assert np.all(short[3 * sr:] == 0) and np.any(short[: 3 * sr] != 0)  # 3 s source, padded
    np.testing.assert_allclose(table["duration_s"], 5.0)


def test_vocalset_17_techniques(tmp_path):
    vocalset.write_miniature(tmp_path / "src")
    archive = _archive_of(tmp_path / "src", tmp_path / "VocalSet11", "zip")
    table, report = _fetch_and_build("vocalset", archive, tmp_path, techniques=17, clip_seconds=None,
                                     test_singers=["f2"], valid_fraction=0.2, split_seed=42)
    assert {"fast_forte", "messa"} <= set(table["technique"])
    assert (report["action"] == "excluded").sum() == 0
    audio, sr = sf.read(tmp_path / "datasets/vocalset/FULL/female2/arpeggios/belt/f2_arpeggios_belt_e.wav")
    assert len(audio) == 6 * sr  # whole files kept


def test_librispeech(tmp_path):
    librispeech.write_miniature(tmp_path / "src")
    table, report = _fetch_and_build("librispeech", _archive_of(tmp_path / "src", tmp_path / "test-clean", "gztar"),
                                     tmp_path, test_fraction=0.34, valid_fraction=0.5)
    row = table.set_index("id").loc["121-121726-0001"]
    assert (row["speaker"], row["gender"], row["chapter"]) == ("121", "female", "121726")
    assert row["transcript"] == "HE BEGAN A CONFUSED COMPLAINT 1"
    assert table.set_index("id").loc["61-70968-0000", "gender"] == "male"
    assert table.groupby("speaker")["split"].nunique().eq(1).all()  # speaker-disjoint
    assert set(table["split"]) == {"train", "valid", "test"}
    assert report.empty


def test_esc50(tmp_path):
    esc50.write_miniature(tmp_path / "src")
    table, _ = _fetch_and_build("esc50", _archive_of(tmp_path / "src", tmp_path / "master", "zip"), tmp_path,
                                test_fold=5, valid_fold=4)
    assert len(table) == 10 and set(table["sound_class"]) == {"dog", "rain"}
    assert (table["split"] == np.where(table["fold"] == 5, "test", np.where(table["fold"] == 4, "valid", "train"))).all()
    assert table.set_index("id").loc["1-100039-A-0", "sound_class"] == "dog"


def test_nsynth(tmp_path):
    nsynth.write_miniature(tmp_path / "src")
    table, _ = _fetch_and_build("nsynth", _archive_of(tmp_path / "src", tmp_path / "nsynth-test.jsonwav", "gztar"),
                                tmp_path, test_fraction=0.34, valid_fraction=0.5)
    row = table.set_index("id").loc["organ_electronic_001-069-127"]
    assert (row["pitch"], row["velocity"], row["instrument_family"], row["pitch_class"]) == (69, 127, "organ", "A")
    assert row["f0_hz"] == pytest.approx(440.0)
    assert table.groupby("instrument")["split"].nunique().eq(1).all()  # instrument-disjoint


def test_vocalsound(tmp_path):
    vocalsound.write_miniature(tmp_path / "src")
    table, _ = _fetch_and_build("vocalsound", _archive_of(tmp_path / "src", tmp_path / "vs_release_16k", "zip"), tmp_path)
    by_id = table.set_index("id")
    assert by_id.loc["m0042_0_sniff", ["split", "sound_class", "gender", "speaker"]].tolist() == ["test", "sniff", "male", "m0042"]
    assert by_id.loc["f0020_0_cough", "split"] == "valid"
    assert table["split"].value_counts().to_dict() == {"train": 6, "valid": 3, "test": 3}


# --------------------------------------------------------------------------
# Generated speech and non-speech


def test_speech_corpus(tmp_path):
    opts = dict(kind="speech_synth", speakers=["f1", "f4", "m2", "m5"], n_sentences=2, whisper=True, sample_rate=16000,
                test_speakers=["f4", "m5"], test_fraction=0.25, valid_fraction=0.5)
    kinds.prepare_dataset(tmp_path, opts, 0, progress=False)
    table, report = kinds.build_clip_table(tmp_path, opts, 0)
    assert len(table) == 4 * 2 * 2 and report.empty
    assert set(table.loc[table["split"] == "test", "speaker"]) == {"f4", "m5"}
    assert table.groupby("speaker")["gender"].first().to_dict() == {"f1": "female", "f4": "female", "m2": "male", "m5": "male"}
    assert table["transcript"].str.len().gt(10).all() and (table["speech"] == "speech").all()
    sizes = []
    for row in table.itertuples():
        audio, sr = sf.read(tmp_path / row.path)
        assert sr == 16000 and 1.0 < len(audio) / sr < 5.0
        sizes.append(len(audio))
        # Whispered speech has no voicing: far more high-frequency energy relative to low.
        spec = np.abs(np.fft.rfft(audio)) ** 2
        freqs = np.fft.rfftfreq(len(audio), 1 / sr)
        row_ratio = spec[freqs > 2000].sum() / spec[freqs < 1000].sum()
        table.loc[row.Index, "hf_ratio"] = row_ratio
    normal, whispered = table[~table["whispered"]], table[table["whispered"]]
    assert whispered["hf_ratio"].min() > normal["hf_ratio"].max()
    # Different speakers sound different: same sentence, different audio.
    a, _ = sf.read(tmp_path / "audio/f1/f1_normal_00.wav")
    b, _ = sf.read(tmp_path / "audio/m2/m2_normal_00.wav")
    assert len(a) != len(b) or not np.allclose(a, b)


def test_speech_corpus_is_the_same_in_every_process(tmp_path):
    """eSpeak's whisper and breath noise is seeded per utterance: two fresh processes write identical audio."""
    script = (
        "import hashlib, sys; from pathlib import Path; from audiosae.data.speech import generate_speech_corpus\n"
        "root = Path(sys.argv[1]); generate_speech_corpus(root, ['f1', 'm2'], n_sentences=2, seed=5, progress=False)\n"
        "print(hashlib.sha256(b''.join(f.read_bytes() for f in sorted(root.rglob('*.wav')))).hexdigest())\n"
    )
    digests = {subprocess.run([sys.executable, "-c", script, str(tmp_path / str(i))], capture_output=True, text=True,
                              check=True).stdout.strip() for i in range(2)}
    assert len(digests) == 1 and len(digests.pop()) == 64


def test_speech_and_nonspeech_in_one_dataset(tmp_path):
    opts = dict(kind="speech_nonspeech_synth", speakers=["f1", "f4", "m2", "m5"], n_sentences=1, whisper=True,
                sample_rate=16000, test_speakers=["m5"], test_fraction=0.34, valid_fraction=0.34,
                classes=["laughter", "tone", "silence"], clips_per_class=3, duration_s=0.5)
    kinds.prepare_dataset(tmp_path, opts, 0, progress=False)
    table, report = kinds.build_clip_table(tmp_path, opts, 0)
    assert report.empty and len(table) == 4 * 2 + 3 * 3
    speech, other = table[table["speech"] == "speech"], table[table["speech"] == "non-speech"]
    assert len(speech) == 8 and (speech["transcript"].str.len() > 10).all() and speech["whispered"].sum() == 4
    assert (other["transcript"] == "").all() and (other["gender"] == "").all() and not other["whispered"].any()
    # Speakers stay whole in one split (m5 held out); every sound class is in every split.
    assert set(speech.loc[speech["split"] == "test", "speaker"]) == {"m5"}
    assert (speech.groupby("speaker")["split"].nunique() == 1).all()
    assert (other.groupby("sound_class")["split"].nunique() == 3).all()
    assert set(table["sound_class"]) == {"speech", "whispered_speech", "laughter", "tone", "silence"}
    assert kinds.get_kind("speech_nonspeech_synth").transcripts and not kinds.get_kind("nonspeech_synth").transcripts
    for row in table.itertuples():
        assert sf.info(str(tmp_path / row.path)).samplerate == 16000


def test_nonspeech_corpus(tmp_path):
    opts = dict(kind="nonspeech_synth", classes=None, clips_per_class=3, duration_s=0.5, sample_rate=16000,
                test_fraction=0.34, valid_fraction=0.34)
    kinds.prepare_dataset(tmp_path, opts, 0, progress=False)
    table, _ = kinds.build_clip_table(tmp_path, opts, 0)
    assert len(table) == 12 * 3 and (table["transcript"] == "").all() and (table["speech"] == "non-speech").all()
    assert (table.groupby("sound_class")["split"].nunique() == 3).all()
    level = {}
    for row in table.itertuples():
        audio, sr = sf.read(tmp_path / row.path)
        assert len(audio) == 8000 and sr == 16000
        level[row.sound_class] = 20 * np.log10(np.sqrt(np.mean(audio**2)) + 1e-12)
    assert level["silence"] < -70 and all(-35 < v < -10 for k, v in level.items() if k != "silence")
    tone = table[table["sound_class"] == "tone"].iloc[0]
    audio, sr = sf.read(tmp_path / tone["path"])
    peak = np.fft.rfftfreq(len(audio), 1 / sr)[np.argmax(np.abs(np.fft.rfft(audio)))]
    assert peak == pytest.approx(tone["f0_hz"], abs=3.0)
    # Spectral slope orders white > pink > brown.
    def slope(cls):
        audio, _ = sf.read(tmp_path / table[table["sound_class"] == cls].iloc[0]["path"])
        spec = np.abs(np.fft.rfft(audio)) ** 2
        f = np.fft.rfftfreq(len(audio), 1 / 16000)
        keep = (f > 50) & (f < 6000)
        return np.polyfit(np.log(f[keep]), np.log(spec[keep] + 1e-20), 1)[0]
    assert slope("white_noise") > slope("pink_noise") > slope("brown_noise")


# --------------------------------------------------------------------------
# Your own folder, and bad input


def _own_folder(tmp_path: Path, n: int = 6) -> tuple[Path, Path]:
    folder = tmp_path / "my_audio"
    (folder / "sub").mkdir(parents=True)
    rows = []
    rng = np.random.default_rng(0)
    for i in range(n):
        name = f"sub/clip{i}.wav" if i % 2 else f"clip{i}.wav"
        sf.write(folder / name, 0.1 * rng.standard_normal(4000), 16000)
        rows.append(dict(file=name, emotion="happy" if i % 2 else "sad", speaker=f"s{i % 3}"))
    labels = tmp_path / "labels.csv"
    pd.DataFrame(rows).to_csv(labels, index=False)
    return folder, labels


def _folder_opts(folder, labels, **extra):
    return {**dict(kind="folder", path=str(folder), labels=str(labels), file_column="file", label_columns=None,
                   required_labels=None, group_column=None, test_fraction=0.34, valid_fraction=0.34,
                   on_bad_audio="error", min_duration_s=0.1), **extra}


def test_own_folder(tmp_path):
    folder, labels = _own_folder(tmp_path)
    root = tmp_path / "datasets/mine"
    opts = _folder_opts(folder, labels, group_column="speaker")
    kinds.prepare_dataset(root, opts, 0)
    assert (root / "audio").is_symlink() and (root / "audio").resolve() == folder.resolve()
    table, report = kinds.build_clip_table(root, opts, 0)
    assert table["path"].tolist()[:2] == ["audio/clip0.wav", "audio/sub/clip1.wav"]
    assert table["id"].tolist()[:2] == ["clip0", "sub__clip1"]
    assert table.set_index("id").loc["sub__clip1", "emotion"] == "happy"
    assert table.groupby("speaker")["split"].nunique().eq(1).all() and set(table["split"]) == {"train", "valid", "test"}
    # A split column in the CSV is used as given.
    df = pd.read_csv(labels)
    df["split"] = ["train", "train", "valid", "test", "train", "test"]
    df.to_csv(labels, index=False)
    table, _ = kinds.build_clip_table(root, opts, 0)
    assert table["split"].tolist() == df["split"].tolist()


def _break(folder: Path) -> dict[str, str]:
    """Bad files of every sort in the folder; returns {file: words the message must contain}."""
    (folder / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage that is not audio")
    (folder / "empty.wav").write_bytes(b"")
    sf.write(folder / "short.wav", np.zeros(160), 16000)
    sf.write(folder / "zero_frames.wav", np.zeros(0), 16000)
    sf.write(folder / "low_rate.wav", 0.1 * np.ones(4000), 2000)
    sf.write(folder / "stereo.wav", 0.1 * np.ones((4000, 2)), 16000)
    return {"corrupt.wav": "cannot read audio", "empty.wav": "file is empty", "short.wav": "shorter than the minimum",
            "zero_frames.wav": "no samples", "low_rate.wav": "sample rate 2000 Hz"}


def test_bad_input_errors_name_every_file(tmp_path):
    folder, labels = _own_folder(tmp_path)
    bad = _break(folder)
    df = pd.read_csv(labels)
    extra = [dict(file=f, emotion="sad", speaker="s0") for f in [*bad, "stereo.wav", "missing.wav"]]
    extra.append(dict(file="unlabelled_in_csv.wav", emotion="", speaker="s1"))
    sf.write(folder / "unlabelled_in_csv.wav", 0.1 * np.ones(4000), 16000)
    pd.concat([df, pd.DataFrame(extra)]).to_csv(labels, index=False)
    sf.write(folder / "not_in_csv.wav", 0.1 * np.ones(4000), 16000)
    root = tmp_path / "datasets/mine"
    opts = _folder_opts(folder, labels)
    kinds.prepare_dataset(root, opts, 0)
    # One error names every bad file, the unlisted one too, by the path in the user's own folder.
    with pytest.raises(AudioError) as err:
        kinds.build_clip_table(root, opts, 0)
    message = str(err.value)
    assert "8 unusable clips" in message
    for name, words in {**bad, "missing.wav": "does not exist", "unlabelled_in_csv.wav": "missing label 'emotion'",
                        "not_in_csv.wav": "not in the label table"}.items():
        line = next(line for line in message.splitlines() if name in line)
        assert words in line and str(folder.resolve() / name) in line, line
    assert "stereo.wav" not in message

    # skip: the same clips are left out and listed in the report; the stereo file is kept with a note.
    table, report = kinds.build_clip_table(root, {**opts, "on_bad_audio": "skip"}, 0)
    assert len(table) == 6 + 1 and "audio/stereo.wav" in set(table["path"])
    skipped = report[report["action"] == "skipped"]
    assert set(skipped["path"]) == {f"audio/{n}" for n in [*bad, "missing.wav", "unlabelled_in_csv.wav", "not_in_csv.wav"]}
    assert report.set_index("path").loc["audio/stereo.wav", "problem"] == "2 channels, averaged to mono when loaded"


def test_bad_labels_csv_is_named(tmp_path):
    folder, labels = _own_folder(tmp_path)
    root = tmp_path / "datasets/mine"
    kinds.prepare_dataset(root, _folder_opts(folder, labels), 0)
    with pytest.raises(ValueError, match=r"labels\.csv: no column 'filename'"):
        kinds.build_clip_table(root, _folder_opts(folder, labels, ) | {"file_column": "filename"}, 0)
    df = pd.read_csv(labels)
    df.loc[0, "file"] = "../escape.wav"
    df.to_csv(labels, index=False)
    with pytest.raises(ValueError, match="stay inside it"):
        kinds.build_clip_table(root, _folder_opts(folder, labels), 0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        kinds.prepare_dataset(tmp_path / "x", _folder_opts(tmp_path / "nowhere", labels), 0)
