"""Load: an hour of audio through extraction, then SAE training from an activation file larger than the memory
the training process is allowed. A benchmark, not a timed test.

    python benchmarks/load.py                      # full: 1 h of audio (120 x 30 s clips), ~1.3 GB HDF5, 300 steps
    python benchmarks/load.py --hours 0.02 --steps 20 --batch 512 --memory-mb 2 --no-assert-limit   # smoke, ~1 min
    python benchmarks/load.py --reuse-h5           # the training runs again, from the last extraction

Corpus (written once under benchmarks/results/load/, reused): ``--hours`` of generated 16 kHz audio as clips of
``--clip-seconds`` (30 s, Whisper's window, so no padding is computed and thrown away): note sequences of harmonic
tones (random pitch, spectral tilt and note length, some gaps) in noise. Every 10th clip is held out ("test").

Each measurement runs alone in its own worker subprocess; the parent polls the worker's /proc/<pid>/status every
``--sample-interval`` s (VmRSS, RssAnon) and, for training workers, its cgroup's usage. Numbers:

- extraction: :func:`audiosae.models.extract.extract_activations` of whisper_tiny_en, all 5 layers (0 = input of
  block 1 ... 4), float32, pooling mean, one HDF5, ``--extract-batch`` 8 clips per batch. ``audio_s_per_s`` = seconds
  of audio / wall seconds of the extraction call (model loading excluded, given as ``model_load_s``);
  ``peak_rss_mb`` = the worker's ``ru_maxrss``; ``rss_at`` (VmRSS) and ``anon_at`` (RssAnon) = polled memory at 10 /
  50 / 90 % of the extraction's wall time and its maximum (flat memory: they stay put while the file grows);
  ``file_mb`` = size of the HDF5.
- memory limit: ``--limit-mb`` (default 640 + ``--memory-mb`` = 672 MB) on every training worker, each in a fresh
  memory cgroup. Mechanism, in order of preference: cgroup v1 (a child of this process's own memory cgroup with
  ``memory.limit_in_bytes``, and ``memory.memsw.limit_in_bytes`` where present; the worker joins it before exec),
  else ``systemd-run --scope -p MemoryMax`` where systemd runs, else ``prlimit --as`` (address space: a much weaker
  bound, torch alone maps GBs). ``limit.mechanism`` in the JSON names the one used. The limit must lie below the
  HDF5's size (asserted unless ``--no-assert-limit``, which smoke runs need: Python + torch alone take ~400 MB).
  A cgroup charges a process's anonymous memory and the page cache it brings in (reclaimed at the limit), not
  shared-library pages already cached by other processes (torch's ~240 MB, read by the extraction just before):
  so VmRSS can exceed the limit, RssAnon cannot. The HDF5 is fsync'ed and dropped from the page cache
  (posix_fadvise DONTNEED, that file only) before each run that streams it, unless ``--warm-cache``: the first
  pass reads from disk, and re-reads beyond what the limit leaves for cache do too.
- training (TopK SAE, d_sae 4 x 384, k 32, batch 4096, ``--steps`` 300, TrainConfig defaults = the study's: Adam
  lr 1e-3, 5 % warm-up, 20 % final decay, AuxK; init sample ``--init-rows`` 20000), frames of ``--layer`` 2 of the
  train clips, every run under the limit:

  * ``stream``: the out-of-core run: :class:`audiosae.sae.data.RowStream` over the HDF5 with a shuffle buffer of
    ``--memory-mb`` 32 (an eighth of the layer's train frames at 1 h), init sample as the pipeline takes it
    (``stream.sample``). ``rows_per_s`` = steps x batch / wall time of the loop (from the first batch drawn, so
    buffer fills and disk reads count); ``rss_at`` / ``anon_at`` at 10 / 50 / 90 % of the loop and ``peak_rss_mb``
    show memory flat under the limit; ``cgroup_max_usage_mb`` (anonymous + page cache charged), ``failcnt`` (times
    the cgroup hit its limit and reclaimed cache), ``oom_kill``.
  * ``in_memory_all`` (control): the same job with every train frame of the layer loaded into memory first,
    ``--control-steps`` 10 steps. At 1 h it is expected to die by the cgroup's OOM killer (exit -9, oom_kill 1):
    the limit binds, and only streaming trains under it.
  * ``subset_stream`` / ``subset_memory``: the first ``--subset-clips`` 16 train clips only. ``subset_stream``
    streams them from the HDF5 with a buffer that holds the subset; ``subset_memory`` loads the same rows into a
    tensor and draws batches with :func:`memory_batches`, which reproduces RowStream's order when the buffer holds
    every row (fill f: the permutation of ``default_rng([seed, f, 1])``). Same init sample (the subset's first
    ``--init-rows`` rows), seed and steps, so the comparison is exact: every final weight tensor and the input
    scale bit-for-bit (``torch.equal``), and the held-out FVUs.
  * ``subset_stream_small_buffer``: the subset streamed with a buffer of a quarter of it, or batch + 2048 rows if
    that is more (block-wise shuffle, a different batch order): its held-out FVU against ``subset_memory``'s within
    ``--fvu-tol`` 0.01 (absolute), beside ``subset_memory_seed1`` (in memory, seed 1), whose FVU difference from
    seed 0 is the yardstick of run-to-run spread.

  Held-out FVU (:func:`audiosae.sae.pipeline.evaluate`) covers every frame of the held-out clips (the scaled SAE on
  scaled rows: the same number as the exported checkpoint's on raw rows).

The machine's dense fp32 matmul rate (2048 x 2048, ``--threads`` threads, ~1 s loop) is printed beside the times;
os.getloadavg() is recorded before and after every worker (other jobs share the cores: compare runs at similar
load). Worker logs go to benchmarks/results/load/logs/; the report to benchmarks/results/load.json (git-ignored).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE / "results" / "load"
OUT = HERE / "results" / "load.json"
MODEL = "whisper_tiny_en"
SAMPLE_RATE = 16000


# ----------------------------------------------------------------------------------- pure helpers

def n_clips_for(hours: float, clip_s: float) -> int:
    """Clips of ``clip_s`` seconds that cover ``hours`` of audio (at least 2: one train, one held out)."""
    return max(2, math.ceil(round(hours * 3600 / clip_s, 6)))


def clip_split(i: int, n: int) -> str:
    """Every 10th clip is held out; with fewer than 10 clips, the last one."""
    return "test" if (i + 1) % 10 == 0 or (n < 10 and i == n - 1) else "train"


def memory_batches(data, batch_size: int, seed: int, start_step: int = 0):
    """Endless batches of the rows of an in-memory tensor in the order :class:`audiosae.sae.data.RowStream`
    gives when its buffer holds every row: fill f is one permutation of ``default_rng([seed, f, 1])``, cut into
    ``n // batch`` consecutive batches."""
    import torch

    n = data.shape[0]
    batch_size = min(batch_size, n)
    per_fill = max(1, n // batch_size)
    fill, pos = divmod(int(start_step), per_fill)
    while True:
        perm = torch.from_numpy(np.random.default_rng([seed, fill, 1]).permutation(n))
        for j in range(pos, per_fill):
            yield data[perm[j * batch_size : (j + 1) * batch_size]]
        fill, pos = fill + 1, 0


def rss_at(samples: list, fracs=(0.1, 0.5, 0.9), t0: float | None = None, t1: float | None = None,
           column: int = 1) -> dict:
    """Polled memory (MB, ``column`` of the (time, ...) samples) nearest to each fraction of the window [t0, t1]
    (default: the samples' span), and the window's maximum."""
    if not samples:
        return {}
    t0 = samples[0][0] if t0 is None else t0
    t1 = samples[-1][0] if t1 is None else t1
    inside = [s for s in samples if t0 <= s[0] <= t1] or samples
    ts = np.array([s[0] for s in inside])
    out = {}
    for f in fracs:
        i = int(np.abs(ts - (t0 + f * (t1 - t0))).argmin())
        out[f"{round(100 * f)}%"] = round(inside[i][column], 1)
    out["max"] = round(max(s[column] for s in inside), 1)
    return out


def default_limit_mb(memory_mb: float) -> float:
    """The training workers' memory limit: 640 MB plus the shuffle buffer. Measured on a 1 h layer (162k train
    frames, batch 4096, 32 MB buffer): the streamed run peaks at ~580 MB anonymous memory, the same job with the
    layer's train frames in memory needs ~770 MB, so 672 MB lets one through and not the other."""
    return 640.0 + memory_mb


# ----------------------------------------------------------------------------------- corpus

def make_corpus(root: Path, n: int, clip_s: float, seed: int = 0) -> Path:
    """``n`` clips of note sequences (harmonic tones in noise), 16 kHz, with a clip table; written once."""
    import pandas as pd
    import soundfile as sf

    folder = root / f"corpus_{n}x{clip_s:g}s"
    if (folder / "clips.csv").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    size = int(round(clip_s * SAMPLE_RATE))
    rows = []
    for i in range(n):
        # piecewise-constant pitch and tilt: notes of 0.15-1.2 s, a gap after some
        f0 = np.empty(size)
        tilt = np.empty(size)
        gate = np.ones(size)
        pos = 0
        while pos < size:
            length = int(rng.uniform(0.15, 1.2) * SAMPLE_RATE)
            f0[pos : pos + length] = 80.0 * 2 ** rng.uniform(0, 4)
            tilt[pos : pos + length] = rng.uniform(0.5, 2.5)
            if rng.random() < 0.2:
                gate[pos + int(0.7 * length) : pos + length] = 0.0
            pos += length
        phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
        audio = np.zeros(size)
        for h in range(1, 9):
            audio += np.where(h * f0 < SAMPLE_RATE / 2, h ** -tilt, 0.0) * np.sin(h * phase)
        audio = 0.25 * audio / np.abs(audio).max() * gate + rng.uniform(0.003, 0.03) * rng.standard_normal(size)
        name = f"clip{i:05d}.wav"
        sf.write(folder / name, audio.astype(np.float32), SAMPLE_RATE)
        rows.append({"id": f"clip{i:05d}", "path": name, "split": clip_split(i, n)})
    pd.DataFrame(rows).to_csv(folder / "clips.csv", index=False)
    return folder


# ----------------------------------------------------------------------------------- memory limit

def _own_v1_memory_cgroup() -> Path | None:
    base = Path("/sys/fs/cgroup/memory")
    if not (base / "memory.limit_in_bytes").exists():
        return None
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            own = base / path.lstrip("/")
            return own if (own / "memory.limit_in_bytes").exists() else None
    return None


def limit_mechanism(force: str | None = None) -> str:
    """cgroup_v1, systemd_run or prlimit_as: the first that works here (or ``force``)."""
    if force:
        return force
    own = _own_v1_memory_cgroup()
    if own is not None and os.access(own, os.W_OK):
        return "cgroup_v1"
    if Path("/run/systemd/system").exists() and shutil.which("systemd-run"):
        return "systemd_run"
    if shutil.which("prlimit"):
        return "prlimit_as"
    raise RuntimeError("no way to limit a process's memory here (no writable cgroup v1, systemd-run or prlimit)")


class MemoryLimit:
    """Runs one command under ``limit_bytes``; for cgroup_v1, a fresh child cgroup per command (removed after)."""

    def __init__(self, mechanism: str, limit_bytes: int, name: str):
        self.mechanism, self.limit, self.name, self.cg = mechanism, int(limit_bytes), name, None

    def __enter__(self):
        if self.mechanism == "cgroup_v1":
            self.cg = _own_v1_memory_cgroup() / f"audiosae_load_{os.getpid()}_{self.name}"
            if self.cg.exists():
                self.cg.rmdir()
            self.cg.mkdir()
            (self.cg / "memory.limit_in_bytes").write_text(str(self.limit))
            if (self.cg / "memory.memsw.limit_in_bytes").exists():  # no swap either
                (self.cg / "memory.memsw.limit_in_bytes").write_text(str(self.limit))
        return self

    def wrap(self, cmd: list[str]) -> list[str]:
        if self.mechanism == "cgroup_v1":  # the worker enters the cgroup before exec: all its memory is charged
            return ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(self.cg), *cmd]
        if self.mechanism == "systemd_run":
            return ["systemd-run", "--scope", "--quiet", "-p", f"MemoryMax={self.limit}", "-p", "MemorySwapMax=0", *cmd]
        if self.mechanism == "prlimit_as":
            return ["prlimit", f"--as={self.limit}", *cmd]
        raise ValueError(self.mechanism)

    def usage_mb(self) -> float | None:
        if self.cg is None:
            return None
        try:
            return int((self.cg / "memory.usage_in_bytes").read_text()) / 2**20
        except OSError:
            return None

    def report(self) -> dict:
        if self.cg is None:
            return {}
        oom = dict(line.split() for line in (self.cg / "memory.oom_control").read_text().splitlines())
        return {"cgroup_max_usage_mb": int((self.cg / "memory.max_usage_in_bytes").read_text()) / 2**20,
                "failcnt": int((self.cg / "memory.failcnt").read_text()), "oom_kill": int(oom.get("oom_kill", -1))}

    def __exit__(self, *exc):
        if self.cg is not None:
            for _ in range(50):  # the cgroup empties a moment after its last process exits
                try:
                    self.cg.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


