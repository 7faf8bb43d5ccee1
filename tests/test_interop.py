"""Interop with SAELens: every variant's SAE folder, as the workflow writes it and as audiosae.export writes it,
loads with the real sae-lens package's ``SAE.load_from_disk`` and encodes as ours does; the model card.

sae-lens runs in this interpreter when it is importable, else in the interpreter that AUDIOSAE_SAELENS_PYTHON
names (a separate environment with sae-lens installed), through a small loader script. Nothing is downloaded.
Under CI (CI=true) a missing sae-lens is a failure, not a skip: the SAELens load test must run there.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import textwrap

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from audiosae.export import CARD, export_sae, model_card
from audiosae.sae.io import CFG, LEGACY_WEIGHTS, WEIGHTS, load_sae, save_sae
from audiosae.sae.model import build_sae
from audiosae.sae.train import TrainConfig, random_batches, train_sae

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SAELENS_PYTHON = os.environ.get("AUDIOSAE_SAELENS_PYTHON")
VARIANTS = [("topk", 4, "topk"), ("batchtopk", 4, "jumprelu"), ("relu", 0.3, "standard"), ("jumprelu", 4, "jumprelu")]
META = {"sweep": "main", "dataset": "vocalset_synth", "model": "whisper_tiny_en", "expansion": 1.5,
        "hook_name": "encoder.layers.2", "layer": 2, "seed": 0, "train_on": "frames"}

# Runs in sae-lens's interpreter (which need not have audiosae): for each job, load the folder with
# SAE.load_from_disk, encode and decode the rows of x, and report the loaded config.
LOADER = textwrap.dedent('''
    import json, sys
    import numpy as np
    import torch
    import sae_lens
    from sae_lens import SAE

    def run(jobs):
        out = []
        for job in jobs:
            sae = SAE.load_from_disk(job["folder"])
            x = torch.from_numpy(np.load(job["x"]))
            with torch.no_grad():
                codes = sae.encode(x)
                recon = sae.decode(codes)
            np.save(job["codes"], codes.numpy())
            np.save(job["recon"], recon.numpy())
            cfg = sae.cfg.to_dict()
            out.append({"class": type(sae).__name__, "cfg": cfg, "version": sae_lens.__version__})
        return out

    if __name__ == "__main__":
        jobs = json.load(open(sys.argv[1]))
        json.dump(run(jobs), open(sys.argv[2], "w"), default=str)
''')


def saelens_backend():
    """'inprocess', or the path of sae-lens's interpreter; skip (fail under CI) when there is neither."""
    if importlib.util.find_spec("sae_lens") is not None:
        return "inprocess"
    if SAELENS_PYTHON:
        return SAELENS_PYTHON
    reason = ("sae-lens is not importable here and AUDIOSAE_SAELENS_PYTHON (an interpreter with sae-lens) is not set; "
              "pip install sae-lens==6.54.12 (it fits the project's pins)")
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the SAELens load test: {reason}")
    pytest.skip(reason)


def load_with_saelens(tmp_path, folders: list, x: torch.Tensor, backend: str | None = None) -> list[dict]:
    """Per folder: {'class', 'cfg', 'version', 'codes', 'recon'} from sae-lens's SAE.load_from_disk."""
    backend = backend or saelens_backend()
    work = tmp_path / "saelens_jobs"
    work.mkdir(exist_ok=True)
    np.save(work / "x.npy", x.numpy())
    jobs = [{"folder": str(f), "x": str(work / "x.npy"), "codes": str(work / f"codes{i}.npy"),
             "recon": str(work / f"recon{i}.npy")} for i, f in enumerate(folders)]
    script = work / "loader.py"
    script.write_text(LOADER)
    if backend == "inprocess":
        namespace: dict = {}
        exec(compile(LOADER, str(script), "exec"), namespace)
        results = json.loads(json.dumps(namespace["run"](jobs), default=str))
    else:
        (work / "jobs.json").write_text(json.dumps(jobs))
        proc = subprocess.run([backend, str(script), str(work / "jobs.json"), str(work / "out.json")],
                              capture_output=True, text=True, timeout=600, env={**os.environ, "WANDB_MODE": "disabled"})
        assert proc.returncode == 0, f"sae-lens loader failed in {backend}:\n{proc.stderr[-4000:]}"
        results = json.loads((work / "out.json").read_text())
    for job, res in zip(jobs, results):
        res["codes"] = torch.from_numpy(np.load(job["codes"]))
        res["recon"] = torch.from_numpy(np.load(job["recon"]))
    return results


