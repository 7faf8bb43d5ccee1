import numpy as np
import pandas as pd
import pytest

from audiosae.analysis.probing import bootstrap_scores, fit_probe, probe_rows, scoring_split


def test_probe_separates_linearly_separable_classes():
    rng = np.random.default_rng(0)
    y = np.repeat(np.array(["a", "b", "c"]), 40)
    centers = {"a": 0.0, "b": 3.0, "c": -3.0}
    X = rng.standard_normal((120, 5)) + np.array([centers[c] for c in y])[:, None] * np.eye(5)[0]
    splits = np.where(np.arange(120) % 4 == 0, "test", "train")
    rows, probe = probe_rows(X, y, splits, seed=0, n_boot=200)
    scores = {m: (v, lo, hi) for m, v, lo, hi in rows}
    assert scores["accuracy"][0] > 0.9
    assert scores["accuracy"][1] <= scores["accuracy"][0] <= scores["accuracy"][2]


def test_probe_on_noise_is_near_chance():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 10))
    y = rng.choice(["a", "b"], 300)
    splits = np.where(np.arange(300) < 200, "train", "test")
    rows, _ = probe_rows(X, y, splits, seed=0, n_boot=0)
    assert dict((m, v) for m, v, *_ in rows)["accuracy"] == pytest.approx(0.5, abs=0.1)


def test_bootstrap_interval_is_exact_for_perfect_predictions():
    y = np.array(["a", "b"] * 10)
    scores = bootstrap_scores(y, y, n_boot=100, seed=0)
    assert scores["accuracy"] == (1.0, 1.0, 1.0)
    assert scores["macro_f1"][0] == 1.0


def test_bootstrap_matches_scikit_learn_per_resample():
    """The vectorised resamples give scikit-learn's accuracy and macro-F1 (zero_division=0, classes present in
    truth or predictions) on each resample, so the percentiles agree too."""
    from sklearn.metrics import accuracy_score, f1_score

    rng = np.random.default_rng(3)
    y = rng.choice(["a", "b", "c", "d", "e"], 40)
    pred = np.where(rng.random(40) < 0.6, y, rng.choice(["a", "b", "c", "f"], 40))  # "f" is never true
    idx = np.random.default_rng(7).integers(0, 40, size=(200, 40))
    acc = np.array([accuracy_score(y[i], pred[i]) for i in idx])
    f1 = np.array([f1_score(y[i], pred[i], average="macro", zero_division=0) for i in idx])
    scores = bootstrap_scores(y, pred, n_boot=200, seed=7)
    assert scores["accuracy"] == pytest.approx((accuracy_score(y, pred), np.percentile(acc, 2.5), np.percentile(acc, 97.5)), abs=1e-12)
    assert scores["macro_f1"] == pytest.approx(
        (f1_score(y, pred, average="macro", zero_division=0), np.percentile(f1, 2.5), np.percentile(f1, 97.5)), abs=1e-12
    )


def test_scoring_split_uses_valid_when_test_labels_are_unseen():
    splits = np.array(["train"] * 4 + ["valid"] * 2 + ["test"] * 2)
    singer = np.array(["s1", "s2", "s1", "s2", "s1", "s2", "s9", "s8"])
    technique = np.array(["a", "b", "a", "b", "a", "b", "a", "b"])
    assert scoring_split(singer, splits) == "valid"
    assert scoring_split(technique, splits) == "test"


def test_linear_adam_probe_keeps_the_best_validation_epoch():
    rng = np.random.default_rng(0)
    y = np.repeat(np.array(["a", "b", "c"]), 60)
    X = rng.standard_normal((180, 8)) + 3 * np.eye(8)[np.searchsorted(["a", "b", "c"], y)]
    splits = np.array(["train", "train", "valid", "test"] * 45)
    rows, probe = probe_rows(X, y, splits, seed=0, n_boot=0, protocol="linear_adam", adam={"epochs": 60, "lr": 0.01})
    assert dict((m, v) for m, v, *_ in rows)["accuracy"] > 0.9
    assert 0 <= probe.best_epoch_ < 60 and np.isfinite(probe.best_valid_loss_)
    # Same seed, same numbers.
    rows2, _ = probe_rows(X, y, splits, seed=0, n_boot=0, protocol="linear_adam", adam={"epochs": 60, "lr": 0.01})
    assert rows == rows2


