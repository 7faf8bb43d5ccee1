"""Concept ablation on planted data: the concept lives in known features, so ablating them (and only a
small share of features) brings the probe to chance, while ablating as many random features does not."""
import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from audiosae.analysis.concepts import (
    auroc_per_feature,
    binary_concepts,
    concept_ablation,
    concept_ablation_study,
    describe_filter,
    filter_mask,
    feature_order,
    feature_scores,
    fraction_to_chance,
    mean_difference,
    summarise,
)

D_SAE, D_IN, N, PLANTED = 100, 40, 400, 10


def planted(seed=0):
    rng = np.random.default_rng(seed)
    y = rng.random(N) < 0.5
    codes = rng.exponential(1.0, (N, D_SAE)) * (rng.random((N, D_SAE)) < 0.3)
    codes[:, :PLANTED] = np.where(y[:, None], rng.exponential(1.0, (N, PLANTED)) + 2.0, 0.0)  # carried only here
    W_dec = rng.standard_normal((D_SAE, D_IN))
    train = np.arange(N) < N // 2
    return codes, W_dec, np.zeros(D_IN), y, train, ~train


def test_association_scores_find_the_planted_features():
    codes, _, _, y, train, _ = planted()
    assert np.allclose(auroc_per_feature(codes, y)[:PLANTED], 1.0)
    for ranking in ("auroc", "mean_diff", "probe_weight"):
        top = feature_order(feature_scores(codes[train], y[train], ranking))[:PLANTED]
        assert len(set(top) & set(range(PLANTED))) >= PLANTED - 1, ranking
    assert (mean_difference(codes, y)[:PLANTED] > 1).all()


def test_ablating_the_planted_features_erases_the_concept_and_random_ablation_does_not():
    codes, W_dec, b_dec, y, train, test = planted()
    percents = [0, 5, 10, 20, 50, 100]
    curves = concept_ablation(codes, W_dec, b_dec, y, train, test, rankings=("auroc",), percents=percents, n_random=2)
    acc = curves.groupby(["ordering", "probe", "percent"])["balanced_accuracy"].mean()
    assert acc["auroc", "retrained", 0] > 0.95 and acc["auroc", "fixed", 0] > 0.95
    assert acc["auroc", "retrained", 10] < 0.62  # the 10% planted features gone: nothing left to find
    assert acc["random", "retrained", 10] > 0.9  # 10 random features: the other planted ones still carry it
    assert acc["auroc", "fixed", 100] == pytest.approx(0.5) and acc["auroc", "retrained", 100] == pytest.approx(0.5)
    summary = summarise(curves.assign(concept="planted"), margin=0.12)
    frac = summary.set_index(["ordering", "probe"])["fraction_to_chance"]
    assert frac["auroc", "retrained"] == pytest.approx(0.10)
    assert frac["random", "retrained"] >= 0.5


def test_fraction_to_chance_edge_cases():
    curve = pd.DataFrame({"percent": [0, 10, 20, 30], "balanced_accuracy": [0.9, 0.5, 0.7, 0.5]})
    assert fraction_to_chance(curve) == pytest.approx(0.3)  # must stay at chance from there on
    assert np.isnan(fraction_to_chance(curve.assign(balanced_accuracy=0.5)))


def test_binary_concepts_from_a_clip_table():
    clips = pd.DataFrame({"gender": ["female", "male", "male"], "technique": ["belt", "fry", "trill"], "x": ["a", "a", "a"]})
    concepts = binary_concepts(clips, ["gender", "technique", "x"], max_values=2)
    assert [(c, v) for c, v, _, _ in concepts] == [("gender", "male"), ("technique", "belt"), ("technique", "fry")]
    assert concepts[0][2].tolist() == [False, True, True] and concepts[0][3].all()
    with pytest.raises(KeyError, match="nope"):
        binary_concepts(clips, ["nope"])


def test_empty_labels_and_the_clip_filter_choose_the_clips_of_a_concept():
    clips = pd.DataFrame({"sex": ["male", "female", "", "female", "", "male"],
                          "lang": ["en", "fr", "", "de", "en", "en"],
                          "source": ["ami", "ami", "ami", "asterisk", "klettres", "ami"]})
    (col, value, y, on), = binary_concepts(clips, ["sex"])  # empty: neither male nor "the rest"
    assert (col, value) == ("sex", "male") and on.tolist() == [True, True, False, True, False, True]
    assert y.tolist() == [True, False, False, False, False, True]
    _, _, y, on = binary_concepts(clips, ["sex"], clip_filter={"sex": {"source": "ami"}})[0]
    assert on.tolist() == [True, True, False, False, False, True] and y.tolist() == [True, False, False, False, False, True]
    en = binary_concepts(clips, ["lang"], max_values=1)[0]  # one vs rest: the rest is the other languages only
    assert en[1] == "en" and en[3].tolist() == [True, True, False, True, True, True]
    # the filter is per target, values may be a list; a column the table lacks is an error
    assert [c[0] for c in binary_concepts(clips, ["sex", "lang"], 1, {"sex": {"source": ["klettres"]}})] == ["lang"]
    assert filter_mask(clips, {"source": ["ami", "asterisk"], "lang": "en"}).tolist() == [True, False, False, False, False, True]
    assert describe_filter({"source": ["ami", "x"], "lang": "en"}) == "source=ami|x; lang=en" and describe_filter(None) == "none"
    with pytest.raises(KeyError, match="clip_filter.*nope"):
        binary_concepts(clips, ["sex"], clip_filter={"sex": {"nope": "x"}})


