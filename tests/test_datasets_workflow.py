"""The data rules as a user runs them: a downloaded kind (VocalSet, from a miniature archive on a local
file:// mirror with its checksum), a generated kind and your own folder, through download, extraction,
generation, linking and the clip table. Each kind's parser is tested in test_datasets.py."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from audiosae.data import vocalset
from audiosae.data.download import file_digests

REPO = Path(__file__).resolve().parents[1]


def _snakemake(*args, cwd):
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("data_study")
    mirror = tmp / "mirror"
    archives = {}
    src = tmp / "src" / "VocalSet11"
    vocalset.write_miniature(src)
    archives["VocalSet11"] = Path(shutil.make_archive(str(mirror / "VocalSet11"), "zip", src))
    own = tmp / "own"
    own.mkdir()
    for i in range(4):
        sf.write(own / f"c{i}.wav", 0.1 * np.random.default_rng(i).standard_normal(8000), 16000)
    (own / "bad.wav").write_bytes(b"not audio")
    pd.DataFrame({"file": [f"c{i}.wav" for i in range(4)] + ["bad.wav"], "mood": ["a", "b", "a", "b", "a"],
                  "split": ["train", "train", "valid", "test", "test"]}).to_csv(tmp / "own.csv", index=False)

    cfg = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    cfg["datasets"] = {
        "vs": {"kind": "vocalset", "url": archives["VocalSet11"].as_uri(), "md5": file_digests(archives["VocalSet11"])["md5"],
               "test_singers": ["f2", "m3"]},
        "speech": {"kind": "speech_synth", "speakers": ["f1", "m1", "m2"], "n_sentences": 2, "test_speakers": ["m2"]},
        "mine": {"kind": "folder", "path": str(own), "labels": str(tmp / "own.csv"), "on_bad_audio": "skip"},
    }
    cfg.update(stability={"datasets": None}, concepts={"datasets": None}, steering={"enabled": False})  # they name test.yaml's datasets
    config = tmp / "data.yaml"
    config.write_text(yaml.safe_dump(cfg))
    targets = [f"resources/datasets/{name}/clips.csv" for name in cfg["datasets"]]
    work = tmp / "work"
    out = _snakemake("--cores", "2", "--configfile", str(config), "--directory", str(work), "-s", str(REPO / "Snakefile"), *targets, cwd=REPO)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return work, config, cfg


def test_every_kind_makes_a_clip_table(study):
    work, _, cfg = study
    for name in cfg["datasets"]:
        clips = pd.read_csv(work / f"resources/datasets/{name}/clips.csv", keep_default_na=False)
        assert {"id", "path", "split"} <= set(clips.columns), name
        assert clips["split"].isin(["train", "valid", "test"]).all(), name
        assert all((work / "resources/datasets" / name / p).is_file() for p in clips["path"]), name
    vs = pd.read_csv(work / "resources/datasets/vs/clips.csv")
    assert set(vs.loc[vs["split"] == "test", "singer"]) == {"f2", "m3"} and (vs["duration_s"] == 5.0).all()
    speech = pd.read_csv(work / "resources/datasets/speech/clips.csv")
    assert len(speech) == 3 * 2 * 2 and set(speech.loc[speech["split"] == "test", "speaker"]) == {"m2"}
    # Downloads are kept, verified, under resources/downloads/ with their real names.
    names = sorted(p.name for p in (work / "resources/downloads").iterdir())
    assert names == ["VocalSet11.zip"]


def test_bad_file_is_skipped_and_reported(study):
    work, _, _ = study
    clips = pd.read_csv(work / "resources/datasets/mine/clips.csv")
    assert clips["path"].tolist() == [f"audio/c{i}.wav" for i in range(4)]
    report = pd.read_csv(work / "resources/datasets/mine/clip_report.csv")
    assert report["path"].tolist() == ["audio/bad.wav"] and report["action"].tolist() == ["skipped"]
    assert "cannot read audio" in report["problem"].item()
    assert (work / "resources/datasets/mine/audio").is_symlink()


def test_wrong_checksum_stops_the_download(study, tmp_path):
    _, config, cfg = study
    cfg = {**cfg, "datasets": {"vs": {**cfg["datasets"]["vs"], "md5": "0" * 32}}}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    out = _snakemake("--cores", "1", "--configfile", str(bad), "--directory", str(tmp_path / "w"), "-s", str(REPO / "Snakefile"),
                     "resources/datasets/vs/clips.csv", cwd=REPO)
    assert out.returncode != 0
    log = (tmp_path / "w/results/logs/data/download_VocalSet11.zip.log").read_text()
    assert "VocalSet11.zip.part: md5" in log and "does not match the expected 00000000" in log
    assert not (tmp_path / "w/resources/downloads/VocalSet11.zip").exists()


def test_rerun_does_nothing(study):
    work, config, cfg = study
    targets = [f"resources/datasets/{name}/clips.csv" for name in cfg["datasets"]]
    out = _snakemake("-n", "--cores", "1", "--configfile", str(config), "--directory", str(work), "-s", str(REPO / "Snakefile"), *targets, cwd=REPO)
    assert "Nothing to be done" in out.stdout + out.stderr
