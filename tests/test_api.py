"""The Python API and the ``audiosae`` command: load an SAE with its model, encode an audio file, top features,
export; errors name the missing file. Real Whisper tiny.en weights (converted once per session), SAEs built here."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiosae import api
from audiosae.cli import main
from audiosae.data.audio import load_audio
from audiosae.models.registry import load_activation_model
from audiosae.models.whisper import real_frame_count
from audiosae.sae.io import load_sae, save_sae
from audiosae.sae.model import build_sae

MODEL = "whisper_tiny_en"
LAYER = 2
SR = 22050  # not the model's rate: the API resamples as the workflow does
DURATION = 1.3


def make_sae(folder, train_on="frames", d_in=384, variant="topk", sparsity=16):
    """A random SAE as the workflow would save it for tiny.en's layer 2 (untrained: the API only applies it)."""
    gen = torch.Generator().manual_seed(1)
    sae = build_sae(variant, d_in, 512, sparsity)
    sae.init_weights(gen)
    with torch.no_grad():
        sae.b_enc.copy_(torch.randn(512, generator=gen) * 0.05)
        sae.b_dec.copy_(torch.randn(d_in, generator=gen) * 0.1)
    meta = {"sweep": "main", "dataset": "test", "model": MODEL, "expansion": 1.33, "hook_name": f"encoder.layers.{LAYER}",
            "layer": LAYER, "sparsity": sparsity, "seed": 0, "train_on": train_on}
    save_sae(sae, folder, meta, scale=0.5)
    return folder


def assert_ranked(features, values, n):
    """``features`` are the top ``n`` of ``values`` (strongest first, ties within float tolerance either way)."""
    features = list(features)
    assert len(features) == min(n, int((values > 0).sum()))
    got = values[features]
    assert (np.diff(got) <= 1e-6).all(), got
    rest = np.delete(values, features)
    assert rest.size == 0 or got[-1] >= rest.max() - 1e-6


@pytest.fixture(scope="module")
def study(tmp_path_factory, real_whisper_tiny_en_dir):
    """A study folder as the workflow leaves it: resources/models/<model> and two SAEs under results/sae."""
    root = tmp_path_factory.mktemp("study")
    (root / "resources" / "models").mkdir(parents=True)
    (root / "resources" / "models" / MODEL).symlink_to(real_whisper_tiny_en_dir, target_is_directory=True)
    base = root / "results" / "sae" / "test" / MODEL / f"layer{LAYER}" / "main"
    frames = make_sae(base / "topk-x1.33-s16-seed0")
    means = make_sae(base / "topk-x1.33-s16-seed1", train_on="clip_means")
    t = np.arange(int(SR * DURATION)) / SR
    rng = np.random.default_rng(0)
    tone = 0.3 * np.sin(2 * np.pi * 330 * t) * (t < 0.6) + 0.2 * np.sin(2 * np.pi * 880 * t) * (t >= 0.6)
    wav = root / "clip.wav"
    sf.write(wav, (tone + 0.01 * rng.standard_normal(t.size)).astype(np.float32), SR)
    return {"root": root, "frames": frames, "means": means, "wav": wav, "model_dir": real_whisper_tiny_en_dir}


@pytest.fixture(scope="module")
def by_hand(study):
    """Layer-2 activations of the clip and the two SAEs' codes, computed without the API."""
    reader = load_activation_model(MODEL, study["model_dir"])
    audio = load_audio(study["wav"], reader.sample_rate)
    (acts,) = reader.layer_activations([audio], [LAYER])[0]
    frames_sae, _ = load_sae(study["frames"])
    means_sae, _ = load_sae(study["means"])
    with torch.no_grad():
        return {"acts": acts, "frame_codes": frames_sae.encode(acts).numpy(),
                "mean_frame_codes": means_sae.encode(acts).numpy(),
                "clip_code": means_sae.encode(acts.mean(0, keepdim=True)).numpy()}


@pytest.fixture(scope="module")
def loaded(study):
    return api.load(study["frames"], model_dir=study["model_dir"])


