"""The full study (config/paper.yaml) rehearsed offline (config/rehearsal.yaml on top): the same DAG with miniature
archives in the real layouts, a miniature Broderick BIDS and random-init stand-ins of every hub model. Every rule of
the full study runs; every table, figure and stored artefact is opened and checked; the stand-ins cannot be taken
for real weights. Also: the full study's own dry-run and the pre-submission summary (audiosae.jobs)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pandas as pd
import pytest
import yaml

from audiosae.config import load_schema, validate_config
from audiosae.models.registry import get_model_spec

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "config" / "paper.yaml"
OVERLAY = REPO / "config" / "rehearsal.yaml"


def snakemake(*args, workdir, configs=(PAPER, OVERLAY), check=True):
    cmd = [sys.executable, "-m", "snakemake", *args, "--configfile", *map(str, configs), "--directory", str(workdir),
           "-s", str(REPO / "Snakefile")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout + proc.stderr


def rules_of(dry_run: str) -> dict[str, int]:
    table = dry_run.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.fixture(scope="module")
def full_dry_run(tmp_path_factory):
    return snakemake("-n", "--cores", "1", workdir=tmp_path_factory.mktemp("paper"), configs=(PAPER,))


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory, full_dry_run):
    """A fresh rehearsal (timed), or with AUDIOSAE_REHEARSAL_WORKDIR the one in that folder, brought up to date (its
    first run's time is kept in rehearsal_seconds.txt)."""
    reuse = os.environ.get("AUDIOSAE_REHEARSAL_WORKDIR")
    if not reuse and os.environ.get("AUDIOSAE_REHEARSAL") == "0":
        pytest.skip("AUDIOSAE_REHEARSAL=0: the full rehearsal is skipped (it takes most of the suite's time)")
    work = Path(reuse) if reuse else tmp_path_factory.mktemp("rehearsal")
    planned = rules_of(snakemake("-n", "--cores", "2", "--forceall", workdir=work))
    t0 = time.perf_counter()
    snakemake("--cores", "2", "--keep-going", workdir=work)  # on a failure, every failed job is named at once
    seconds = time.perf_counter() - t0
    record = work / "rehearsal_seconds.txt"
    if reuse and record.exists():
        seconds = float(record.read_text())
    else:
        record.write_text(f"{seconds:.0f}\n")
    return work, planned, seconds


def test_full_study_dry_run_lists_the_three_papers(full_dry_run):
    jobs = rules_of(full_dry_run)
    for rule in ("download_archive", "prepare_model", "extract_activations", "train_sae", "probe_layer",
                 "disentangle_layer", "stability_table", "concept_ablation", "steering", "eeg_download_broderick_subject",
                 "eeg_analysis", "acoustic_probe", "codec_steering", "figure_eeg", "figure_codec_steering"):
        assert jobs.get(rule, 0) >= 1, rule
    cfg = yaml.safe_load(PAPER.read_text())
    for model in ("hubert_base_ls960", "wavlm_base_plus", "mert_v1_95m", "ast_audioset", "whisper_small",
                  "hubert_large_ll60k", "encodec_24khz", "dac_16khz"):
        assert model in cfg["models"] and f"resources/models/{model}" in full_dry_run
        # every hub model pinned to a full commit (MERT's hub code runs only then)
        assert re.fullmatch(r"[0-9a-f]{40}", cfg["model_options"][model]["revision"]), model
    # Paper B: frame-level BatchTopK at 8x on every layer of both models, on each corpus.
    for dataset in ("librispeech", "esc50", "vocalsound"):
        for model in ("whisper_small", "hubert_large_ll60k"):
            for layer in get_model_spec(model).layers:
                assert f"results/sae/{dataset}/{model}/layer{layer}/main/batchtopk-x8-s0.99186-seed0" in full_dry_run
    # Paper A: both trainers, the whole sparsity sweep, every layer.
    for s in (0.75, 0.8, 0.85, 0.9, 0.95, 0.99):
        assert f"results/sae/vocalset/mert_v1_95m/layer12/main/paper_a_topk-d2048-s{s}-seed0" in full_dry_run
        assert f"results/sae/vocalset/ast_audioset/layer0/main/topk-d2048-s{s}-seed0" in full_dry_run


def test_every_rule_of_the_full_study_runs_in_the_rehearsal(full_dry_run, rehearsal):
    work, planned, seconds = rehearsal
    full = set(rules_of(full_dry_run))
    stand_ins = {"rehearsal_archives", "rehearsal_models", "rehearsal_bids"}
    assert set(planned) - stand_ins == full, (set(planned) ^ full) - stand_ins
    assert "Nothing to be done" in snakemake("-n", "--cores", "1", workdir=work)
    # Its wall time is measured, not asserted (README, "Rehearsal"): printed into the test log and kept in the folder.
    print(f"rehearsal: {sum(planned.values())} jobs in {seconds:.0f} s")


def test_stand_ins_cannot_pass_for_real_weights(rehearsal):
    work, _, _ = rehearsal
    cfg = yaml.safe_load(PAPER.read_text())
    for model in cfg["models"]:
        prov = json.loads((work / "resources/models" / model / "provenance.json").read_text())
        assert prov["random_init"] is True and prov["commit"] is None and "RANDOM WEIGHTS" in prov["rehearsal"]["note"]
        assert prov["rehearsal"]["n_blocks"] == get_model_spec(model).n_blocks
        assert "RANDOM WEIGHTS" in (work / "resources/models" / model / "README.md").read_text()
    mert = json.loads((work / "resources/models/mert_v1_95m/provenance.json").read_text())
    assert "HubertModel" in mert["rehearsal"]["stand_in_class"]
    # Pinned to a full commit, so the real run may run MERT's hub code; the revision travels into provenance.
    assert "real_fetch_refused" not in mert["rehearsal"]
    for model, options in cfg["model_options"].items():
        prov = json.loads((work / "resources/models" / model / "provenance.json").read_text())
        assert re.fullmatch(r"[0-9a-f]{40}", options["revision"]) and prov["revision"] == options["revision"], model
    with h5py.File(work / "results/activations/librispeech/hubert_large_ll60k.h5", "r") as h5:
        assert h5.attrs["weights_random_init"] == "true" and bool(h5.attrs["complete"])
        assert sorted(int(k) for k in h5["layers"]) == list(range(25))  # HuBERT large's 24 blocks + input
    cfgs = list((work / "results/sae").rglob("cfg.json"))
    assert cfgs and all(json.loads(p.read_text()).get("weights_random_init") == "true" for p in cfgs)


def test_every_table_figure_and_artefact_opens(rehearsal):
    work, _, _ = rehearsal
    tables = sorted((work / "results/tables").rglob("*.csv"))
    names = {p.relative_to(work / "results/tables").parts[0] for p in tables}
    for kind in ("probing", "reconstruction", "disentanglement", "dimensions", "regression", "layer_profile",
                 "stability", "concepts", "steering", "eeg", "acoustics"):
        assert kind in names, kind
    for path in tables:
        pd.read_csv(path)  # parses
    figures = sorted((work / "results/figures").rglob("*.png"))
    assert figures
    import matplotlib.image

    for path in figures:
        assert matplotlib.image.imread(path).size > 0, path
    for stem in ("eeg/broderick/whisper_small/trfs", "steering_corpus/whisper_small/steering",
                 "nsynth/dac_16khz/codec_steering", "vocalset/mert_v1_95m/disentanglement",
                 "librispeech/hubert_large_ll60k/stability", "esc50/whisper_small/concept_ablation"):
        assert (work / "results/figures" / f"{stem}.png").exists() or list((work / "results/figures").glob(f"{stem}*")), stem
    snakemake("verify", "--cores", "1", workdir=work)  # opens every activation store, SAE and table; fails on damage
    assert "artefacts are sound" in (work / "results/logs/verify.log").read_text()


def test_pre_submission_summary():
    from audiosae import jobs

    out = subprocess.run([sys.executable, "-m", "audiosae.jobs", "--configfile", str(PAPER)], cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = {line.split()[0]: line.split() for line in out.stdout.splitlines()[2:-1]}
    assert lines["train_sae"][2].startswith("gpu") and lines["extract_activations"][2].startswith("gpu")
    assert lines["figure_probing"][2] == "local" and "GPU-hours" in out.stdout.splitlines()[-1]
    assert jobs.parse_dry_run("rule a:\n    resources: mem_mb=10, runtime=5\nlocalrule b:\n")["b"]["local"]


def test_paper_config_pins_every_hub_model_to_a_commit():
    config = yaml.safe_load(PAPER.read_text())
    validate_config(config, REPO / "config" / "schema.yaml")
    for model in config["models"]:
        if get_model_spec(model).source == "hub":
            assert re.fullmatch(r"[0-9a-f]{40}", config["model_options"][model]["revision"]), model
    assert load_schema(REPO / "config" / "schema.yaml")["properties"]["rehearsal"]


@pytest.mark.parametrize("kind", ["vocalset", "librispeech", "esc50", "nsynth", "vocalsound"])
def test_miniature_release_archives_are_written_and_checksummed(tmp_path, kind):
    """Each stand-in archive the rehearsal serves over file:// (in CI, not only when the whole rehearsal runs)."""
    import hashlib

    from audiosae.rehearsal import ARCHIVE_KINDS, _SUFFIX
    from audiosae.rehearsal.archives import write_archive

    dest = tmp_path / f"release{_SUFFIX[ARCHIVE_KINDS[kind][1]]}"
    digest = write_archive(kind, dest, seed=0)
    assert digest == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert (tmp_path / f"{dest.name}.sha256").read_text() == f"{digest}  {dest.name}\n"
    assert dest.stat().st_size > 1000
    with pytest.raises(ValueError, match="no miniature archive for kind 'mp3'"):
        write_archive("mp3", dest)
