#!/usr/bin/env python
"""Post-deploy script of every env (envs/<stage>.post-deploy.sh are links to this file): installs the project package
(and the env's no-deps packages) into the new env.

Snakemake (--sdm conda) creates the env from a copy of envs/<stage>.yaml at <conda-prefix>/<hash>_.yaml, then copies
this file to <conda-prefix>/<hash>_.post-deploy.sh and runs it with the env activated (the shebang picks the env's
python), from the working directory. Neither this file's path nor the working directory (--directory) says where the
workflow's checkout is, so the checkout is found as:
  1. $AUDIOSAE_SRC, when set (a folder holding audiosae's pyproject.toml);
  2. else the checkout the Python running Snakemake imports audiosae from (the Snakefile imports audiosae.config, so
     that Python has it): the first ancestor process that is a Python and imports audiosae, asked for its location
     (an editable install gives the checkout; `pip install <folder>` gives the folder from its direct_url.json).
audiosae goes in editable and --no-deps: the env's pip section holds the stage's own pins, and rules import the code
of the checkout they run from, without rebuilding the env. The env records that checkout's path: after moving the
checkout, delete the env (<conda-prefix>/<hash>_) for Snakemake to rebuild it, and give each checkout its own
--conda-prefix. Like the pip section, this needs the package index (pip fetches setuptools to build audiosae).
Packages that an env file lists in a comment line `# post-deploy --no-deps: NAME==VER ...` are installed with
--no-deps (a package whose declared dependencies the stage does not need); the line is read from the env file's copy
beside this script's copy (<hash>_.yaml), so one script serves every env.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

NO_DEPS_MARK = "# post-deploy --no-deps:"


def no_deps(script: Path) -> list[str]:
    """The --no-deps packages the env file (the copy beside this script's copy) names in its marker comment."""
    env_file = script.with_name(script.name.replace(".post-deploy.sh", ".yaml"))
    return [pin for line in env_file.read_text().splitlines() if line.startswith(NO_DEPS_MARK)
            for pin in line[len(NO_DEPS_MARK):].split()]

PROBE = r"""
import json, pathlib, sys
from importlib import metadata
from urllib.parse import unquote, urlparse
try:
    import audiosae
except ImportError:
    sys.exit(3)
found = [str(pathlib.Path(audiosae.__file__).resolve().parents[2])]
try:
    url = json.loads(metadata.distribution("audiosae").read_text("direct_url.json") or "{}").get("url", "")
    if url.startswith("file://"):
        found.append(unquote(urlparse(url).path))
except metadata.PackageNotFoundError:
    pass
print(json.dumps(found))
"""


def is_checkout(path) -> bool:
    pyproject, package = Path(path) / "pyproject.toml", Path(path) / "src" / "audiosae"
    return pyproject.is_file() and 'name = "audiosae"' in pyproject.read_text() and package.is_dir()


def parent_and_argv0(pid: int):
    """(parent pid, absolute path of argv[0]) of a process: /proc on Linux, ps elsewhere."""
    proc = Path("/proc") / str(pid)
    if proc.is_dir():
        ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        argv = (proc / "cmdline").read_bytes().split(b"\0")
        argv0 = os.fsdecode(argv[0]) if argv and argv[0] else ""
        try:
            cwd = os.readlink(proc / "cwd")
            pairs = os.fsdecode((proc / "environ").read_bytes()).split("\0")
            environ = dict(p.split("=", 1) for p in pairs if "=" in p)
        except OSError:
            cwd, environ = "/", {}
    else:  # macOS, BSDs
        out = subprocess.run(["ps", "-o", "ppid=", "-o", "command=", "-p", str(pid)], capture_output=True, text=True)
        fields = out.stdout.split()
        if len(fields) < 2:
            return 0, ""
        ppid, argv0, cwd, environ = int(fields[0]), fields[1], "/", dict(os.environ)
    if argv0 and os.sep not in argv0:  # found on that process's PATH
        argv0 = shutil.which(argv0, path=environ.get("PATH", os.environ.get("PATH"))) or ""
    elif argv0 and not os.path.isabs(argv0):
        argv0 = os.path.join(cwd, argv0)
    return ppid, argv0


def ancestors():
    """argv[0] of each ancestor process, nearest first."""
    pid = os.getppid()
    for _ in range(64):
        if pid <= 1:
            return
        ppid, argv0 = parent_and_argv0(pid)
        yield argv0
        pid = ppid


def find_checkout() -> Path:
    if os.environ.get("AUDIOSAE_SRC"):
        src = Path(os.environ["AUDIOSAE_SRC"]).expanduser().resolve()
        if not is_checkout(src):
            sys.exit(f"AUDIOSAE_SRC={src} holds no audiosae pyproject.toml and src/audiosae")
        return src
    tried = []
    for exe in ancestors():
        if not exe or not os.path.basename(exe).startswith("python") or exe in tried:
            continue
        tried.append(exe)
        # Run from / so that the working directory cannot shadow the package; the environment is Snakemake's.
        out = subprocess.run([exe, "-c", PROBE], capture_output=True, text=True, cwd="/")
        if out.returncode == 0:
            for path in json.loads(out.stdout.strip().splitlines()[-1]):
                if is_checkout(path):
                    return Path(path)
    sys.exit(
        "post-deploy: cannot find the audiosae checkout to install into this env: no ancestor Python imports audiosae "
        f"from a checkout (tried: {', '.join(tried) or 'none'}). Install the project into the Python that runs "
        "Snakemake (pip install -e <checkout>), or set AUDIOSAE_SRC=<checkout>."
    )


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-input", "--disable-pip-version-check", *args],
                   check=True)


def main() -> None:
    checkout = find_checkout()
    print(f"post-deploy: installing audiosae (editable, --no-deps) from {checkout} into {sys.prefix}", flush=True)
    pip("--no-deps", "--editable", str(checkout))
    extra = no_deps(Path(__file__).absolute())  # Snakemake's copy, or envs/<stage>.post-deploy.sh (a link)
    if extra:
        pip("--no-deps", *extra)
    # The env imports the checkout's package, from any working directory.
    where = subprocess.run([sys.executable, "-c", "import audiosae; print(audiosae.__file__)"], capture_output=True,
                           text=True, cwd="/", check=True).stdout.strip()
    if not Path(where).resolve().is_relative_to((checkout / "src").resolve()):
        sys.exit(f"post-deploy: audiosae imports from {where}, not from {checkout / 'src'}")


if __name__ == "__main__":
    main()
