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


def grow(value: int):
    """A resource that grows with the attempt (for Snakemake's ``resources:``; attempt 1 on a local run)."""
    return lambda wildcards, attempt: value * attempt