def trained_sae(variant, sparsity, out, x, meta=META):
    sae = build_sae(variant, x.shape[1], 48, sparsity)
    scale, _ = train_sae(sae, lambda s: random_batches(x, 64, 0, s), x,
                         TrainConfig(steps=20, batch_size=64, lr=1e-3), progress=False)
    save_sae(sae, out, {**meta, "sparsity": sparsity, "training": {"steps": 20, "lr": 1e-3}}, scale)
    metrics = {"held_out": {"fvu": 0.123, "l0": 4.0, "mse": 0.5, "cosine": 0.9, "dead_fraction": 0.0,
                            "dense_fraction": 0.1, "n_rows": 100}, "variant": variant}
    (out / "metrics.json").write_text(json.dumps(metrics))
    return out


@pytest.fixture(scope="module")
def rows():
    gen = torch.Generator().manual_seed(0)
    atoms = torch.randn(64, 32, generator=gen)
    idx = torch.randint(0, 64, (400, 4), generator=gen)
    x = (torch.rand(400, 4, 1, generator=gen) * 2 + 0.5).mul(atoms[idx]).sum(1) * 20.0  # raw scale, not unit
    return x + 0.1 * torch.randn(x.shape, generator=gen)


def test_every_variant_loads_in_saelens_as_written_and_as_exported(tmp_path, rows):
    folders, exports = [], []
    for variant, sparsity, _ in VARIANTS:
        folder = trained_sae(variant, sparsity, tmp_path / "sae" / variant, rows)
        folders.append(folder)
        exports.append(export_sae(folder, tmp_path / "export" / variant))
    results = load_with_saelens(tmp_path, folders + exports, rows)
    for i, (variant, sparsity, architecture) in enumerate(VARIANTS):
        ours, cfg = load_sae(folders[i])
        with torch.no_grad():
            want_codes, want_recon = ours.encode(rows), ours(rows)
        assert (want_codes > 0).any(), variant
        for res, where in ((results[i], "as written"), (results[len(VARIANTS) + i], "exported")):
            label = f"{variant} {where}"
            assert res["cfg"]["architecture"] == architecture, label
            assert torch.allclose(res["codes"], want_codes, atol=1e-5), label
            assert torch.equal(res["codes"] > 0, want_codes > 0), label  # the same features fire
            assert torch.allclose(res["recon"], want_recon, atol=1e-4), label
            lens_cfg = res["cfg"]
            assert (lens_cfg["d_in"], lens_cfg["d_sae"]) == (32, 48), label
            assert lens_cfg["apply_b_dec_to_input"] is True and lens_cfg["normalize_activations"] == "none", label
            if architecture == "topk":
                assert lens_cfg["k"] == cfg["k"] == 4, label
            md = lens_cfg["metadata"]  # our model, hook and data, as sae-lens reads them
            assert md["model_name"] == "whisper_tiny_en" and md["hook_name"] == "encoder.layers.2", label
            assert md["hook_layer"] == 2 and md["dataset_path"] == "vocalset_synth", label
            assert md["sae_lens_training_version"] is None, label
        assert results[0]["class"] == "TopKSAE"


def test_cfg_json_carries_saelens_fields_beside_ours(tmp_path, rows):
    folder = trained_sae("topk", 4, tmp_path / "topk", rows)
    cfg = json.loads((folder / CFG).read_text())
    for key, value in META.items():  # ours, unchanged
        assert cfg[key] == value, key
    assert cfg["variant"] == "topk" and cfg["input_scale_folded"] is True and cfg["training"]["steps"] == 20
    assert {k: cfg[k] for k in ("architecture", "d_in", "d_sae", "k", "dtype", "device", "apply_b_dec_to_input",
                                "normalize_activations", "reshape_activations", "rescale_acts_by_decoder_norm")} == {
        "architecture": "topk", "d_in": 32, "d_sae": 48, "k": 4, "dtype": "float32", "device": "cpu",
        "apply_b_dec_to_input": True, "normalize_activations": "none", "reshape_activations": "none",
        "rescale_acts_by_decoder_norm": False}
    md = cfg["metadata"]
    assert md["model_name"] == "whisper_tiny_en" and md["hook_name"] == "encoder.layers.2" and md["hook_layer"] == 2
    assert md["hook_head_index"] is None and md["context_size"] is None and md["prepend_bos"] is False
    assert md["dataset_path"] == "vocalset_synth" and md["sae_lens_version"].startswith("6.")
    assert sorted(p.name for p in folder.iterdir()) == [CFG, "metrics.json", WEIGHTS]