def test_linear_adam_scored_on_valid_stops_early_on_a_slice_of_train():
    rng = np.random.default_rng(1)
    y = np.tile(np.array(["s1", "s2"]), 60)
    X = rng.standard_normal((120, 4)) + 2 * (y == "s1")[:, None]
    splits = np.array(["train"] * 90 + ["valid"] * 30)
    rows, probe = probe_rows(X, y, splits, seed=0, n_boot=0, protocol="linear_adam", scored_on="valid", adam={"epochs": 30, "lr": 0.01})
    assert dict((m, v) for m, v, *_ in rows)["accuracy"] > 0.8


def test_unknown_protocol_is_an_error():
    X, y = np.zeros((4, 2)), np.array(["a", "b", "a", "b"])
    with pytest.raises(ValueError, match="unknown probing protocol"):
        probe_rows(X, y, np.array(["train", "train", "test", "test"]), seed=0, n_boot=0, protocol="svm")


def test_probe_layer_reads_each_targets_own_split_column(monkeypatch, tmp_path):
    """Pitch probed across instruments: the target's split column decides train and test, and the table says so."""
    import audiosae.analysis.probing as probing

    rng = np.random.default_rng(0)
    n = 120
    instrument = np.repeat(["violin", "flute", "tuba", "harp"], n // 4)
    pitch = np.tile(["C", "G"], n // 2)
    X = np.c_[(pitch == "G") * 3.0 + rng.normal(0, 0.3, n), (instrument == "tuba") * 3.0 + rng.normal(0, 0.3, n)]
    by_id = pd.DataFrame({"pitch_class": pitch, "instrument": instrument,
                          "split": np.tile(["train", "train", "valid", "test"], n // 4),
                          "split_by_instrument": np.where(instrument == "harp", "test", "train")})
    monkeypatch.setattr(probing, "layer_representations",
                        lambda *a, **k: (by_id["split"].to_numpy(), by_id, [("dense", "none", np.nan, 0, X)]))
    table = probing.probe_layer("acts.h5", "clips.csv", 2, [], ["pitch_class", "instrument"], n_boot=0,
                                split_columns={"pitch_class": "split_by_instrument"})
    acc = table[(table.metric == "accuracy") & (table.representation == "dense")].set_index("target")
    assert acc.loc["pitch_class", "split_column"] == "split_by_instrument"
    assert acc.loc["pitch_class", "scored_on"] == "test" and acc.loc["pitch_class", "value"] > 0.95
    assert acc.loc["instrument", "split_column"] == "split"
    chance = table[(table.representation == "chance") & (table.target == "pitch_class")]["value"].iloc[0]
    assert chance == 0.5  # the 30 harp clips, C and G alike
    one_sided = by_id.assign(sex=np.where(by_id["split_by_instrument"] == "test", "male", "female"))
    monkeypatch.setattr(probing, "layer_representations",
                        lambda *a, **k: (one_sided["split"].to_numpy(), one_sided, [("dense", "none", np.nan, 0, X)]))
    with pytest.raises(ValueError, match=r"clips.csv: probe target 'sex' has 1 class in the train split \(column "
                                         r"'split_by_instrument': \['female'\]\); a probe needs two"):
        probing.probe_layer("acts.h5", "clips.csv", 2, [], ["sex"], n_boot=0, split_columns={"sex": "split_by_instrument"})
    with pytest.raises(KeyError, match="no column 'split_by_family' \\(the split of probe target 'pitch_class'\\)"):
        probing.probe_layer("acts.h5", "clips.csv", 2, [], ["pitch_class"], n_boot=0,
                            split_columns={"pitch_class": "split_by_family"})