def test_load_finds_the_studys_model_and_checks_it(study, loaded, monkeypatch, tmp_path):
    sae, cfg, reader = loaded
    assert sae.d_in == 384 and cfg["layer"] == LAYER and cfg["model"] == MODEL and reader.dim(LAYER) == 384
    # No model_dir: resources/models/<model> of the study holding the SAE, from any current folder...
    monkeypatch.chdir(tmp_path)
    assert api.default_model_dirs(study["frames"], MODEL)[-1] == study["root"] / "resources" / "models" / MODEL
    assert api.load(study["frames"]).reader.model_dir == study["root"] / "resources" / "models" / MODEL
    # ... or of the current folder, tried first.
    monkeypatch.chdir(study["root"])
    assert api.default_model_dirs(study["frames"], MODEL) == [Path("resources/models") / MODEL]


def test_encode_file_equals_the_reader_and_sae_by_hand(study, by_hand, loaded):
    codes = api.encode_file(study["wav"], study["frames"], model_dir=study["model_dir"])
    n_frames = real_frame_count(int(round(DURATION * 16000)))
    assert codes.shape == (n_frames, 512) and codes.dtype == np.float32
    np.testing.assert_allclose(codes, by_hand["frame_codes"], atol=1e-6)
    assert ((codes != 0).sum(1) <= 16).all() and (codes != 0).any()
    # What load() returned stands for the folder (many files, one model load).
    np.testing.assert_array_equal(api.encode_file(study["wav"], loaded), codes)
    audio = load_audio(study["wav"], loaded.reader.sample_rate)
    np.testing.assert_array_equal(api.encode_audio(audio, loaded), codes)


def test_encode_file_of_a_clip_mean_sae_is_the_code_of_the_mean_frame(study, by_hand):
    m = api.load(study["means"], model_dir=study["model_dir"])
    codes = api.encode_file(study["wav"], m)
    assert codes.shape == (1, 512)
    np.testing.assert_allclose(codes, by_hand["clip_code"], atol=1e-6)
    np.testing.assert_allclose(api.encode_file(study["wav"], m, unit="frames"), by_hand["mean_frame_codes"], atol=1e-6)
    with pytest.raises(ValueError, match="unit must be one of frames, clip_means"):
        api.encode_file(study["wav"], m, unit="clips")


def test_top_features_columns_order_and_values(study, by_hand, loaded):
    table = api.top_features(study["wav"], loaded, n=7)
    assert list(table.columns) == api.TOP_COLUMNS and len(table) == 7
    codes = by_hand["frame_codes"]
    mean = codes.mean(0)
    assert_ranked(table["feature"], mean, 7)
    assert table["mean_activation"].is_monotonic_decreasing
    for row in table.itertuples():
        col = codes[:, row.feature]
        assert row.mean_activation == pytest.approx(col.mean(), rel=1e-5)
        assert row.max_activation == pytest.approx(col.max(), rel=1e-6)
        assert row.frac_active == pytest.approx((col != 0).mean())
        assert row.peak_time_s == pytest.approx(col.argmax() / 50.0)
    assert table["peak_time_s"].between(0, DURATION).all()
    # A clip-mean SAE is ranked by its code of the clip's mean frame, listed beside the frame statistics.
    means = api.top_features(study["wav"], study["means"], n=5, model_dir=study["model_dir"])
    assert list(means.columns) == api.TOP_COLUMNS + ["clip_activation"]
    clip = by_hand["clip_code"][0]
    assert_ranked(means["feature"], clip, 5)
    np.testing.assert_allclose(means["clip_activation"], clip[means["feature"]], rtol=1e-5)
    # Only active features are listed; n is an upper bound.
    assert len(api.top_features(study["wav"], loaded, n=10_000)) == int((mean > 0).sum())
    with pytest.raises(ValueError, match="n must be at least 1"):
        api.top_features(study["wav"], loaded, n=0)


