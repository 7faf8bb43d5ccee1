"""The SAE engine: variants, the sparse backward, streaming from HDF5, checkpoint/resume, checkpoint format."""
import json
import tracemalloc

import h5py
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from audiosae.sae.data import RowStream, sequential_batches
from audiosae.sae.io import load_sae, save_sae
from audiosae.sae.metrics import MetricAccumulator, fvu, sae_metrics
from audiosae.sae.model import BatchTopKSAE, JumpReLUSAE, ReLUSAE, TopKSAE, build_sae
from audiosae.sae.sparse import sparse_decode
from audiosae.sae.train import TrainConfig, geometric_median, random_batches, train_sae
from test_sae import planted_dictionary


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_sparse_decode_gradients_equal_dense_autograd():
    torch.manual_seed(0)
    B, d, m, k = 40, 12, 50, 4
    x = torch.randn(B, d, dtype=torch.float64)
    params = [torch.randn(s, dtype=torch.float64, requires_grad=True) for s in ((d, m), (m,), (m, d), (d,))]
    W_enc, b_enc, W_dec, b_dec = params
    g = torch.randn(B, d, dtype=torch.float64)
    pre = (x - b_dec) @ W_enc + b_enc
    v, i = pre.topk(k, dim=1)
    dense = torch.zeros_like(pre).scatter(1, i, v.clamp_min(0)) @ W_dec + b_dec
    want = torch.autograd.grad((dense * g).sum(), params)
    rows = torch.arange(B).repeat_interleave(k)
    out = sparse_decode(x - b_dec, W_enc, b_enc, W_dec, rows, i.reshape(-1), v.detach().reshape(-1)) + b_dec
    got = torch.autograd.grad((out * g).sum(), params)
    assert torch.allclose(out, dense, atol=1e-12)
    for a, b in zip(want, got):
        assert torch.allclose(a, b, atol=1e-10)


# Stated targets on the planted problem (128 unit atoms in 32-d, 4 active per row, 1% noise), measured
# values in the comments: every variant finds (nearly) all atoms.
@pytest.mark.parametrize(
    "variant, sparsity, max_fvu, l0_range",
    [
        ("topk", 4, 0.16, (4, 4)),  # fvu 0.121, all 128 atoms
        ("batchtopk", 4, 0.2, (3, 5)),  # fvu 0.160, L0 3.9 with the inference threshold, all atoms
        ("relu", 0.3, 0.27, (2, 12)),  # L1 weight 0.3: fvu 0.218, L0 8.2, all atoms
        ("jumprelu", 4, 0.3, (1.5, 6)),  # target L0 4: fvu 0.238, L0 2.2, all atoms
    ],
)
def test_variant_recovers_planted_atoms(variant, sparsity, max_fvu, l0_range):
    x, atoms = planted_dictionary()
    sae = build_sae(variant, 32, 256, sparsity)
    cfg = TrainConfig(steps=600, batch_size=256, lr=3e-3, dead_after_rows=20_000, seed=0)
    scale, history = train_sae(sae, lambda s: random_batches(x, 256, 0, s), x, cfg, progress=False)
    with torch.no_grad():
        xs = x * scale
        codes = sae.encode(xs)
        assert fvu(xs, sae.decode(codes)) < max_fvu
        l0 = float((codes > 0).float().sum(1).mean())
        best = (atoms @ sae.W_dec.T).max(dim=1).values
    assert l0_range[0] <= l0 <= l0_range[1]
    assert (best > 0.9).float().mean() > 0.9  # most planted atoms have a decoder row within ~25 degrees
    assert history[-1]["fvu"] < history[0]["fvu"]


