"""Fetching dataset archives: resumable downloads with checksums, and extraction that stays in its folder.

Real sources must be https; plain http is accepted only for a server on this machine (127.0.0.1 or
localhost, as the tests use) and file:// URLs are read directly. A partial download is kept as
``<file>.part`` and resumed with an HTTP Range request; the finished file is verified (size, md5
and/or sha256) before it is renamed into place, so a file under its final name is always complete.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath

from tqdm import tqdm

log = logging.getLogger(__name__)

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download that failed or whose content does not match its checksum; the message names both."""


class UnsafeArchiveError(ValueError):
    """An archive member that would land outside the target folder, or is a link or device."""


@dataclass(frozen=True)
class Source:
    """Where one archive comes from and how to recognise it."""

    url: str
    filename: str
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None

    def __post_init__(self):
        check_url(self.url)

    @property
    def pinned(self) -> bool:
        return bool(self.md5 or self.sha256)


def check_url(url: str) -> None:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "https" or parsed.scheme == "file":
        return
    if parsed.scheme == "http" and parsed.hostname in _LOCAL_HOSTS:
        return
    raise ValueError(f"{url}: only https URLs (or file:// and http://127.0.0.1 for local mirrors) are allowed")


def file_digests(path: str | Path) -> dict[str, str]:
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            md5.update(chunk)
            sha256.update(chunk)
    return {"md5": md5.hexdigest(), "sha256": sha256.hexdigest()}


def verify(path: str | Path, source: Source) -> None:
    """Raise DownloadError naming the file unless its size and checksums match ``source``."""
    path = Path(path)
    size = path.stat().st_size
    if source.size is not None and size != source.size:
        raise DownloadError(f"{path}: {size} bytes, expected {source.size} for {source.url}")
    digests = file_digests(path)
    for name in ("md5", "sha256"):
        expected = getattr(source, name)
        if expected and digests[name] != expected.lower():
            raise DownloadError(f"{path}: {name} {digests[name]} does not match the expected {expected} "
                                f"for {source.url}; the file is corrupt or not the published one")


def _open(url: str, start: int, timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": "audiosae"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (scheme checked above)


def download(source: Source, dest: str | Path, retries: int = 3, timeout: float = 60.0,
             progress: bool = True, backoff_s: float = 2.0) -> Path:
    """Download ``source`` to ``dest`` (resuming ``dest.part``), verify it, and return ``dest``.

    An existing ``dest`` that verifies is kept as is. A completed file whose checksum is wrong is
    deleted (so the next attempt starts afresh) and DownloadError is raised.
    """
    check_url(source.url)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        verify(dest, source)
        return dest
    part = dest.with_name(dest.name + ".part")
    parsed = urllib.parse.urlparse(source.url)
    if parsed.scheme == "file":
        src = Path(urllib.request.url2pathname(parsed.path))
        if not src.is_file():
            raise DownloadError(f"{source.url}: no such file")
        shutil.copyfile(src, part)
    else:
        _fetch_http(source, part, retries, timeout, progress, backoff_s)
    try:
        verify(part, source)
    except DownloadError:
        part.unlink()
        raise
    if not source.pinned:  # nothing published to compare with: record what was fetched, loudly
        digest = file_digests(part)["sha256"]
        dest.with_name(dest.name + ".sha256").write_text(f"{digest}  {dest.name}\n")
        log.warning("%s: no checksum configured for %s; its sha256 is %s (saved beside it). Pin it in the "
                    "config (sha256: ...) so later downloads are verified.", dest, source.url, digest)
    os.replace(part, dest)
    return dest


def _fetch_http(source: Source, part: Path, retries: int, timeout: float, progress: bool, backoff_s: float) -> None:
    for attempt in range(1, retries + 1):
        start = part.stat().st_size if part.exists() else 0
        if source.size is not None and start >= source.size:
            return
        try:
            with _open(source.url, start, timeout) as response:
                resumed = start and response.status == 206
                if start and not resumed:  # the server ignored the Range header: start over
                    log.info("%s: server does not resume; downloading from the start", source.url)
                    start = 0
                total = response.headers.get("Content-Length")
                total = int(total) + start if total is not None else source.size
                with open(part, "ab" if resumed else "wb") as fh, tqdm(
                    total=total, initial=start, unit="B", unit_scale=True, desc=source.filename,
                    disable=not progress,
                ) as bar:
                    while chunk := response.read(_CHUNK):
                        fh.write(chunk)
                        bar.update(len(chunk))
            if source.size is None or part.stat().st_size >= source.size:
                return
            raise DownloadError(f"{source.url}: connection ended after {part.stat().st_size} bytes")
        except (urllib.error.URLError, OSError, DownloadError) as exc:
            if isinstance(exc, urllib.error.HTTPError) and exc.code == 416 and start:
                return  # range not satisfiable: the part file is already complete
            if attempt == retries:
                raise DownloadError(f"{source.url}: download failed after {retries} attempts ({exc}); "
                                    f"{part} is kept and the next run resumes it") from exc
            log.warning("%s: attempt %d failed (%s); retrying", source.url, attempt, exc)
            time.sleep(min(backoff_s * 2.0 ** (attempt - 1), 60.0))


# --------------------------------------------------------------------------
# Extraction


# Limits on what an archive may unpack to; a dataset's options max_extract_gb and max_compression_ratio change them.
# The largest archive the study reads, VocalSet (2.1 GB zipped WAVs), unpacks to about 3 GB, NSynth test and
# LibriSpeech test-clean to under 1 GB: 64 GB leaves room for bigger mirrors and stays below a typical free disk.
# Audio hardly compresses (zipped or gzipped WAV/FLAC unpack to 1-4 times their size) while a zip bomb unpacks to
# a thousand times its size and more: 100 keeps archives of quiet, padded clips and stops the bombs.
MAX_EXTRACT_GB = 64.0
MAX_COMPRESSION_RATIO = 100.0


def _member_target(target: Path, name: str) -> Path | None:
    """Where a member would land; None if that is outside ``target``."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        return None
    out = (target / pure).resolve()
    return out if out == target or target in out.parents else None


@contextmanager
def _archive_members(archive: Path):
    """(name, is_dir, is_plain, size, open) for every member of a zip or tar archive; ``is_plain`` is False for
    links, devices and FIFOs. ``size`` is the declared uncompressed size, and all that ``open`` ever yields:
    zipfile stops at it (and checks the CRC), tarfile reads exactly that many bytes."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            yield [(i.filename, i.is_dir(), not stat.S_ISLNK(i.external_attr >> 16), i.file_size, partial(zf.open, i))
                   for i in zf.infolist()]
        return
    try:
        tf = tarfile.open(archive)
    except tarfile.TarError as exc:
        raise UnsafeArchiveError(f"{archive}: not a zip or tar archive ({exc})") from exc
    with tf:
        yield [(m.name, m.isdir(), m.isfile() or m.isdir(), m.size if m.isfile() else 0, partial(tf.extractfile, m))
               for m in tf.getmembers()]


