"""`snakemake verify`'s checks (audiosae.verify): each kind of stored artefact, sound and damaged."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import torch

from audiosae.sae.io import save_sae
from audiosae.sae.model import TopKSAE
from audiosae.verify import check_activations, check_sae, check_table, report, verify_study


def write_store(path, n_clips=3, frames=4, d=8, complete=True):
    with h5py.File(path, "w") as h5:
        for layer in (0, 1):
            h5.create_dataset(f"layers/{layer}", data=np.ones((n_clips * frames, d), np.float32))
        h5.create_dataset("clips/offsets", data=np.array([(i * frames, (i + 1) * frames) for i in range(n_clips)]))
        h5.create_dataset("clips/id", data=np.array([f"c{i}" for i in range(n_clips)], dtype=h5py.string_dtype()))
        h5.attrs.update(layers=np.array([0, 1]), layer_dims=np.array([d, d]), complete=complete)
    return path


def test_activation_store_checks(tmp_path):
    assert check_activations(write_store(tmp_path / "ok.h5")) == []
    assert check_activations(write_store(tmp_path / "cut.h5", complete=False)) == [
        "marked incomplete (the extraction writing it was interrupted)"]
    short = write_store(tmp_path / "short.h5")
    with h5py.File(short, "a") as h5:
        del h5["layers/1"]
        h5.create_dataset("layers/1", data=np.ones((10, 8), np.float32))
    assert check_activations(short) == ["layer 1 holds 10 frames, the clips' offsets 12"]
    truncated = write_store(tmp_path / "truncated.h5")
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    problems = check_activations(truncated)
    assert len(problems) == 1 and "not a readable activation file" in problems[0]


def initialised_sae() -> TopKSAE:
    sae = TopKSAE(8, 16, 2)
    sae.init_weights(torch.Generator().manual_seed(0))  # torch.empty's memory may hold anything, NaN included
    return sae


def test_sae_folder_checks(tmp_path):
    folder = tmp_path / "sae"
    save_sae(initialised_sae(), folder, {"layer": 0})
    (folder / "metrics.json").write_text(json.dumps({"held_out": {}}))
    assert check_sae(folder) == []
    weights = (folder / "sae_weights.safetensors").read_bytes()
    (folder / "sae_weights.safetensors").write_bytes(weights[:100])
    problems = check_sae(folder)
    assert len(problems) == 1 and problems[0].startswith("sae_weights.safetensors does not load")
    (folder / "sae_weights.safetensors").write_bytes(weights)
    (folder / "metrics.json").unlink()
    assert check_sae(folder) == ["metrics.json is missing"]
    (folder / "metrics.json").write_text("{")
    assert check_sae(folder)[0].startswith("metrics.json does not parse")
    (folder / "metrics.json").write_text("{}")
    sae = initialised_sae()
    with torch.no_grad():
        sae.W_dec[0, 0] = float("nan")
    save_sae(sae, folder, {"layer": 0})
    assert check_sae(folder) == ["weights hold non-finite values"]


def test_table_checks_and_report(tmp_path):
    pd.DataFrame({"metric": ["fvu"], "value": [0.1]}).to_csv(tmp_path / "ok.csv", index=False)
    pd.DataFrame(columns=["metric", "value"]).to_csv(tmp_path / "empty.csv", index=False)
    assert check_table(tmp_path / "ok.csv") == []
    assert check_table(tmp_path / "empty.csv") == ["has no rows"]
    assert check_table(tmp_path / "gone.csv") == ["missing"]
    store = write_store(tmp_path / "a.h5", complete=False)
    found = verify_study([str(store)], [str(tmp_path / "nosae")], [str(tmp_path / "ok.csv"), str(tmp_path / "empty.csv")])
    assert [(p.rsplit("/", 1)[-1], problem) for p, problem, _ in found] == [
        ("a.h5", "marked incomplete (the extraction writing it was interrupted)"), ("nosae", "missing"),
        ("empty.csv", "has no rows")]
    text = report(found, "--configfile config/test.yaml").splitlines()
    assert text[0] == "3 damaged or missing artefacts:"
    assert text[2] == f"    rebuild: rm -r {store} && snakemake --cores all --configfile config/test.yaml {store}"
    assert text[4] == f"    rebuild: snakemake --cores all --configfile config/test.yaml {tmp_path}/nosae/sae_weights.safetensors"
