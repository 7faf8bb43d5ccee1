"""Stability against the number of training rows (stability.row_fractions): the seeded choice of whole training
clips, the rows<fraction> SAEs of the plan trained by the one SAE pipeline, and the table's train_fraction rows."""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from audiosae.analysis.stability import parse_folder_key, stability_from_folders
from audiosae.plan import sae_plan, stability_folders, stability_plan_for
from audiosae.sae.pipeline import UNUSED, train_layer_sae, train_subset
from test_plan import SCHEMA, study


def toy_splits(n: int = 100, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = np.array([f"clip{i:03d}" for i in range(n)])
    splits = rng.permutation(np.array(["train"] * 60 + ["valid"] * 20 + ["test"] * 20))
    return ids, splits


def chosen(ids, splits):
    return set(ids[splits == "train"])


def test_train_subset_is_a_seeded_choice_of_about_the_fraction_of_train_clips():
    ids, splits = toy_splits()
    quarter = train_subset(ids, splits, 0.25, seed=42)
    assert (quarter == "train").sum() == 15  # round(0.25 * 60)
    assert set(np.unique(quarter)) == {"train", "valid", "test", UNUSED}
    # valid and test clips are never chosen nor moved; the rest of the train clips are set aside, not held out
    held = np.isin(splits, ["valid", "test"])
    assert np.array_equal(quarter[held], splits[held])
    assert set(ids[quarter == UNUSED]) == set(ids[splits == "train"]) - chosen(ids, quarter)
    assert chosen(ids, quarter) < set(ids[splits == "train"])
    # deterministic for a seed, another seed another choice
    assert np.array_equal(train_subset(ids, splits, 0.25, seed=42), quarter)
    assert chosen(ids, train_subset(ids, splits, 0.25, seed=43)) != chosen(ids, quarter)
    # the clip ids decide, not the order of the activation file
    order = np.random.default_rng(5).permutation(len(ids))
    assert chosen(ids[order], train_subset(ids[order], splits[order], 0.25, seed=42)) == chosen(ids, quarter)
    # a smaller fraction's clips are among a larger one's; 1.0 keeps every clip; at least one clip is kept
    tenth, third = train_subset(ids, splits, 0.1, 42), train_subset(ids, splits, 0.3, 42)
    assert (tenth == "train").sum() == 6 and (third == "train").sum() == 18
    assert chosen(ids, tenth) < chosen(ids, quarter) < chosen(ids, third)
    assert np.array_equal(train_subset(ids, splits, 1.0, 42), splits)
    assert (train_subset(ids, splits, 0.001, 42) == "train").sum() == 1
    with pytest.raises(ValueError, match="must be in"):
        train_subset(ids, splits, 0.0, 42)


def toy_activations(folder: Path, n: int = 40, d: int = 8) -> tuple[Path, Path, dict]:
    """Frames of ``n`` clips of 3..14 frames (24 train, 8 valid, 8 test) in the extraction's HDF5 layout."""
    rng = np.random.default_rng(0)
    lengths = 3 + np.arange(n) % 12
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    atoms = rng.normal(size=(24, d))
    frames = (rng.exponential(size=(offsets[-1], 24)) * (rng.random((offsets[-1], 24)) < 0.15)) @ atoms
    ids = [f"c{i:02d}" for i in range(n)]
    splits = rng.permutation(["train"] * 24 + ["valid"] * 8 + ["test"] * 8)
    pd.DataFrame({"id": ids, "path": [f"{i}.wav" for i in ids], "split": splits}).to_csv(folder / "clips.csv", index=False)
    h5_path = folder / "acts.h5"
    with h5py.File(h5_path, "w") as h5:
        h5.create_dataset("layers/2", data=frames.astype(np.float32))
        h5.create_dataset("pooled/mean/2", data=np.stack([frames[a:b].mean(0) for a, b in zip(offsets[:-1], offsets[1:])]).astype(np.float32))
        h5.create_dataset("clips/offsets", data=np.stack([offsets[:-1], offsets[1:]], 1))
        h5.create_dataset("clips/id", data=np.array(ids, dtype=h5py.string_dtype()))
        h5.attrs.update({"frame_rate": 50, "complete": True})
    return h5_path, folder / "clips.csv", {"ids": np.array(ids), "splits": splits, "lengths": lengths}


def test_the_plan_lists_the_fraction_saes_of_the_default_and_paper_studies():
    plan = sae_plan(study("config"))
    base = "results/sae/speech_real/whisper_tiny_en/layer2"
    folders = stability_folders(plan, "speech_real", "whisper_tiny_en")
    assert folders == {"2_0": f"{base}/main/batchtopk-x4-s0.98-seed0", "2_1": f"{base}/main/batchtopk-x4-s0.98-seed1",
                       "2_2": f"{base}/main/batchtopk-x4-s0.98-seed2",
                       "2_0_0.25": f"{base}/rows0.25/batchtopk-x4-s0.98-seed0",
                       "2_1_0.25": f"{base}/rows0.25/batchtopk-x4-s0.98-seed1"}
    assert {parse_folder_key(k) for k in folders} == {(2, 0), (2, 1), (2, 2), (2, 0, 0.25), (2, 1, 0.25)}
    quarter, full = plan.at(folders["2_0_0.25"]), plan.at(folders["2_0"])
    assert (quarter.sweep, quarter.swept, quarter.downstream) == ("rows0.25", False, False)
    assert (quarter.options["train_fraction"], quarter.options["train_fraction_seed"]) == (0.25, 42)  # the study seed
    same = {k: v for k, v in full.options.items() if k != "downstream"}  # the splice cost is the sweep's own SAE's
    assert {k: v for k, v in quarter.options.items() if not k.startswith("train_fraction")} == same
    pairs = stability_plan_for(plan.config, "whisper_tiny_en")
    assert [(p["seed_a"], p["seed_b"], p["train_fraction"]) for p in pairs] == [(0, 1, 1.0), (0, 2, 1.0), (1, 2, 1.0), (0, 1, 0.25)]
    # paper B's own study: 10 % and 30 % of LibriSpeech's training clips at every stability layer of both models
    paper = sae_plan(study("paper"))
    rows = {(s.model, s.layer, s.sweep, s.seed) for s in paper if s.sweep.startswith("rows")}
    assert rows == {(m, layer, f"rows{f}", seed) for m in ("whisper_small", "hubert_large_ll60k") for layer in (4, 8, 12)
                    for f in (0.1, 0.3) for seed in (0, 1)}


def test_fraction_saes_train_on_whole_clips_and_the_table_reads_their_rows(tmp_path, one_torch_thread):
    """A mini study: the test study's stability SAEs (full and a quarter of the training clips, as planned) trained by
    the SAE pipeline on a toy activation file, then matched: the table has the quarter pairs with their rows."""
    from audiosae.plots.paper_b import stability_figure

    cfg = study("test", lambda c: c["stability"].update(seeds=[0, 1], neighbours=False, row_fractions=[0.25]))
    plan = sae_plan(cfg)
    folders = stability_folders(plan, "vocalset_tiny", "whisper_tiny_en")
    assert sorted(folders) == ["2_0", "2_0_0.25", "2_1", "2_1_0.25"]
    assert "/layer2/rows0.25/" in folders["2_1_0.25"] and "/layer2/main/" in folders["2_1"]
    h5_path, clips_csv, toy = toy_activations(tmp_path)
    metrics = {}
    for key, folder in folders.items():
        sae = plan.at(folder)
        opts = {**sae.options, "train_on": "frames", "steps": 30, "batch_size": 32, "init_rows": 200, "memory_mb": 16}
        metrics[key] = train_layer_sae(h5_path, clips_csv, tmp_path / folder, sae.layer, sae.sparsity, sae.seed, opts,
                                       sae.cfg_meta(), sae.variant, progress=False)
    # the quarter: 6 of the 24 training clips, chosen by the study seed, every frame of each (no clip is split)
    subset = train_subset(toy["ids"], toy["splits"], 0.25, cfg["seed"])
    rows = int(toy["lengths"][subset == "train"].sum())
    for seed in (0, 1):
        quarter, full = metrics[f"2_{seed}_0.25"], metrics[f"2_{seed}"]
        assert (quarter["train_clips"], quarter["train_fraction"], quarter["train_rows"]) == (6, 0.25, rows)
        assert quarter["train"]["n_rows"] == rows  # the train-split metrics measure those rows
        assert (full["train_clips"], full["train_fraction"]) == (24, 1.0)
        assert full["train_rows"] == int(toy["lengths"][toy["splits"] == "train"].sum()) > rows
        assert quarter["held_out"]["n_rows"] == full["held_out"]["n_rows"]  # the same valid and test clips
        on_disk = json.loads((tmp_path / folders[f"2_{seed}_0.25"] / "metrics.json").read_text())
        assert on_disk["train_rows"] == rows
        assert json.loads((tmp_path / folders[f"2_{seed}_0.25"] / "cfg.json").read_text())["train_subset"] == {
            "fraction": 0.25, "seed": cfg["seed"], "clips": 6}

    pairs = stability_plan_for(cfg, "whisper_tiny_en")
    table, cosines = stability_from_folders(pairs, {parse_folder_key(k): tmp_path / v for k, v in folders.items()},
                                            str(h5_path))
    assert sorted(table["train_fraction"].unique()) == [0.25, 1.0]
    by = table[(table["source"] == "sae") & (table["atoms"] == "all")].set_index(["train_fraction", "metric"])
    assert (by.loc[0.25]["train_rows_a"] == rows).all() and (by.loc[0.25]["train_rows_b"] == rows).all()
    assert (by.loc[1.0]["train_rows_a"] == metrics["2_0"]["train_rows"]).all()
    assert (table["comparison"] == "seed").all() and set(zip(table["seed_a"], table["seed_b"])) == {(0, 1)}
    assert 0 <= by.loc[(0.25, "share_above_0.5"), "value"] <= 1
    assert set(cosines["train_fraction"]) == {0.25, 1.0}
    out = tmp_path / "stability.png"
    stability_figure(table, cosines, [out])
    assert out.stat().st_size > 5000


def test_row_fractions_are_checked():
    from audiosae.config import ConfigError, check_config

    for bad, message in (([1.0], r"stability\.row_fractions\[0\]: 1\.0 is greater than or equal to the maximum of 1"),
                         ([0.2, 0.2], r"stability\.row_fractions: 0\.2 listed more than once")):
        with pytest.raises(ConfigError, match=message):
            study("test", lambda c: c["stability"].update(row_fractions=bad))
    cfg = study("test", lambda c: c["stability"].update(row_fractions=[0.1, 0.10000001]))
    with pytest.raises(ConfigError, match=r"name the same sweep twice \(rows0\.1, rows0\.1\)"):
        check_config(cfg, SCHEMA["properties"]["sae"])
    assert study("test")["stability"]["row_fractions"] == []  # off by default: no extra SAE