def mini_sex_study(root):
    """80 clips of 'ami' (40 male, 40 female, the sex planted along one direction of the activations), 30
    'asterisk' clips, all female, and 10 'klettres' clips of unknown sex; half of each in train, half in test; a
    TopK SAE (k = all) whose features read each direction's two signs; activations with clip means of layer 2."""
    from audiosae.sae.io import save_sae
    from audiosae.sae.model import TopKSAE

    rng = np.random.default_rng(1)
    d, d_sae = 8, 16
    rows, means = [], []
    for i in range(120):
        source = "ami" if i < 80 else ("asterisk" if i < 110 else "klettres")
        sex = ("male" if i % 2 else "female") if source == "ami" else ("female" if source == "asterisk" else "")
        x = rng.normal(scale=0.3, size=d)
        x[0] += 3.0 if sex == "male" else 0.0
        x[1] += 3.0 if source == "asterisk" else 0.0
        rows.append({"id": f"c{i:02d}", "split": ("train", "test")[(i // 2) % 2], "speaker_sex": sex, "source": source})
        means.append(x)
    clips = pd.DataFrame(rows)
    clips.to_csv(root / "clips.csv", index=False)
    with h5py.File(root / "acts.h5", "w") as h5:
        h5.create_dataset("pooled/mean/2", data=np.stack(means).astype(np.float32))
        h5.create_dataset("layers/2", data=np.stack(means).astype(np.float32))
        h5.create_dataset("clips/offsets", data=np.array([(i, i + 1) for i in range(120)]))
        h5.create_dataset("clips/id", data=np.array(clips["id"], dtype=h5py.string_dtype()))
        h5.attrs.update({"frame_rate": 50, "sample_rate": 16000, "complete": True})
    torch.manual_seed(0)
    sae = TopKSAE(d, d_sae, d_sae)
    with torch.no_grad():
        W = torch.zeros(d, d_sae)
        W[:d, :d] = torch.eye(d)
        W[:d, d:] = -torch.eye(d)
        sae.W_enc.copy_(W)
        sae.W_dec.copy_(W.T)
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    save_sae(sae, root / "sae", {"dataset": "mini", "model": "toy", "layer": 2, "sparsity": 1.0, "seed": 0,
                                 "train_on": "clip_means"})
    return clips


def test_concept_study_measures_a_filtered_target_only_on_its_clips(tmp_path):
    clips = mini_sex_study(tmp_path)
    kwargs = dict(rankings=("auroc",), percents=(0, 50, 100), n_random=1, min_class_count=4)
    plain = concept_ablation_study(str(tmp_path / "acts.h5"), str(tmp_path / "clips.csv"), [str(tmp_path / "sae")],
                                   ["speaker_sex"], **kwargs)
    only_ami = concept_ablation_study(str(tmp_path / "acts.h5"), str(tmp_path / "clips.csv"), [str(tmp_path / "sae")],
                                      ["speaker_sex"], clip_filter={"speaker_sex": {"source": "ami"}}, **kwargs)
    labelled = clips[clips["speaker_sex"] != ""]
    ami = labelled[labelled["source"] == "ami"]
    for table, rows, described in ((plain, labelled, "none"), (only_ami, ami, "source=ami")):
        meta = table[["target", "concept", "clip_filter", "n_clips", "n_pos_train", "n_pos_test"]].drop_duplicates()
        assert len(meta) == 1
        m = meta.iloc[0]
        assert (m["target"], m["concept"], m["clip_filter"]) == ("speaker_sex", "male", described)
        assert m["n_clips"] == len(rows)  # the klettres clips (empty sex) never count; the filter drops asterisk
        assert m["n_pos_train"] == ((rows["speaker_sex"] == "male") & (rows["split"] == "train")).sum() == 20
    assert plain["n_clips"].iloc[0] == 110 and only_ami["n_clips"].iloc[0] == 80
    full = only_ami[(only_ami["percent"] == 0) & (only_ami["ordering"] == "auroc")].set_index("probe")["balanced_accuracy"]
    assert full["fixed"] > 0.95 and full["retrained"] > 0.95  # the planted direction separates the AMI voices
    summary = summarise(only_ami)
    assert set(summary["clip_filter"]) == {"source=ami"} and (summary["n_clips"] == 80).all()


def test_a_concept_below_the_class_minimum_is_skipped_and_said(tmp_path, caplog):
    mini_sex_study(tmp_path)
    with caplog.at_level("WARNING", logger="audiosae.analysis.concepts"):
        table = concept_ablation_study(str(tmp_path / "acts.h5"), str(tmp_path / "clips.csv"), [str(tmp_path / "sae")],
                                       ["speaker_sex"], rankings=("auroc",), percents=(0, 100), n_random=1,
                                       min_class_count=21, clip_filter={"speaker_sex": {"source": "ami"}})
    assert table.empty
    assert ("concept speaker_sex=male (clips: source=ami) skipped: train 20 / 20, test 20 / 20 (positive / negative), "
            "below concepts.min_class_count 21") in caplog.text
