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
    for rule in ("extract_activations", "train_sae", "codec_steering"):
        assert rule in resources
        for line in resources[rule]:
            assert "slurm_partition=gpu" in line and "gpu=1" in line and "slurm_account=mylab" in line
    for line in resources["figure_probing"]:
        assert "gpu=1" not in line and "slurm_partition=cpu" in line
    # Sized per job from the registry and the SAE: paper C's 64x grid asks for more than a 4x clip-mean SAE.
    sae_mem = {int(re.search(r"mem_mb=(\d+)", line).group(1)) for line in resources["train_sae"]}
    assert len(sae_mem) > 3 and max(sae_mem) > min(sae_mem) + 500


def rule_blocks() -> dict[str, str]:
    """rule name -> its text, from the Snakefile and every rules/*.smk."""
    blocks = {}
    for path in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        for m in re.finditer(r"^ *rule (\w+):\n(.*?)(?=^ *rule \w+:|\Z)", path.read_text(), flags=re.M | re.S):
            blocks[m.group(1)] = m.group(2)
    return blocks


def test_light_rules_are_local(slurm_dry_run):
    """Each file marks its own light rules `localrule: True` (they run on the submit host); the heavy ones are
    submitted. (A dry-run through the SLURM executor prints every job as `rule`, so the rules are read.)"""
    blocks = rule_blocks()
    local = {name for name, text in blocks.items() if re.search(r"^\s+localrule: True", text, flags=re.M)}
    assert {"figure_probing", "figure_reconstruction", "prepare_model", "all", "clip_table", "probing_table",
            "download_archive", "verify"} <= local
    assert not local & {"train_sae", "extract_activations", "probe_layer", "steering", "codec_steering"}
    ran = set(re.findall(r"^rule (\w+):", slurm_dry_run, flags=re.M))
    assert {"figure_probing", "train_sae", "download_archive"} <= ran and {"figure_probing", "train_sae"} <= set(blocks)


def test_memory_and_runtime_grow_with_the_attempt_and_the_model():
    from audiosae.cluster import extraction_mem_mb, grow, sae_mem_mb

    assert extraction_mem_mb("whisper_large_v3", 16, attempt=2) == 2 * extraction_mem_mb("whisper_large_v3", 16)
    assert extraction_mem_mb("whisper_large_v3", 16) > 3 * extraction_mem_mb("whisper_tiny_en", 16)
    assert sae_mem_mb(1280, 10240, 4096, 512, attempt=3) == 3 * sae_mem_mb(1280, 10240, 4096, 512)
    assert grow(60)(None, 2) == 120
    # Every resource of every rule is attempt-dependent: no fixed mem_mb or runtime left in the rules.
    for name, text in rule_blocks().items():
        assert not re.search(r"^\s+(mem_mb|runtime)=\d+,", text, flags=re.M), name


def test_runtime_follows_the_model_and_the_data():
    """Runtime limits come from the model's size and the dataset's hours of audio (extraction) and from the SAE's
    size and steps (training), as the README's GPU-hour table does."""
    from audiosae.cluster import activation_gb, extraction_hours, runtime_min, sae_hours

    assert extraction_hours("hubert_large_ll60k", "vocalsound") > 2 * extraction_hours("hubert_base_ls960", "vocalsound")
    assert extraction_hours("hubert_base_ls960", "vocalsound") > 3 * extraction_hours("hubert_base_ls960", "esc50")
    assert activation_gb("hubert_large_ll60k", "vocalsound") > 100  # 25 layers x 1024 x 50 fps x 23 h, fp16
    assert sae_hours(1024, 8192, 30000, 4096) > 10 * sae_hours(768, 2048, 5000, 256)
    assert runtime_min(1.0, attempt=2) == 2 * runtime_min(1.0) and runtime_min(0.0) >= 10
