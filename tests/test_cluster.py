"""The SLURM profile: a dry-run of the full-study config places every job as the README says."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Snakemake asks conda a few questions at start-up even in a dry-run; this machine has no conda.
STUB_CONDA = """#!/bin/sh
case "$*" in
  "info --json") echo '{"conda_version": "24.9.2", "root_prefix": "%(root)s", "conda_prefix": "%(root)s", "active_prefix": null, "envs_dirs": ["%(root)s/envs"], "platform": "linux-64", "channels": []}' ;;
  "--version") echo "conda 24.9.2" ;;
  "config --get channel_priority --json") echo '{"get": {"channel_priority": "strict"}, "success": true, "warnings": []}' ;;
  *) echo "stub conda cannot run: $*" >&2; exit 1 ;;
esac
"""


def full_study_config() -> Path:
    paper = REPO / "config" / "paper.yaml"
    return paper if paper.exists() else REPO / "config" / "config.yaml"


@pytest.fixture
def slurm_dry_run(tmp_path):
    pytest.importorskip("snakemake_executor_plugin_slurm")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    conda = bin_dir / "conda"
    conda.write_text(STUB_CONDA % {"root": tmp_path})
    conda.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_ACCOUNT": "mylab", "SLURM_PARTITION": "cpu", "SLURM_GPU_PARTITION": "gpu"}
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--profile", str(REPO / "profiles" / "slurm"),
         "--configfile", str(full_study_config()), "--directory", str(tmp_path / "work"), "-s", str(REPO / "Snakefile")],
        cwd=REPO, env=env, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def job_resources(dry_run_output: str) -> dict[str, set[str]]:
    """rule name -> the resource lines printed for its jobs."""
    found: dict[str, set[str]] = {}
    for block in dry_run_output.split("\nrule ")[1:]:
        name = block.split(":", 1)[0]
        match = re.search(r"^\s+resources: (.*)$", block, flags=re.M)
        found.setdefault(name, set()).add(match.group(1) if match else "")
    return found


def test_profile_places_gpu_rules_on_gpu_partition(slurm_dry_run):
    resources = job_resources(slurm_dry_run)
    for rule in ("extract_activations", "train_sae"):
        assert rule in resources
        for line in resources[rule]:
            assert "slurm_partition=gpu" in line and "gpu=1" in line and "slurm_account=mylab" in line
    for line in resources["figure_probing"]:
        assert "gpu=1" not in line and "slurm_partition=cpu" in line


def test_light_rules_are_local(slurm_dry_run):
    """Each .smk file marks its own light rules local (they run on the submit host); the heavy ones are submitted."""
    local = set(re.findall(r"^localrule (\w+):", slurm_dry_run, flags=re.M))
    submitted = set(re.findall(r"^rule (\w+):", slurm_dry_run, flags=re.M))
    assert {"figure_probing", "figure_reconstruction", "prepare_model", "all", "clip_table", "probing_table"} <= local
    assert {"train_sae", "extract_activations", "probe_layer"} <= submitted
    assert not local & submitted
