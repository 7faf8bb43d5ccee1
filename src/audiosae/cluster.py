"""What a job asks a cluster for: memory and runtime from the model registry and the SAE's size, times the attempt.

The SLURM profile retries a failed job (``retries``); a job killed for memory or time gets ``attempt`` times its
first request. Sizes are estimates from the architecture (a transformer block holds about 12 d_model² weights),
not measurements of each model: generous on purpose, since an undersized request costs a failed job.
"""
from __future__ import annotations

from .models.registry import get_model_spec

WINDOW_S = 30.0  # the longest clip a reader takes in one piece (Whisper's window)


def model_weights_mb(model: str) -> float:
    """fp32 weights of the model in MB, as a transformer of its depth and width (12 d² per block)."""
    spec = get_model_spec(model)
    return 12 * max(spec.n_blocks, 1) * spec.d_model**2 * 4 / 1e6


def extraction_mem_mb(model: str, batch_size: int, attempt: int = 1) -> int:
    """Host memory of one extraction job: the runtime, the weights (loaded and converted), and one batch of every
    layer's frames twice (the model's hidden states and the copy written to HDF5)."""
    spec = get_model_spec(model)
    frames = int(spec.frame_rate * WINDOW_S)
    batch = 2 * batch_size * frames * sum(spec.dim(layer) for layer in spec.layers) * 4 / 1e6
    return int(3000 + 3 * model_weights_mb(model) + batch) * attempt


def sae_mem_mb(d_in: int, d_sae: int, batch_size: int, buffer_mb: float, attempt: int = 1) -> int:
    """Host memory of one SAE job: the runtime, the row buffer, the weights with their gradients and Adam's two
    moments, and a batch's pre-activations (dense, d_sae wide) with their gradient."""
    weights = 2 * d_in * d_sae * 4 / 1e6
    batch = 3 * batch_size * d_sae * 4 / 1e6
    return int(2500 + buffer_mb + 4 * weights + batch) * attempt


# Runtime estimates. Measured here (README "Speed"; 2 CPU threads, fp32): a HuBERT-base-sized encoder reads about
# 6.5 s of audio per second, i.e. about 60 GFLOP/s of forward pass at 2 * 12 d^2 * blocks FLOPs per frame. On a GPU
# we assume a conservative 5 TFLOP/s effective (fp16 activations, small batches, HDF5 writes) for extraction and SAE
# training alike: about 80x the 2 CPU threads. Runtime limits add a fixed start-up and are tripled, since a limit
# that is too short costs a whole failed job; the estimate itself is what the README's GPU-hour table sums.
GPU_FLOPS = 5e12
JOB_OVERHEAD_MIN = 10.0

# Audio read per clip and clips per dataset kind of the real releases (hours of audio, clips), for runtime estimates.
# VocalSet: paper A's 10 techniques, 5 s clips; VocalSound: 21,024 recordings of about 4 s; Broderick: 20 runs of
# about 180 s; the generated kinds: what the config asks for is small.
AUDIO_HOURS = {"vocalset": (4.4, 3170), "librispeech": (5.4, 2620), "esc50": (2.8, 2000), "vocalsound": (23.4, 21024),
               "nsynth": (4.6, 4096), "eeg_stimuli": (1.0, 20)}


def forward_flops_per_s(model: str) -> float:
    """Forward FLOPs per second of audio: 2 * 12 d^2 per block and frame (codecs: a 12-block 768-wide equivalent,
    CNNs are cheap by comparison)."""
    spec = get_model_spec(model)
    blocks, width = (spec.n_blocks, spec.d_model) if spec.n_blocks else (12, 768)
    return 2 * 12 * blocks * width**2 * spec.frame_rate


WRITE_BYTES_PER_S = 200e6  # HDF5 writes of fp16 frames (compressed chunks on a shared filesystem)


def activation_gb(model: str, kind: str, bytes_per_value: int = 2) -> float:
    """Size of the activation file: every layer's frames of the real audio (fp16 by default)."""
    spec = get_model_spec(model)
    hours, _ = AUDIO_HOURS.get(kind, (1.0, 1000))
    return hours * 3600 * spec.frame_rate * sum(spec.dim(layer) for layer in spec.layers) * bytes_per_value / 1e9


def extraction_hours(model: str, kind: str) -> float:
    """Estimated GPU hours to extract every layer of ``model`` on a dataset of ``kind``: the forward passes (Whisper
    pads every clip to a 30 s window) and writing the activation file."""
    hours, clips = AUDIO_HOURS.get(kind, (1.0, 1000))
    seconds = clips * WINDOW_S if get_model_spec(model).family == "whisper" else hours * 3600
    compute = seconds * forward_flops_per_s(model) / GPU_FLOPS
    return (compute + activation_gb(model, kind) * 1e9 / WRITE_BYTES_PER_S) / 3600


def sae_hours(d_in: int, d_sae: int, steps: int, batch_size: int) -> float:
    """Estimated GPU hours of SAE training: encoder and decoder forward and backward, 6 d_in d_sae FLOPs per row
    each, plus evaluation (one more pass)."""
    return 1.3 * steps * batch_size * 12 * d_in * d_sae / GPU_FLOPS / 3600


def runtime_min(hours: float, attempt: int = 1) -> int:
    """A job's runtime limit in minutes from its estimate: start-up plus three times the estimate, times the attempt."""
    return int(JOB_OVERHEAD_MIN + 3 * 60 * hours + 0.5) * attempt


def grow(value: int):
    """A resource that grows with the attempt (for Snakemake's ``resources:``; attempt 1 on a local run)."""
    return lambda wildcards, attempt: value * attempt
