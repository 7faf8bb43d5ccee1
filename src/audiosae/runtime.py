"""Process set-up shared by every workflow step: device, threads, seeds, logging."""
from __future__ import annotations

import logging
import os
import random
import sys
from pathlib import Path

import numpy as np

# torch is imported only by the jobs that use it: importing it costs 1.5-2.5 s, paid again by every figure and table
# job (a third of the study's jobs) that never touches a tensor.


def resolve_device(name: str = "auto"):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available; use 'auto' or 'cpu'")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# Libraries whose INFO messages bury the job's own (saving a PDF logs ~50 lines of fontTools font subsetting).
QUIET_LOGGERS = ("fontTools", "matplotlib", "PIL", "numba", "h5py")


def setup(threads: int = 1, seed: int | None = None, log_path: str | Path | None = None) -> logging.Logger:
    """Pin torch to the job's threads, seed every generator, send logging and stderr to the rule's log.

    The thread count also goes to OMP_NUM_THREADS, which torch reads when a job imports it after this call."""
    threads = max(1, int(threads))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    if seed is not None:
        seed_everything(seed)
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        stream = open(log_path, "w", buffering=1)
        sys.stderr = stream  # tqdm bars and warnings land in the log too
        handler: logging.Handler = logging.StreamHandler(stream)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for chatty in QUIET_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.WARNING)
    return logging.getLogger("audiosae")
