"""Miniature dataset archives in the real layouts, packed like the releases."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from . import ARCHIVE_KINDS, MINIATURE_SCALE, _SUFFIX


def write_archive(kind: str, dest: str | Path, seed: int = 0) -> str:
    """The miniature of ``kind``'s release archive at ``dest`` (named like the release); returns its sha256,
    also written beside it as ``<dest>.sha256``."""
    import importlib
    import inspect

    from ..data.download import file_digests

    if kind not in ARCHIVE_KINDS:
        raise ValueError(f"no miniature archive for kind {kind!r} (kinds: {', '.join(ARCHIVE_KINDS)})")
    module, fmt = ARCHIVE_KINDS[kind]
    dest = Path(dest)
    if not dest.name.endswith(_SUFFIX[fmt]):
        raise ValueError(f"{dest.name}: a {kind} release archive is a {_SUFFIX[fmt]} file")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        src = Path(tmp) / "src"
        writer = importlib.import_module(f"audiosae.data.{module}").write_miniature
        # Larger where the tests' miniature leaves a split without a class (speaker- or instrument-disjoint splits).
        scale = {"scale": MINIATURE_SCALE} if "scale" in inspect.signature(writer).parameters else {}
        writer(src, seed=seed, **scale)
        built = Path(shutil.make_archive(str(Path(tmp) / "archive"), fmt, src))
        built.replace(dest)
    digest = file_digests(dest)["sha256"]
    dest.with_name(dest.name + ".sha256").write_text(f"{digest}  {dest.name}\n")
    return digest