@pytest.mark.parametrize("variant, sparsity", [("topk", 4), ("batchtopk", 4), ("relu", 0.3), ("jumprelu", 4)])
def test_resume_after_interruption_gives_identical_weights(tmp_path, variant, sparsity):
    x, _ = planted_dictionary(n=1200)
    cfg = TrainConfig(steps=40, batch_size=64, lr=1e-3, seed=5, checkpoint_every=10, dead_after_rows=500)
    batches = lambda s: random_batches(x, 64, 5, s)
    full = build_sae(variant, 32, 64, sparsity)
    scale_full, hist_full = train_sae(full, batches, x, cfg, progress=False)
    ckpt = tmp_path / "state.safetensors"
    part = build_sae(variant, 32, 64, sparsity)
    train_sae(part, batches, x, cfg, progress=False, checkpoint=ckpt, stop_after=25)  # killed after step 25; last save at 20
    assert ckpt.exists()
    resumed = build_sae(variant, 32, 64, sparsity)  # a fresh process: nothing but the checkpoint
    scale_res, hist_res = train_sae(resumed, batches, x, cfg, progress=False, checkpoint=ckpt)
    assert scale_res == scale_full
    for (name, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    assert hist_res == hist_full


def test_stream_from_hdf5_larger_than_memory_budget(tmp_path):
    rng = np.random.default_rng(0)
    n, d = 120_000, 32  # 15 MiB of float32 rows on disk, against a 1 MiB buffer
    atoms = rng.standard_normal((64, d)).astype(np.float32)
    idx = rng.integers(0, 64, size=(n, 3))
    data = (atoms[idx] * rng.uniform(0.5, 2, (n, 3, 1)).astype(np.float32)).sum(1)
    path = tmp_path / "acts.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("layers/0", data=data, chunks=(512, d))
    ranges = [(0, 50_000), (60_000, 120_000)]  # rows 50k..60k belong to held-out clips
    with h5py.File(path, "r") as h5:
        ds = h5["layers/0"]
        stream = RowStream(ds, ranges, batch_size=256, seed=0, memory_mb=1.0)
        assert stream.n_rows == 110_000 and stream.buffer_rows * d * 4 <= 2**20
        tracemalloc.start()
        seen = []
        it = stream.batches()
        for _ in range(200):  # several refills
            seen.append(next(it))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 2 * 2**20  # numpy buffers are traced: memory stays within the budget
        rows = torch.cat(seen)
        assert not any(torch.equal(rows[0], torch.from_numpy(data[j])) for j in range(50_000, 50_010))
        # every streamed row is a real training row (none from the held-out range)
        held = torch.from_numpy(data[50_000:60_000])
        assert torch.cdist(rows[:500], held).min() > 0
        # the batch of step t does not depend on where the stream started
        assert torch.equal(next(stream.batches(150)), seen[150])
        sae = TopKSAE(d, 128, 3)
        cfg = TrainConfig(steps=150, batch_size=256, lr=3e-3, seed=0)
        scale, history = train_sae(sae, stream.batches, stream.sample(20_000), cfg, progress=False)
        acc = MetricAccumulator(128)
        with torch.no_grad():
            for xb in sequential_batches(ds, [(50_000, 60_000)], 2048):
                c = sae.encode(xb * scale)
                acc.update(xb * scale, sae.decode(c), c)
    assert history[-1]["fvu"] < 0.5 * history[0]["fvu"]
    assert acc.result()["n_rows"] == 10_000 and acc.result()["fvu"] < 0.5


def test_metric_accumulator_matches_pure_functions():
    torch.manual_seed(0)
    x, x_hat = torch.randn(300, 5), torch.randn(300, 5)
    codes = torch.relu(torch.randn(300, 9)) * (torch.rand(300, 9) < 0.3)
    acc = MetricAccumulator(9)
    for s in range(0, 300, 70):
        acc.update(x[s : s + 70], x_hat[s : s + 70], codes[s : s + 70])
    got, want = acc.result(), sae_metrics(x, x_hat, codes)
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-7), key


def test_geometric_median_resists_outliers():
    x = torch.cat([torch.randn(200, 3) * 0.1 + torch.tensor([1.0, 2.0, 3.0]), torch.full((20, 3), 100.0)])
    gm = geometric_median(x)
    assert torch.allclose(gm, torch.tensor([1.0, 2.0, 3.0]), atol=0.1)
    assert (x.mean(0) - torch.tensor([1.0, 2.0, 3.0])).norm() > 10


@pytest.mark.parametrize(
    "variant, sparsity, architecture, extra",
    [("topk", 4, "topk", {"k": 4}), ("batchtopk", 4, "jumprelu", {"k": 4}),
     ("relu", 0.3, "standard", {"l1_coefficient": 0.3}), ("jumprelu", 4, "jumprelu", {"target_l0": 4.0})],
)
def test_checkpoint_format_for_every_variant(tmp_path, variant, sparsity, architecture, extra):
    """The documented format (DESIGN.md; sae-lens's on-disk layout): tensor names and shapes, cfg keys."""
    x, _ = planted_dictionary(n=600)
    x = x * 20.0
    sae = build_sae(variant, 32, 48, sparsity)
    scale, _ = train_sae(sae, lambda s: random_batches(x, 64, 0, s), x, TrainConfig(steps=30, batch_size=64, lr=1e-3), progress=False)
    meta = {"layer": 2, "model": "m", "dataset": "d", "seed": 0, "sparsity": sparsity, "train_on": "frames"}
    save_sae(sae, tmp_path, meta, scale)
    state = load_file(str(tmp_path / "sae_weights.safetensors"))
    shapes = {"W_enc": (32, 48), "b_enc": (48,), "W_dec": (48, 32), "b_dec": (32,)}
    if architecture == "jumprelu":
        shapes["threshold"] = (48,)
    assert {k: tuple(v.shape) for k, v in state.items()} == shapes
    assert all(v.dtype == torch.float32 for v in state.values())
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    assert cfg["architecture"] == architecture and cfg["variant"] == variant
    assert cfg["d_in"] == 32 and cfg["d_sae"] == 48 and cfg["apply_b_dec_to_input"] is True
    assert cfg["normalize_activations"] == "none" and cfg["dtype"] == "float32" and cfg["input_scale_folded"] is True
    for key in ("sparsity", "seed", "train_on", "layer"):
        assert cfg[key] == meta[key]
    for key, value in extra.items():
        assert cfg[key] == value
    loaded, loaded_cfg = load_sae(tmp_path)
    assert type(loaded) is type(sae) and loaded_cfg["variant"] == variant
    with torch.no_grad():
        # Saved SAE on raw x == trained SAE on scaled x, mapped back; codes are unchanged by the folding.
        assert torch.allclose(loaded.encode(x), sae.encode(x * scale), atol=1e-5)
        assert torch.allclose(loaded(x), sae(x * scale) / scale, rtol=1e-4, atol=1e-4)
        # The inference rule sae-lens applies for the exported architecture gives the same codes.
        pre = (x - state["b_dec"]) @ state["W_enc"] + state["b_enc"]
        if architecture == "topk":
            v, i = pre.topk(4, dim=1)
            ref = torch.zeros_like(pre).scatter(1, i, v.relu())
        elif architecture == "jumprelu":
            ref = pre.relu() * (pre > state["threshold"])
        else:
            ref = pre.relu()
        assert torch.allclose(loaded.encode(x), ref, atol=1e-5)


# Loading every variant with the real sae-lens package (SAE.load_from_disk, encode equal to ours): tests/test_interop.py.
