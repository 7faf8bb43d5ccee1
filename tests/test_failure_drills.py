"""Failure drills: bad data in the middle of a job never leaves a file that looks finished."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from audiosae.models.extract import extract_activations
from audiosae.sae.model import TopKSAE
from audiosae.sae.train import TrainConfig, random_batches, train_topk


class NaNModel:
    """Stands in for a model whose activations blow up on one clip."""

    sample_rate, frame_rate, d_model, layers = 16000, 50.0, 4, [0, 1]

    class spec:
        name = "nan_model"

    def layer_activations(self, audios):
        out = []
        for a in audios:
            acts = torch.ones(2, max(1, len(a) // 320), 4)
            if len(a) > 16000:  # the long clip misbehaves
                acts[1, 3, 2] = float("nan")
            out.append(acts)
        return out


def test_nan_activations_stop_extraction_and_name_the_clip(tiny_clips, tmp_path):
    root, clips = tiny_clips
    out = tmp_path / "out" / "acts.h5"
    with pytest.raises(FloatingPointError, match=r"non-finite activations at layer 1 for clips \['c3'"):
        extract_activations(clips, root, NaNModel(), out, batch_size=2, progress=False)
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_nan_training_rows_stop_sae_training():
    x = torch.randn(64, 8)
    x[5, 3] = float("inf")
    with pytest.raises(FloatingPointError, match="SAE loss became"):
        train_topk(TopKSAE(8, 16, 2), random_batches(x, 64, 0), torch.randn(64, 8), TrainConfig(steps=3, batch_size=64), progress=False)


def test_atomic_outputs_follow_the_umask(tmp_path):
    import os

    from audiosae.io import atomic_dir, write_json

    old = os.umask(0o022)
    try:
        write_json({"a": 1}, tmp_path / "x.json")
        with atomic_dir(tmp_path / "d") as d:
            (d / "f").write_text("y")
    finally:
        os.umask(old)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755


def test_every_kind_of_output_is_readable_by_the_lab(tmp_path):
    """safetensors' save_file writes 0600 files of its own: SAE checkpoints, training states and converted model
    weights must still follow the umask like every other output."""
    from safetensors.torch import save_file

    from audiosae.io import atomic_dir, atomic_path, write_csv
    from audiosae.sae.io import save_sae
    from audiosae.sae.train import save_train_state

    old = os.umask(0o022)
    try:
        sae = TopKSAE(8, 16, 2)
        save_sae(sae, tmp_path / "sae", {"layer": 0})
        opt = torch.optim.Adam(sae.parameters())
        save_train_state(tmp_path / "state.safetensors", sae, opt, 1, 1.0, torch.zeros(16), [], TrainConfig())
        with atomic_dir(tmp_path / "model") as d:  # as the Whisper and CREPE converters write model.safetensors
            save_file({"w": torch.zeros(2)}, str(d / "model.safetensors"))
        with atomic_path(tmp_path / "raw.safetensors") as t:
            save_file({"w": torch.zeros(2)}, str(t))
        write_csv(pd.DataFrame({"a": [1]}), tmp_path / "t.csv")
    finally:
        os.umask(old)
    for rel in ("sae/sae_weights.safetensors", "sae/cfg.json", "state.safetensors", "model/model.safetensors",
                "raw.safetensors", "t.csv"):
        assert (tmp_path / rel).stat().st_mode & 0o777 == 0o644, rel


def test_killed_run_leaves_a_lock_that_unlock_clears(tmp_path):
    """The README's troubleshooting steps after a kill: the rerun stops with Snakemake's lock message; after
    `--unlock` the same command finishes the work."""
    import signal
    import subprocess
    import sys
    import time

    repo = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", str(repo / "config" / "test.yaml"),
           "--directory", str(tmp_path), "-s", str(repo / "Snakefile"), "resources/datasets/vocalset_tiny/clips.csv"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    locks = tmp_path / ".snakemake" / "locks"
    deadline = time.time() + 120
    while not (locks.exists() and any(locks.iterdir())) and time.time() < deadline:
        time.sleep(0.2)
    assert locks.exists() and any(locks.iterdir()), "snakemake never took its lock"
    os.killpg(proc.pid, signal.SIGKILL)  # a hard kill: no clean-up, the lock stays
    proc.wait()
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode != 0 and "Directory cannot be locked" in again.stdout + again.stderr
    assert subprocess.run(cmd + ["--unlock"], capture_output=True, text=True).returncode == 0
    done = subprocess.run(cmd + ["--rerun-incomplete"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(pd.read_csv(tmp_path / "resources/datasets/vocalset_tiny/clips.csv")) == 60