def drop_from_page_cache(path: Path) -> None:
    """Flush and evict this one file's pages, so that the next reader reads from disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------------- workers

def worker_extract(args) -> dict:
    import pandas as pd
    import torch

    from audiosae.models.extract import extract_activations
    from audiosae.models.registry import load_activation_model

    torch.set_num_threads(args.threads)
    t = time.perf_counter()
    model = load_activation_model(MODEL, args.model_dir)
    load_s = time.perf_counter() - t
    clips = pd.read_csv(Path(args.corpus) / "clips.csv")
    print(f"START {time.time()}", flush=True)
    t = time.perf_counter()
    extract_activations(clips, args.corpus, model, args.h5, batch_size=args.extract_batch, dtype="float32",
                        poolings=("mean",), progress=False)
    elapsed = time.perf_counter() - t
    print(f"END {time.time()}", flush=True)
    audio_s = len(clips) * args.clip_seconds
    return {"model_load_s": load_s, "seconds": elapsed, "audio_s": audio_s, "audio_s_per_s": audio_s / elapsed,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "file_mb": Path(args.h5).stat().st_size / 2**20}


def _read_rows(src, ranges) -> np.ndarray:
    out = np.empty((sum(b - a for a, b in ranges), src.shape[1]), dtype=np.float32)
    cursor = 0
    for a, b in ranges:
        out[cursor : cursor + b - a] = src[a:b]
        cursor += b - a
    return out


def worker_train(args) -> dict:
    import pandas as pd
    import torch
    from safetensors.torch import save_file

    from audiosae.models.extract import Activations
    from audiosae.sae.data import RowStream, sequential_batches
    from audiosae.sae.model import TopKSAE
    from audiosae.sae.pipeline import HELD_OUT, clip_splits, evaluate, row_source
    from audiosae.sae.train import TrainConfig, train_sae

    torch.set_num_threads(args.threads)
    with Activations(args.h5) as acts:
        splits = clip_splits(acts, pd.read_csv(Path(args.corpus) / "clips.csv"))
        src, ranges = row_source(acts, args.layer, splits, ("train",), "frames")
        _, held_ranges = row_source(acts, args.layer, splits, HELD_OUT, "frames")
        if args.subset_clips:
            ranges = ranges[: args.subset_clips]
        n_rows, d_in = sum(b - a for a, b in ranges), src.shape[1]
        cfg = TrainConfig(steps=args.steps, batch_size=args.batch, seed=args.seed)
        sae = TopKSAE(d_in, args.expansion * d_in, args.k)
        t_load = time.perf_counter()
        if args.source == "h5":
            stream = RowStream(src, ranges, cfg.batch_size, args.seed, args.memory_mb)
            inner, buffer_rows = stream.batches(0), stream.buffer_rows
            init = (torch.from_numpy(_read_rows(src, _first_rows(ranges, args.init_rows))) if args.subset_clips
                    else stream.sample(args.init_rows))
        else:  # every row in memory first
            data = torch.from_numpy(_read_rows(src, ranges))
            inner, buffer_rows = memory_batches(data, cfg.batch_size, args.seed), n_rows
            init = data[: args.init_rows].clone() if args.subset_clips else data[: args.init_rows]
        load_s = time.perf_counter() - t_load
        timing = {}

        def timed():  # the loop's window: from the first batch drawn (its buffer fill included) to the last step
            timing["t0"] = time.perf_counter()
            print(f"START {time.time()}", flush=True)
            yield from inner

        scale, history = train_sae(sae, timed(), init, cfg, progress=False)
        seconds = time.perf_counter() - timing["t0"]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"END {time.time()}", flush=True)
        held, _ = evaluate(sae, (b * scale for b in sequential_batches(src, held_ranges)))
    if args.weights:
        save_file({k: v.contiguous() for k, v in sae.state_dict().items()}, args.weights,
                  metadata={"scale": repr(scale)})
    return {"n_rows": n_rows, "rows_mb": n_rows * d_in * 4 / 2**20, "buffer_rows": buffer_rows,
            "load_s": load_s, "seconds": seconds, "rows_per_s": args.steps * min(args.batch, buffer_rows) / seconds,
            "peak_rss_mb": peak, "scale": scale, "heldout": held, "train_fvu_last": history[-1]["fvu"]}


def _first_rows(ranges, max_rows: int):
    out, total = [], 0
    for a, b in ranges:
        take = min(b - a, max_rows - total)
        if take <= 0:
            break
        out.append((a, a + take))
        total += take
    return out


# ----------------------------------------------------------------------------------- driver

class RssPoller(threading.Thread):
    """(time, VmRSS MB, RssAnon MB, cgroup usage MB) of one process every ``interval`` s."""

    def __init__(self, pid: int, interval: float, limit: MemoryLimit | None = None):
        super().__init__(daemon=True)
        self.pid, self.interval, self.limit, self.samples, self.stop = pid, interval, limit, [], threading.Event()

    def run(self):
        status = Path(f"/proc/{self.pid}/status")
        while not self.stop.is_set():
            try:
                text = status.read_text()
            except OSError:
                break
            if "VmRSS:" in text:
                kb = lambda key: int(text.split(key)[1].split()[0]) / 1024
                cg = self.limit.usage_mb() if self.limit else None
                self.samples.append((time.time(), kb("VmRSS:"), kb("RssAnon:"), cg))
            self.stop.wait(self.interval)


def run_worker(args, name: str, extra: list[str], limit: MemoryLimit | None = None) -> dict:
    cmd = [sys.executable, __file__, "--worker", name, "--corpus", str(args.corpus), "--h5", str(args.h5),
           "--model-dir", str(args.model_dir), "--threads", str(args.threads), "--layer", str(args.layer),
           "--clip-seconds", str(args.clip_seconds), "--extract-batch", str(args.extract_batch),
           "--batch", str(args.batch), "--k", str(args.k), "--expansion", str(args.expansion),
           "--init-rows", str(args.init_rows), *extra]
    if limit is not None:
        cmd = limit.wrap(cmd)
    logs = args.root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()
    with open(logs / f"{name}.out", "w") as out, open(logs / f"{name}.err", "w") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        poller = RssPoller(proc.pid, args.sample_interval, limit)
        poller.start()
        try:
            rc = proc.wait()
        except BaseException:  # interrupted: take the worker down too (its cgroup can then go)
            proc.kill()
            proc.wait()
            raise
        poller.stop.set()
        poller.join()
    text = (logs / f"{name}.out").read_text()
    marks = {line.split()[0]: float(line.split()[1])
             for line in text.splitlines() if line.startswith(("START ", "END "))}
    results = [line for line in text.splitlines() if line.startswith("RESULT ")]
    r = json.loads(results[-1][7:]) if rc == 0 and results else {}
    r.update({"run": name, "returncode": rc, "loadavg_before": load0, "loadavg_after": os.getloadavg(),
              "rss_at": rss_at(poller.samples, t0=marks.get("START"), t1=marks.get("END")),
              "anon_at": rss_at(poller.samples, t0=marks.get("START"), t1=marks.get("END"), column=2),
              "rss_samples": [[round(t - poller.samples[0][0], 2), round(m, 1), round(a, 1),
                               None if c is None else round(c, 1)] for t, m, a, c in poller.samples]})
    if limit is not None:
        r.update(limit.report())
    if rc != 0 or not results:
        r["error"] = (logs / f"{name}.err").read_text()[-2000:]
    return r


def matmul_gflops(threads: int, seconds: float = 1.0, n: int = 2048) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    reps, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        a @ b
        reps += 1
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def compare_weights(path_a: Path, path_b: Path) -> dict:
    from safetensors import safe_open
    import torch

    with safe_open(str(path_a), "pt") as fa, safe_open(str(path_b), "pt") as fb:
        equal = fa.metadata()["scale"] == fb.metadata()["scale"]
        diffs = {}
        for key in fa.keys():
            x, y = fa.get_tensor(key), fb.get_tensor(key)
            equal &= torch.equal(x, y)
            diffs[key] = float((x - y).abs().max())
    return {"bitwise_equal": bool(equal), "max_abs_diff": diffs}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--clip-seconds", type=float, default=30.0)
    ap.add_argument("--extract-batch", type=int, default=8, help="clips per extraction batch")
    ap.add_argument("--layer", type=int, default=2)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--control-steps", type=int, default=10, help="steps of the in-memory control under the limit")
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--expansion", type=int, default=4)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--init-rows", type=int, default=20_000, help="rows for the input scale and b_dec init")
    ap.add_argument("--memory-mb", type=float, default=32.0, help="shuffle buffer of the streamed full run")
    ap.add_argument("--subset-clips", type=int, default=16)
    ap.add_argument("--limit-mb", type=float, default=None, help="memory limit of the training workers "
                    "(default 640 + --memory-mb)")
    ap.add_argument("--no-assert-limit", action="store_true", help="allow a limit above the file size (smoke runs)")
    ap.add_argument("--limit-mechanism", choices=["cgroup_v1", "systemd_run", "prlimit_as"], default=None)
    ap.add_argument("--fvu-tol", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sample-interval", type=float, default=0.5)
    ap.add_argument("--warm-cache", action="store_true", help="leave the HDF5 in the page cache between runs")
    ap.add_argument("--reuse-h5", action="store_true", help="skip extraction when the HDF5 exists")
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--model-dir", type=Path, default=None)
    # worker-only options
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--h5", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--source", choices=["h5", "memory"], help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--weights", help=argparse.SUPPRESS)
    ap.add_argument("--worker-subset", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        if args.worker == "extract":
            r = worker_extract(args)
        else:
            args.subset_clips = args.worker_subset
            r = worker_train(args)
        print("RESULT " + json.dumps(r), flush=True)
        return

    from audiosae.models.registry import prepare_model

    args.root.mkdir(parents=True, exist_ok=True)
    args.model_dir = args.model_dir or args.root / "models" / MODEL
    if not (args.model_dir / "config.json").exists():
        prepare_model(MODEL, args.model_dir)
    n = n_clips_for(args.hours, args.clip_seconds)
    args.corpus = make_corpus(args.root, n, args.clip_seconds)
    args.h5 = args.root / f"acts_{n}x{args.clip_seconds:g}s.h5"
    gflops = matmul_gflops(args.threads)
    print(f"fp32 matmul 2048^3, {args.threads} threads: {gflops:.1f} GFLOP/s; load {os.getloadavg()}", file=sys.stderr)

    if args.reuse_h5 and args.h5.exists():
        extraction = None
    else:
        args.h5.unlink(missing_ok=True)
        extraction = run_worker(args, "extract", [])
        if extraction["returncode"] != 0:
            raise RuntimeError(f"extraction failed:\n{extraction['error']}")
        print(f"extraction: {extraction['audio_s_per_s']:.1f} audio-s/s, peak {extraction['peak_rss_mb']:.0f} MB, "
              f"RSS {extraction['rss_at']}", file=sys.stderr)
    file_mb = args.h5.stat().st_size / 2**20
    limit_mb = args.limit_mb or default_limit_mb(args.memory_mb)
    mechanism = limit_mechanism(args.limit_mechanism)
    print(f"activation file {file_mb:.1f} MB; training memory limit {limit_mb:.1f} MB ({mechanism})", file=sys.stderr)
    if not args.no_assert_limit:
        assert limit_mb < file_mb, f"limit {limit_mb:.0f} MB is not below the activation file ({file_mb:.0f} MB)"

    from audiosae.models.extract import Activations

    with Activations(args.h5) as acts:
        offsets = acts.offsets
    import pandas as pd

    splits = pd.read_csv(args.corpus / "clips.csv")["split"].to_numpy()
    train_rows = int(sum(b - a for (a, b), s in zip(offsets, splits) if s == "train"))
    subset_clips = min(args.subset_clips, int((splits == "train").sum()))
    subset_rows = int(sum(b - a for a, b in [o for o, s in zip(offsets, splits) if s == "train"][:subset_clips]))
    row_mb = 384 * 4 / 2**20  # bytes of one float32 frame of whisper tiny.en (d 384)
    subset_mb = subset_rows * row_mb
    weights = args.root / "weights"
    weights.mkdir(exist_ok=True)
    plan = [  # name, source, subset, memory_mb, seed, steps
        ("stream", "h5", 0, args.memory_mb, 0, args.steps),
        ("in_memory_all", "memory", 0, 0, 0, args.control_steps),
        ("subset_stream", "h5", subset_clips, subset_mb + 8, 0, args.steps),
        ("subset_memory", "memory", subset_clips, 0, 0, args.steps),
        ("subset_stream_small_buffer", "h5", subset_clips, max(subset_mb / 4, (args.batch + 2048) * row_mb), 0,
         args.steps),
        ("subset_memory_seed1", "memory", subset_clips, 0, 1, args.steps),
    ]
    runs = {}
    for name, source, subset, memory_mb, seed, steps in plan:
        if source == "h5" and not args.warm_cache:
            drop_from_page_cache(args.h5)
        extra = ["--source", source, "--worker-subset", str(subset), "--memory-mb", str(memory_mb),
                 "--seed", str(seed), "--steps", str(steps), "--weights", str(weights / f"{name}.safetensors")]
        with MemoryLimit(mechanism, limit_mb * 2**20, name) as limit:
            r = run_worker(args, name, extra, limit)
        r.update({"source": source, "subset_clips": subset, "memory_mb": memory_mb, "seed": seed, "steps": steps})
        runs[name] = r
        if r["returncode"] == 0:
            print(f"{name}: {r['rows_per_s']:.0f} rows/s, held-out FVU {r['heldout']['fvu']:.4f}, peak "
                  f"{r['peak_rss_mb']:.0f} MB, RSS {r['rss_at']}", file=sys.stderr)
        else:
            print(f"{name}: exit {r['returncode']} (oom_kill {r.get('oom_kill')}), RSS {r['rss_at']}", file=sys.stderr)
    required = ("stream", "subset_stream", "subset_memory", "subset_stream_small_buffer", "subset_memory_seed1")
    failed = [k for k in required if runs[k]["returncode"] != 0]
    if failed:
        raise RuntimeError(f"runs failed: {failed}:\n" + "\n".join(runs[k].get("error", "") for k in failed))

    fvu = {k: runs[k]["heldout"]["fvu"] for k in required}
    exact = compare_weights(weights / "subset_stream.safetensors", weights / "subset_memory.safetensors")
    comparisons = {
        "exact": {"what": "subset_stream (HDF5, buffer holds the subset, under the limit) vs subset_memory (same rows "
                          "in a tensor, same batch order, init sample, seed, steps): every final weight tensor and "
                          "the input scale bit-for-bit, and held-out FVU",
                  **exact, "fvu_stream": fvu["subset_stream"], "fvu_memory": fvu["subset_memory"],
                  "fvu_diff": abs(fvu["subset_stream"] - fvu["subset_memory"])},
        "shuffle_buffer": {"what": "subset_stream_small_buffer (HDF5, buffer max(a quarter of the subset, "
                                   "batch + 2048 rows): block-wise shuffle) vs subset_memory: held-out FVU within "
                                   "fvu_tol; seed_spread = |FVU seed 0 - seed 1| in memory, the run-to-run yardstick",
                           "fvu_stream": fvu["subset_stream_small_buffer"], "fvu_memory": fvu["subset_memory"],
                           "fvu_diff": abs(fvu["subset_stream_small_buffer"] - fvu["subset_memory"]),
                           "seed_spread": abs(fvu["subset_memory"] - fvu["subset_memory_seed1"]),
                           "fvu_tol": args.fvu_tol},
    }
    comparisons["shuffle_buffer"]["within_tol"] = comparisons["shuffle_buffer"]["fvu_diff"] <= args.fvu_tol
    n_audio = n * args.clip_seconds
    given = argv if argv is not None else sys.argv[1:]
    command = "python benchmarks/load.py " + " ".join(shlex.quote(a) for a in given)
    report = {
        "command": command.strip(), "model": MODEL, "threads": args.threads, "cpu_count": os.cpu_count(),
        "matmul_gflops": gflops,
        "corpus": {"hours": n_audio / 3600, "clips": n, "clip_s": args.clip_seconds, "sample_rate": SAMPLE_RATE,
                   "train_clips": int((splits == "train").sum()), "heldout_clips": int((splits != "train").sum())},
        "extraction": extraction, "file_mb": file_mb,
        "limit": {"mechanism": mechanism, "limit_mb": limit_mb, "file_mb": file_mb,
                  "limit_below_file": limit_mb < file_mb,
                  "layer": args.layer, "layer_train_frames_mb": train_rows * row_mb, "warm_cache": args.warm_cache},
        "train_job": {"d_in": 384, "d_sae": args.expansion * 384, "k": args.k, "batch": args.batch, "steps": args.steps,
                      "init_rows": args.init_rows, "subset_clips": subset_clips, "subset_mb": subset_mb},
        "runs": runs, "comparisons": comparisons,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(render(report))


def _mem(r: dict) -> str:
    a, v = r.get("anon_at", {}), r.get("rss_at", {})
    return (f"RSS 10/50/90 % {v.get('10%')}/{v.get('50%')}/{v.get('90%')} MB (anonymous {a.get('10%')}/{a.get('50%')}/"
            f"{a.get('90%')} MB), peak RSS {r.get('peak_rss_mb') or v.get('max', float('nan')):.0f} MB")


def render(report: dict) -> str:
    c, lim, runs, cmp = report["corpus"], report["limit"], report["runs"], report["comparisons"]
    e = report["extraction"]
    s, ctl = runs["stream"], runs["in_memory_all"]
    if ctl["returncode"] == 0:
        control = f"fits ({_mem(ctl)}, cgroup max {ctl.get('cgroup_max_usage_mb', float('nan')):.0f} MB)"
    else:
        control = (f"exit {ctl['returncode']}, oom_kill {ctl.get('oom_kill')} (last polled: RSS "
                   f"{ctl['rss_at'].get('max')} MB, anonymous {ctl['anon_at'].get('max')} MB)")
    lines = [
        f"Command: {report['command']}",
        f"Machine: {report['cpu_count']} cores, {report['threads']} threads; fp32 matmul 2048^3 "
        f"{report['matmul_gflops']:.1f} GFLOP/s",
        f"Audio: {c['hours']:.3f} h in {c['clips']} clips of {c['clip_s']:g} s ({c['train_clips']} train, "
        f"{c['heldout_clips']} held out); activation file {lim['file_mb'] / 1024:.3f} GB ({report['model']}, 5 layers, "
        f"float32)",
    ]
    if e:
        lines.append(f"Extraction: {e['seconds']:.1f} s, {e['audio_s_per_s']:.1f} audio-s/s; {_mem(e)}; "
                     f"load {e['loadavg_before'][0]:.1f}->{e['loadavg_after'][0]:.1f}")
    lines += [
        f"Memory limit: {lim['limit_mb'] / 1024:.3f} GB by {lim['mechanism']} (file {lim['file_mb'] / 1024:.3f} GB, "
        f"layer {lim['layer']} train frames {lim['layer_train_frames_mb'] / 1024:.3f} GB; limit below file: "
        f"{lim['limit_below_file']})",
        f"Streamed training (buffer {s['memory_mb']:g} MB, {s['steps']} steps): {s['rows_per_s']:.0f} rows/s; {_mem(s)}; "
        f"cgroup max {s.get('cgroup_max_usage_mb', float('nan')):.0f} MB, failcnt {s.get('failcnt')}; "
        f"held-out FVU {s['heldout']['fvu']:.4f}; load {s['loadavg_before'][0]:.1f}->{s['loadavg_after'][0]:.1f}",
        f"In-memory control (the layer's train frames loaded first, same limit): {control}",
        f"Same result, subset of {report['train_job']['subset_clips']} clips ({report['train_job']['subset_mb']:.0f} MB): "
        f"streamed from HDF5 vs in memory, weights and scale bit-for-bit equal: {cmp['exact']['bitwise_equal']}; "
        f"held-out FVU {cmp['exact']['fvu_stream']:.6f} vs {cmp['exact']['fvu_memory']:.6f}",
        f"Shuffle buffer of {runs['subset_stream_small_buffer']['buffer_rows']} of the subset's "
        f"{runs['subset_stream_small_buffer']['n_rows']} rows: FVU {cmp['shuffle_buffer']['fvu_stream']:.4f} vs "
        f"{cmp['shuffle_buffer']['fvu_memory']:.4f} in memory (diff {cmp['shuffle_buffer']['fvu_diff']:.4f}, tol "
        f"{cmp['shuffle_buffer']['fvu_tol']}: {'pass' if cmp['shuffle_buffer']['within_tol'] else 'FAIL'}; seeds 0 vs 1 "
        f"in memory differ by {cmp['shuffle_buffer']['seed_spread']:.4f})",
    ]
    return "\n".join(lines)

if __name__ == "__main__":
    main()
