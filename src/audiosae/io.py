"""Atomic file output: every product is written under a temporary name and renamed when complete,
so that an interrupted job never leaves a file that looks finished."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pandas as pd


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _share(path: Path) -> None:
    """The mode a file gets from the user's umask (executables keep their x bits)."""
    full = 0o777 if path.stat().st_mode & 0o111 else 0o666
    path.chmod(full & ~_umask())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        # mkstemp makes 0600, and some writers (safetensors' save_file) replace the file with a 0600 one of their
        # own: set the mode last, so results are shared with the lab like any other file the user writes.
        _share(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    tmp.chmod(0o777 & ~_umask())
    try:
        yield tmp
        for f in tmp.rglob("*"):  # what writers left 0600 inside (safetensors does), as for atomic_path
            if f.is_file() and not f.is_symlink():
                _share(f)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_json(obj, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_csv(df: pd.DataFrame, path: str | os.PathLike, float_format: str | None = "%.6g") -> None:
    """Results tables keep 6 significant digits; ``float_format=None`` writes full precision (ground truth)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format=float_format)