def front_matter(card: str) -> dict:
    assert card.startswith("---\n"), card[:40]
    head, _, _ = card[4:].partition("\n---\n")
    return yaml.safe_load(head)


def test_export_writes_a_saelens_folder_with_a_model_card(tmp_path, rows):
    folder = trained_sae("topk", 4, tmp_path / "sae", rows)
    out = export_sae(folder, tmp_path / "hub" / "topk-x1.5-s4-seed0")
    assert sorted(p.name for p in out.iterdir()) == [CARD, CFG, "metrics.json", WEIGHTS]
    assert (out / WEIGHTS).read_bytes() == (folder / WEIGHTS).read_bytes()
    assert json.loads((out / CFG).read_text()) == json.loads((folder / CFG).read_text())
    assert not list(out.parent.glob(".*"))  # no temporary folder left
    card = (out / CARD).read_text()
    fm = front_matter(card)
    assert fm["library_name"] == "saelens"
    assert {"sae_lens", "sparse-autoencoder", "audio", "audiosae", "whisper"} <= set(fm["tags"])
    body = card.split("\n---\n", 1)[1]
    for text in ("whisper_tiny_en", "Whisper tiny.en encoder", "encoder.layers.2", "vocalset_synth", "| d_in | 32 |",
                 "| d_sae | 48 |", "| k (active features per input) | 4 |", "frames (one input per model frame)",
                 "| `steps` | 20 |", "| fraction of variance unexplained | 0.123 |", "SAE.load_from_disk",
                 "from audiosae import api", "## Licence", "responsibility"):
        assert text in body, text
    relu = model_card({**json.loads((folder / CFG).read_text()), "variant": "relu", "architecture": "standard",
                       "l1_coefficient": 0.3, "train_on": "clip_means"}, None)
    assert "| L1 coefficient | 0.3 |" in relu and "clip means" in relu and "Held-out metrics" not in relu


def test_export_refuses_to_clobber_and_reads_legacy_folders(tmp_path, rows):
    folder = trained_sae("topk", 4, tmp_path / "sae", rows)
    with pytest.raises(ValueError, match="would replace the SAE folder"):
        export_sae(folder, folder)
    with pytest.raises(ValueError, match="would replace the SAE folder"):
        export_sae(folder, tmp_path)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="busy: exists and is not empty"):
        export_sae(folder, busy)
    assert (busy / "keep.txt").exists()
    export_sae(folder, busy, overwrite=True)
    assert not (busy / "keep.txt").exists() and (busy / WEIGHTS).exists()
    with pytest.raises(FileNotFoundError, match="nowhere: no such SAE folder"):
        export_sae(tmp_path / "nowhere", tmp_path / "out")
    # a folder written before the weights took sae-lens's name, and before cfg.json had sae-lens's metadata
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (folder / WEIGHTS).rename(legacy / LEGACY_WEIGHTS)
    cfg = json.loads((folder / CFG).read_text())
    for key in ("metadata", "reshape_activations", "rescale_acts_by_decoder_norm"):
        del cfg[key]
    (legacy / CFG).write_text(json.dumps(cfg))
    out = export_sae(legacy, tmp_path / "legacy_export")
    assert (out / WEIGHTS).read_bytes() == (legacy / LEGACY_WEIGHTS).read_bytes()
    assert json.loads((out / CFG).read_text())["metadata"]["model_name"] == "whisper_tiny_en"
    assert set(load_file(str(out / WEIGHTS))) == {"W_enc", "b_enc", "W_dec", "b_dec"}


def test_failed_export_leaves_nothing(tmp_path, rows, monkeypatch):
    import audiosae.export as export

    folder = trained_sae("topk", 4, tmp_path / "sae", rows)

    def broken(*a, **k):
        raise RuntimeError("card failed")

    monkeypatch.setattr(export, "model_card", broken)
    with pytest.raises(RuntimeError, match="card failed"):
        export.export_sae(folder, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


@pytest.mark.skipif(not SAELENS_PYTHON, reason="AUDIOSAE_SAELENS_PYTHON not set (the separate-environment path)")
def test_loader_script_runs_in_the_separate_interpreter(tmp_path, rows):
    """The separate-environment path, even where sae-lens is importable here too."""
    folder = trained_sae("batchtopk", 4, tmp_path / "sae", rows)
    (res,) = load_with_saelens(tmp_path, [folder], rows, backend=SAELENS_PYTHON)
    ours, _ = load_sae(folder)
    with torch.no_grad():
        assert torch.allclose(res["codes"], ours.encode(rows), atol=1e-5)
    assert res["class"] == "JumpReLUSAE" and res["version"].startswith("6.")