def test_errors_name_the_missing_file(study, tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="nowhere: no such SAE folder"):
        api.load(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="cfg.json: missing"):
        api.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="no_model: no such model folder"):
        api.load(study["frames"], model_dir=tmp_path / "no_model")
    lone = make_sae(tmp_path / "lone")  # not in a study: only ./resources/models/<model> is tried
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"resources/models/whisper_tiny_en: no prepared whisper_tiny_en model folder"):
        api.load(lone)
    with pytest.raises(FileNotFoundError, match="missing.wav: no such audio file"):
        api.encode_file(tmp_path / "missing.wav", study["frames"], model_dir=study["model_dir"])
    (tmp_path / "noise.wav").write_bytes(b"not audio")
    with pytest.raises(ValueError, match="noise.wav: cannot read audio"):
        api.top_features(tmp_path / "noise.wav", study["frames"], model_dir=study["model_dir"])
    narrow = make_sae(tmp_path / "narrow", d_in=16)
    with pytest.raises(ValueError, match="layer 2 is 384 wide but the SAE .* takes d_in=16"):
        api.load(narrow, model_dir=study["model_dir"])
    cfg = json.loads((lone / "cfg.json").read_text())
    (lone / "cfg.json").write_text(json.dumps({**cfg, "layer": 9}))
    with pytest.raises(ValueError, match="has no layer 9"):
        api.load(lone, model_dir=study["model_dir"])


def test_cli_encode_top_features_export(study, by_hand, tmp_path, monkeypatch, capsys):
    out = tmp_path / "codes.npy"
    args = [str(study["frames"]), str(study["wav"]), "--model-dir", str(study["model_dir"])]
    assert main(["encode", *args, "--out", str(out)]) == 0
    np.testing.assert_allclose(np.load(out), by_hand["frame_codes"], atol=1e-6)
    assert f"wrote {out}: 65 x 512 codes" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)  # default output: <stem>.codes.npy here
    assert main(["encode", *args, "--unit", "clip_means"]) == 0
    assert np.load(tmp_path / "clip.codes.npy").shape == (1, 512)
    capsys.readouterr()
    assert main(["top-features", *args, "-n", "3", "--csv", str(tmp_path / "top.csv")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == api.TOP_COLUMNS and len(printed) == 4
    assert_ranked([int(line.split()[0]) for line in printed[1:]], by_hand["frame_codes"].mean(0), 3)
    assert (tmp_path / "top.csv").read_text().splitlines()[0] == ",".join(api.TOP_COLUMNS)
    assert main(["export", str(study["frames"]), str(tmp_path / "hub")]) == 0
    assert (tmp_path / "hub" / "README.md").read_text().startswith("---\nlibrary_name: saelens\n")
    assert "loads with sae_lens.SAE.load_from_disk" in capsys.readouterr().out


def test_cli_errors_are_one_line_naming_the_file(study, tmp_path, capsys):
    assert main(["encode", str(tmp_path / "nowhere"), str(study["wav"])]) == 1
    assert capsys.readouterr().err.strip() == f"audiosae encode: error: {tmp_path / 'nowhere'}: no such SAE folder"
    assert main(["top-features", str(study["frames"]), str(tmp_path / "gone.flac")]) == 1
    assert capsys.readouterr().err.strip() == f"audiosae top-features: error: {tmp_path / 'gone.flac'}: no such audio file"
    assert main(["top-features", str(study["frames"]), str(study["wav"]), "--model-dir", str(tmp_path / "m")]) == 1
    assert f"{tmp_path / 'm'}: no such model folder" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert main(["export", str(study["frames"]), str(tmp_path / "full")]) == 1
    assert "full: exists and is not empty" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["encode"])
    assert exc.value.code == 2


def test_cli_runs_as_a_module(study, by_hand, tmp_path):
    out = tmp_path / "codes.npy"
    proc = subprocess.run([sys.executable, "-m", "audiosae.cli", "encode", str(study["frames"]), str(study["wav"]),
                           "--out", str(out)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Loading weights" not in proc.stderr  # no progress bar
    np.testing.assert_allclose(np.load(out), by_hand["frame_codes"], atol=1e-6)
