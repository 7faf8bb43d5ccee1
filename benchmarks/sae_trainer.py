"""TopK SAE training speed: this engine against three peer libraries, same job, one run.

Job: real Whisper tiny.en layer-2 frames (generated singing, benchmarks/sae_data.py), d_in 384, d_sae 3072,
k 32, batch 4096, Adam lr 2e-4, 300 steps, 2 threads, the same shuffled batches for every trainer.
Every trainer runs Adam (betas 0.9, 0.999) at the constant lr, without warm-up or decay: sparsify as driven
below, sae_lens with lr_end = lr (constant scheduler), dictionary_learning with warmup_steps 0 and no
decay_start, and ours with warmup_frac = decay_frac = 0 (TrainConfig's defaults of 0.05 and 0.2 are the
studies' schedule, not this job's; at 300 steps they cost ~0.01 held-out FVU). Each keeps its own
initialisation, b_dec start, loss normalisation and dead-latent rule; ours also keeps its input scaling to unit
mean squared norm, AuxK (dead after 50k rows) and grad-norm clipping at 1.0, which never engages at that
input scale (FVU identical without it).
Each trainer runs in its own subprocess (peak memory = that process's max RSS). Reported per trainer:
rows/s over the timed steps, FVU of the final SAE on held-out frames (other singers), peak RSS, achieved
GFLOP/s = rows/s * 4 d_in d_sae (the flops of a dense encoder forward + dense weight gradient, so that
GFLOP/s / peak is the fraction of that bound), and os.getloadavg() at start and end.

Set-up of the peers, in a separate venv so that the project environment stays clean:

    python -m venv --system-site-packages "$PEERS_VENV"     # PEERS_VENV: a folder of your choice for the peers' venv
    "$PEERS_VENV/bin/pip" install -c <(echo torch==2.13.0) sae-lens dictionary-learning eai-sparsify
    "$PEERS_VENV/bin/pip" uninstall -y torchvision      # it breaks transformers imports (REFERENCE.md)

Run (a peer that the interpreter lacks is skipped with a message):

    python benchmarks/sae_data.py                                  # once: extract the frames (~6 min)
    WANDB_MODE=disabled python benchmarks/sae_trainer.py --python "$PEERS_VENV/bin/python"
    python benchmarks/sae_trainer.py --trainers ours,dense --steps 50  # quick look

Writes benchmarks/results/sae_trainer.json and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRAINERS = ("ours", "sparsify", "dictionary_learning", "sae_lens", "dense")
PEER_MODULE = {"sparsify": "sparsify", "dictionary_learning": "dictionary_learning", "sae_lens": "sae_lens"}


def matmul_peak(threads: int, d_in: int, d_sae: int, batch: int, repeats: int = 10) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(batch, d_in), torch.randn(d_in, d_sae)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * batch * d_in * d_sae / best / 1e9


# ----------------------------------------------------------------------------------- workers

def _data(args):
    import numpy as np
    import torch

    from audiosae.sae.train import random_batches

    train = torch.from_numpy(np.load(args.train))
    held = torch.from_numpy(np.load(args.held))
    return train, held, random_batches(train, args.batch, 0)


def _fvu(x, x_hat) -> float:
    return float((x - x_hat).pow(2).sum() / (x - x.mean(0)).pow(2).sum())


def _timed(step_fn, batches, steps: int) -> float:
    step_fn(next(batches))  # warm-up step (allocations), not timed
    t = time.perf_counter()
    for _ in range(steps - 1):
        step_fn(next(batches))
    return time.perf_counter() - t


def worker_ours(args, train, held, batches):
    import torch

    from audiosae.sae.model import TopKSAE
    from audiosae.sae.train import TrainConfig, train_sae

    sae = TopKSAE(args.d_in, args.d_sae, args.k)
    # the job's constant lr, as every peer runs it (no warm-up, no final decay); the rest are our defaults
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch, lr=args.lr, seed=0, warmup_frac=0.0, decay_frac=0.0)
    sample = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:20_000]]
    t0 = time.perf_counter()
    # the init (scale, geometric median) is included in the time: it is part of training
    timed = {}

    def counting():
        first = True
        for x in batches:
            if first:
                timed["t"] = time.perf_counter()
                first = False
            yield x

    scale, _ = train_sae(sae, counting(), sample, cfg, progress=False)
    elapsed = time.perf_counter() - timed["t"]
    with torch.no_grad():
        x_hat = torch.cat([sae(h * scale) / scale for h in held.split(8192)])
    return elapsed, args.steps, _fvu(held, x_hat), time.perf_counter() - t0


def worker_dense(args, train, held, batches):
    """A plain dense loop: dense codes, autograd, Adam; b_dec at the data mean."""
    import torch

    d_in, d_sae, k = args.d_in, args.d_sae, args.k
    W = torch.randn(d_sae, d_in)
    W /= W.norm(dim=1, keepdim=True)
    W_dec = torch.nn.Parameter(W.clone())
    W_enc = torch.nn.Parameter(W.T.clone())
    b_enc = torch.nn.Parameter(torch.zeros(d_sae))
    b_dec = torch.nn.Parameter(train[:20_000].mean(0))
    opt = torch.optim.Adam([W_enc, b_enc, W_dec, b_dec], lr=args.lr)

    def step(x):
        pre = torch.relu((x - b_dec) @ W_enc + b_enc)
        v, i = pre.topk(k, dim=1)
        codes = torch.zeros_like(pre).scatter(1, i, v)
        x_hat = codes @ W_dec + b_dec
        loss = (x_hat - x).pow(2).sum(1).mean() / (x - x.mean(0)).pow(2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            W_dec.div_(W_dec.norm(dim=1, keepdim=True))

    elapsed = _timed(step, batches, args.steps)
    with torch.no_grad():
        outs = []
        for h in held.split(8192):
            pre = torch.relu((h - b_dec) @ W_enc + b_enc)
            v, i = pre.topk(k, dim=1)
            outs.append(torch.zeros_like(pre).scatter(1, i, v) @ W_dec + b_dec)
    return elapsed, args.steps - 1, _fvu(held, torch.cat(outs)), None


def worker_sparsify(args, train, held, batches):
    """eai-sparsify's SparseCoder driven with its Trainer's per-step sequence (fvu + auxk loss, unit-norm
    decoder, parallel-gradient removal, Adam, dead-latent counts; b_dec at the first batch's mean)."""
    import torch
    from sparsify import SaeConfig, SparseCoder

    sae = SparseCoder(args.d_in, SaeConfig(k=args.k, num_latents=args.d_sae), device="cpu")
    opt = torch.optim.Adam(sae.parameters(), lr=args.lr)
    since_fired = torch.zeros(args.d_sae, dtype=torch.long)
    state = {"first": True}

    def step(x):
        if state["first"]:
            sae.b_dec.data = x.mean(0)
            state["first"] = False
        sae.set_decoder_norm_to_unit_norm()
        dead = since_fired > 10_000_000
        out = sae(x, dead_mask=dead)
        (out.fvu + out.auxk_loss / 32).backward()
        sae.remove_gradient_parallel_to_decoder_directions()
        opt.step()
        opt.zero_grad()
        since_fired.add_(x.shape[0])
        since_fired[out.latent_indices.flatten()] = 0

    elapsed = _timed(step, batches, args.steps)
    with torch.no_grad():
        x_hat = torch.cat([sae(h).sae_out for h in held.split(8192)])
    return elapsed, args.steps - 1, _fvu(held, x_hat), None


def worker_dictionary_learning(args, train, held, batches):
    import torch
    from dictionary_learning.trainers.top_k import AutoEncoderTopK, TopKTrainer
    from dictionary_learning.training import trainSAE

    timed = {}

    def data():
        for i in range(args.steps):
            if i == 1:
                timed["t"] = time.perf_counter()
            yield next(batches)

    cfg = {"trainer": TopKTrainer, "dict_class": AutoEncoderTopK, "activation_dim": args.d_in,
           "dict_size": args.d_sae, "k": args.k, "lr": args.lr, "steps": args.steps, "layer": 2,
           "lm_name": "whisper_tiny_en", "device": "cpu", "seed": 0, "warmup_steps": 0}
    # trainSAE returns nothing in 0.1.0: recover the trained dictionary from its trainer
    captured = {}
    real_init = TopKTrainer.__init__

    def spy(self, *a, **kw):
        real_init(self, *a, **kw)
        captured["trainer"] = self

    TopKTrainer.__init__ = spy
    try:
        trainSAE(data(), [cfg], steps=args.steps, device="cpu")
    finally:
        TopKTrainer.__init__ = real_init
    elapsed = time.perf_counter() - timed["t"]
    ae = captured["trainer"].ae
    with torch.no_grad():
        x_hat = torch.cat([ae(h) for h in held.split(8192)])
    return elapsed, args.steps - 1, _fvu(held, x_hat), None


def worker_sae_lens(args, train, held, batches):
    import torch
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.config import SAETrainerConfig
    from sae_lens.training.sae_trainer import SAETrainer

    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=args.d_in, d_sae=args.d_sae, k=args.k, device="cpu"))
    with torch.no_grad():
        sae.b_dec.copy_(train[:20_000].mean(0))  # b_dec at the data mean
    timed = {}

    def data():
        i = 0
        while True:
            if i == 1:
                timed["t"] = time.perf_counter()
            i += 1
            yield next(batches)

    cfg = SAETrainerConfig(total_training_samples=args.steps * args.batch, train_batch_size_samples=args.batch,
                           lr=args.lr, lr_end=args.lr, device="cpu", n_checkpoints=0)
    trainer = SAETrainer(cfg=cfg, sae=sae, data_provider=data())
    trained = trainer.fit()
    elapsed = time.perf_counter() - timed["t"]
    with torch.no_grad():
        x_hat = torch.cat([trained.decode(trained.encode(h)) for h in held.split(8192)])
    return elapsed, args.steps - 1, _fvu(held, x_hat), None


