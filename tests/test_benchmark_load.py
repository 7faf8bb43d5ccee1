"""The pure helpers of benchmarks/load.py (the benchmark itself is run by hand, not by the tests)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from audiosae.sae.data import RowStream


@pytest.fixture(scope="module")
def load_bench():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "load.py"
    spec = importlib.util.spec_from_file_location("benchmark_load", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_memory_batches_follow_rowstream_order_when_the_buffer_holds_every_row(load_bench):
    data = np.random.default_rng(0).standard_normal((1000, 8)).astype(np.float32)
    stream = RowStream(data, [(0, 1000)], batch_size=96, seed=3, memory_mb=1.0)
    assert stream.buffer_rows == 1000
    mine = load_bench.memory_batches(torch.from_numpy(data), 96, seed=3)
    theirs = stream.batches(0)
    for _ in range(25):  # past the end of the first fill (10 batches per fill)
        assert torch.equal(next(mine), next(theirs))
    assert torch.equal(next(load_bench.memory_batches(torch.from_numpy(data), 96, 3, start_step=13)),
                       next(stream.batches(13)))


def test_clip_count_and_splits(load_bench):
    assert load_bench.n_clips_for(1.0, 30.0) == 120
    assert load_bench.n_clips_for(0.02, 30.0) == 3
    splits = [load_bench.clip_split(i, 120) for i in range(120)]
    assert splits.count("test") == 12 and splits[9] == "test" and splits[0] == "train"
    assert [load_bench.clip_split(i, 3) for i in range(3)] == ["train", "train", "test"]


def test_rss_at_reads_the_window(load_bench):
    samples = [(float(t), 100.0 + t, 50.0, None) for t in range(11)]
    assert load_bench.rss_at(samples) == {"10%": 101.0, "50%": 105.0, "90%": 109.0, "max": 110.0}
    assert load_bench.rss_at(samples, t0=0, t1=5) == {"10%": 100.0, "50%": 102.0, "90%": 104.0, "max": 105.0}
    assert load_bench.rss_at(samples, column=2)["max"] == 50.0
    assert load_bench.default_limit_mb(32) == 672