def safe_extract(archive: str | Path, target: str | Path, max_bytes: int | None = None,
                 max_ratio: float | None = None) -> list[Path]:
    """Extract a .zip, .tar, .tar.gz/.tgz or .tar.bz2 into ``target``; return the files written.

    Every member is checked before anything is written: absolute names, ``..`` components, symbolic or hard
    links, devices and FIFOs are refused with one UnsafeArchiveError naming every such member; so is an archive
    that unpacks to more than ``max_bytes`` (default MAX_EXTRACT_GB) or more than ``max_ratio`` times its own
    size (default MAX_COMPRESSION_RATIO).
    """
    archive, target = Path(archive), Path(target)
    max_bytes = int(MAX_EXTRACT_GB * 1e9) if max_bytes is None else max_bytes
    max_ratio = MAX_COMPRESSION_RATIO if max_ratio is None else max_ratio
    target.mkdir(parents=True, exist_ok=True)
    target = target.resolve()
    written = []
    with _archive_members(archive) as members:
        unsafe = []
        for name, _, plain, _, _ in members:
            if _member_target(target, name) is None:
                unsafe.append(f"member {name!r} would be written outside {target}")
            elif not plain:
                unsafe.append(f"member {name!r} is a link or special file")
        if unsafe:
            shown = "\n  ".join(unsafe[:20]) + (f"\n  ... and {len(unsafe) - 20} more" if len(unsafe) > 20 else "")
            raise UnsafeArchiveError(f"{archive}: {len(unsafe)} unsafe member{'s' if len(unsafe) > 1 else ''}, "
                                     f"nothing extracted:\n  {shown}")
        total = sum(size for _, _, _, size, _ in members)
        if total > max_bytes:
            raise UnsafeArchiveError(f"{archive}: unpacks to {total} bytes, over the limit of {max_bytes} bytes; "
                                     f"nothing extracted (raise max_extract_gb in the dataset's options if it is "
                                     f"genuine and the disk has room)")
        ratio = total / max(archive.stat().st_size, 1)
        if ratio > max_ratio:
            raise UnsafeArchiveError(f"{archive}: unpacks to {total} bytes, {ratio:.0f} times its size, over the "
                                     f"compression ratio limit of {max_ratio:g} (a zip bomb?); nothing extracted "
                                     f"(raise max_compression_ratio in the dataset's options if it is genuine)")
        for name, is_dir, _, _, open_member in members:
            out = _member_target(target, name)
            if is_dir:
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            with open_member() as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
            written.append(out)
    return written


def find_dir(root: Path, predicate, max_depth: int = 3) -> Path:
    """The shallowest folder under ``root`` (root included) for which ``predicate(path)`` holds."""
    root = Path(root)
    level = [root]
    for _ in range(max_depth + 1):
        for folder in sorted(level):
            if folder.name != "__MACOSX" and predicate(folder):
                return folder
        level = [p for folder in level for p in folder.iterdir() if p.is_dir() and p.name != "__MACOSX"]
    raise FileNotFoundError(f"{root}: the archive does not hold the expected folder layout")


def extract_into(archive: str | Path, root: str | Path, anchor, dest_name: str, max_bytes: int | None = None,
                 max_ratio: float | None = None) -> Path:
    """Extract ``archive`` to a staging folder under ``root``, find the folder the dataset lives in
    (``anchor(path) -> bool``), and move it to ``root/dest_name``. Returns that folder. The limits are
    safe_extract's."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".staging-{dest_name}"
    if staging.exists():
        shutil.rmtree(staging)
    try:
        safe_extract(archive, staging, max_bytes, max_ratio)
        found = find_dir(staging, anchor)
        dest = root / dest_name
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(found, dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return dest