def run_worker(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load0 = os.getloadavg()
    train, held, batches = _data(args)
    elapsed, steps, fvu, total = globals()[f"worker_{args.worker}"](args, train, held, batches)
    rows_s = steps * args.batch / elapsed
    return {"trainer": args.worker, "rows_per_s": rows_s, "heldout_fvu": fvu, "timed_steps": steps,
            "seconds": elapsed, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "gflops": rows_s * 4 * args.d_in * args.d_sae / 1e9, "loadavg_start": load0, "loadavg_end": os.getloadavg(),
            "python": sys.executable, "torch": torch.__version__}


# ----------------------------------------------------------------------------------- driver

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", default=sys.executable, help="interpreter that has the peer libraries")
    ap.add_argument("--trainers", default=",".join(TRAINERS))
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--d-in", type=int, default=384)
    ap.add_argument("--d-sae", type=int, default=3072)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "sae_trainer.json")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--train", help=argparse.SUPPRESS)
    ap.add_argument("--held", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(run_worker(args)), flush=True)
        return
    sys.path.insert(0, str(HERE))
    from sae_data import prepare

    train, held = prepare()
    peak = matmul_peak(args.threads, args.d_in, args.d_sae, args.batch)
    print(f"dense fp32 matmul peak ({args.threads} threads): {peak:.1f} GFLOP/s; load {os.getloadavg()}", file=sys.stderr)
    results = []
    for name in args.trainers.split(","):
        python = sys.executable if name in ("ours", "dense") else args.python
        if name in PEER_MODULE:
            probe = subprocess.run([python, "-c", f"import {PEER_MODULE[name]}"], capture_output=True, text=True,
                                   env={**os.environ, "WANDB_MODE": "disabled"})
            if probe.returncode != 0:
                print(f"skip {name}: not importable with {python} ({probe.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
                continue
        cmd = [python, __file__, "--worker", name, "--train", str(train), "--held", str(held)] + [
            f"--{k.replace('_', '-')}={getattr(args, k)}" for k in ("steps", "batch", "d_in", "d_sae", "k", "lr", "threads")]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "WANDB_MODE": "disabled"})
        line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
        if proc.returncode != 0 or not line:
            print(f"{name} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
            continue
        r = json.loads(line[-1][7:])
        r["fraction_of_peak"] = r["gflops"] / peak
        results.append(r)
        print(f"{name}: {r['rows_per_s']:.0f} rows/s, FVU {r['heldout_fvu']:.3f}, load {r['loadavg_start'][0]:.1f}", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"matmul_peak_gflops": peak, "job": vars(args) | {"out": str(args.out)}, "results": results},
                                   indent=2, default=str))
    bound = peak * 1e9 / (4 * args.d_in * args.d_sae)
    print(f"\nmatmul peak {peak:.1f} GFLOP/s; bound 1 (dense enc fwd + dense weight grad) {bound:.0f} rows/s\n")
    print("| trainer | rows/s | held-out FVU | peak RSS (MB) | GFLOP/s | % of peak | load (1 min) |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['trainer']} | {r['rows_per_s']:.0f} | {r['heldout_fvu']:.3f} | {r['peak_rss_mb']:.0f} | "
              f"{r['gflops']:.1f} | {100 * r['fraction_of_peak']:.0f} | {r['loadavg_start'][0]:.1f}-{r['loadavg_end'][0]:.1f} |")


if __name__ == "__main__":
    main()
