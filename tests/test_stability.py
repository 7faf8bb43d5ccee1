import numpy as np
import pytest

from audiosae.analysis.stability import match_atoms, random_baseline, stability_rows, stability_table


def test_permuted_dictionary_is_matched_exactly():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((50, 16))
    perm = rng.permutation(50)
    idx, cos = match_atoms(w, 3.0 * w[perm])  # scale must not matter
    assert np.array_equal(perm[idx], np.arange(50))
    assert np.allclose(cos, 1.0)


def test_noisy_copy_shares_follow_the_noise():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((200, 64))
    half = w.copy()
    half[100:] = rng.standard_normal((100, 64))  # half the atoms replaced by new ones
    _, cos = match_atoms(w, half)
    rows = stability_rows(cos)
    assert rows["share_above_0.9"] == pytest.approx(0.5, abs=0.01)
    assert rows["n_atoms"] == 200


def test_random_dictionaries_rarely_match():
    cos = random_baseline(256, 64, seed=0)
    assert stability_rows(cos)["share_above_0.5"] < 0.05
    assert stability_rows(cos)["share_above_0.9"] == 0.0


def test_stability_table_has_control_rows():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((40, 8))
    table = stability_table([{"comparison": "seed", "layer_a": 1, "layer_b": 1, "seed_a": 0, "seed_b": 1, "W_a": w, "W_b": w}])
    sae = table[(table.source == "sae") & (table.metric == "share_above_0.9")]["value"].item()
    rand = table[(table.source == "random") & (table.metric == "share_above_0.9")]["value"].item()
    assert sae == 1.0 and rand < 0.5
    assert set(table.columns) >= {"comparison", "layer_a", "seed_b", "source", "metric", "value"}


def test_stability_plan_pairs_seeds_and_neighbours():
    from audiosae.analysis.stability import sae_folders_needed, stability_plan

    plan = stability_plan([0, 2], [0, 1, 2], model_layers=[0, 1, 2, 3, 4])
    seeds = [(p["layer_a"], p["seed_a"], p["seed_b"]) for p in plan if p["comparison"] == "seed"]
    assert seeds == [(0, 0, 1), (0, 0, 2), (0, 1, 2), (2, 0, 1), (2, 0, 2), (2, 1, 2)]
    neighbours = [(p["layer_a"], p["layer_b"]) for p in plan if p["comparison"] == "neighbour_layer"]
    assert neighbours == [(0, 1), (2, 1), (2, 3)]  # no layer -1
    assert {(p['seed_a'], p['seed_b']) for p in plan if p['comparison'] == 'neighbour_layer'} == {(0, 1)}  # never the same init
    assert set(sae_folders_needed(plan)) == {(0, 0), (0, 1), (0, 2), (2, 0), (2, 1), (2, 2), (1, 1), (3, 1)}


def test_run_stability_on_planted_dictionaries():
    from audiosae.analysis.stability import run_stability

    rng = np.random.default_rng(3)
    base = rng.standard_normal((60, 16))
    seed1 = base[rng.permutation(60)] + 0.05 * rng.standard_normal((60, 16))  # same atoms, other order
    other = rng.standard_normal((60, 16))  # a different layer: unrelated
    plan = [{"comparison": "seed", "layer_a": 1, "layer_b": 1, "seed_a": 0, "seed_b": 1},
            {"comparison": "neighbour_layer", "layer_a": 1, "layer_b": 2, "seed_a": 0, "seed_b": 0}]
    alive = {(1, 0): np.arange(60) < 30, (1, 1): np.ones(60, bool), (2, 0): np.ones(60, bool)}
    table, hist = run_stability(plan, {(1, 0): base, (1, 1): seed1, (2, 0): other}, alive)
    val = table.set_index(["comparison", "source", "atoms", "metric"])["value"]
    assert val["seed", "sae", "all", "share_above_0.9"] == 1.0
    assert val["seed", "sae", "alive", "n_atoms"] == 30
    assert val["neighbour_layer", "sae", "all", "share_above_0.7"] < 0.1
    assert val["seed", "random", "all", "share_above_0.9"] < 0.1  # 16-d: chance matches above .5 are common
    assert hist.groupby(["comparison", "source", "atoms"])["count"].sum().loc["seed", "sae", "all"] == 60


def test_stability_from_folders_says_how_much_data_each_sae_saw(tmp_path):
    import json

    import torch

    from audiosae.analysis.stability import stability_from_folders, stability_plan
    from audiosae.sae.io import save_sae
    from audiosae.sae.model import TopKSAE

    folders = {}
    for seed, (rows, steps) in {0: (1000, 30), 1: (4000, 60)}.items():
        sae = TopKSAE(8, 16, 2)
        sae.init_weights(torch.Generator().manual_seed(seed))
        folder = tmp_path / f"seed{seed}"
        save_sae(sae, folder, {"layer": 2, "seed": seed, "training": {"steps": steps, "batch_size": 256}})
        (folder / "metrics.json").write_text(json.dumps({"train": {"n_rows": rows}}))
        folders[(2, seed)] = folder
    table, _ = stability_from_folders(stability_plan([2], [0, 1], [2]), folders)
    row = table.iloc[0]
    assert (row.train_rows_a, row.rows_seen_a, row.train_rows_b, row.rows_seen_b) == (1000, 30 * 256, 4000, 60 * 256)
    assert (table.train_rows_a == 1000).all() and len(table) == 2 * 5  # sae and random, five metrics each
