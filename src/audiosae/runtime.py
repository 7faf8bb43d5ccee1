"""Process set-up shared by every workflow step: device, threads, seeds, logging."""
from __future__ import annotations

import logging
import random
import sys
from pathlib import Path

import numpy as np
import torch


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available; use 'auto' or 'cpu'")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# Libraries whose INFO messages bury the job's own (saving a PDF logs ~50 lines of fontTools font subsetting).
QUIET_LOGGERS = ("fontTools", "matplotlib", "PIL", "numba", "h5py")


def setup(threads: int = 1, seed: int | None = None, log_path: str | Path | None = None) -> logging.Logger:
    """Pin torch to the job's threads, seed every generator, send logging and stderr to the rule's log."""
    torch.set_num_threads(max(1, int(threads)))
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
