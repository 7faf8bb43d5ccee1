"""DCI, MIG, SAP, dimensions-needed and the layer profile on planted data with known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audiosae.analysis.acoustic import FACTOR_GROUPS, factor_group
from audiosae.analysis.dimensions import dims_needed, ridge_r2
from audiosae.analysis.disentanglement import (
    dci_scores,
    discretise,
    lasso_importance,
    mig,
    mutual_information_matrix,
    sap,
    subset_dci,
    top_factor_dci,
    top_factors,
    true_factor_dci,
)
from audiosae.analysis.factors import (
    DIS_COLUMNS,
    available_factors,
    common_factor_set,
    dci_fits,
    egemaps_dci,
    layer_profile,
)


def rotation(d: int, seed: int = 0) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q


# ---- DCI from an importance matrix -----------------------------------------------------------------


def test_dci_of_a_permutation_matrix_is_perfect():
    R = np.eye(4)[[2, 0, 3, 1]]
    out = dci_scores(R, informativeness=np.ones(4))
    assert out["disentanglement"] == pytest.approx(1.0)
    assert out["completeness"] == pytest.approx(1.0)
    assert out["informativeness"] == pytest.approx(1.0)
    np.testing.assert_allclose(out["effective_codes_per_factor"], 1.0)


def test_dci_of_a_uniform_matrix_is_zero():
    out = dci_scores(np.ones((5, 5)))
    assert out["disentanglement"] == pytest.approx(0.0, abs=1e-12)
    assert out["completeness"] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(out["effective_codes_per_factor"], 5.0)


def test_dci_known_intermediate_values():
    # Factor 0 spread evenly over 2 of 4 codes: completeness 1 - log4(2) = 0.5, 2 effective codes;
    # factor 1 on one code: completeness 1. Every code serves one factor: disentanglement 1.
    R = np.array([[1.0, 0], [1.0, 0], [0, 3.0], [0, 0]])
    out = dci_scores(R)
    np.testing.assert_allclose(out["completeness_per_factor"], [0.5, 1.0])
    np.testing.assert_allclose(out["effective_codes_per_factor"], [2.0, 1.0])
    assert out["disentanglement"] == pytest.approx(1.0)
    # A code split evenly between the two factors has disentanglement 0; weighted by its share.
    R2 = np.array([[1.0, 1.0], [2.0, 0.0]])
    assert dci_scores(R2)["disentanglement"] == pytest.approx(0.5)


def test_dci_both_formulas_completeness_and_informativeness_by_hand():
    # 3 codes x 2 factors. Code 0 splits evenly (1 - H_2 = 0), code 1 serves factor 0 only (1), code 2 is dead;
    # code weights rho = row sum / total = (2/4, 2/4, 0).
    R = np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 0.0]])
    out = dci_scores(R, informativeness=np.array([0.5, -0.2]))
    assert out["disentanglement"] == pytest.approx(0.5 * 0 + 0.5 * 1)  # standard: the weighted sum
    assert out["disentanglement_paper_a"] == pytest.approx(0.5 / 3)  # paper A: np.mean over the 3 codes
    assert out["n_codes"] == 3
    # Factor 0 over codes (1, 2, 0) / 3: H_3 = 1 - (2/3) log_3 2, so C = (2/3) log_3 2 = 0.42062; factor 1 on one code: 1.
    c0 = (2 / 3) * np.log(2) / np.log(3)
    np.testing.assert_allclose(out["completeness_per_factor"], [c0, 1.0])
    assert c0 == pytest.approx(0.42062, abs=1e-5)
    assert out["completeness"] == pytest.approx((c0 + 1.0) / 2)
    assert out["informativeness"] == pytest.approx((0.5 + 0.0) / 2)  # R^2 < 0 counts as 0
    # exp(natural entropy) of (1/3, 2/3) = 3 / 2^(2/3)
    np.testing.assert_allclose(out["effective_codes_per_factor"], [3 / 2 ** (2 / 3), 1.0])


def test_paper_a_disentanglement_shrinks_with_dead_codes_and_the_standard_does_not():
    R = np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 0.0]])
    wide = np.vstack([R, np.zeros((5, 2))])  # 5 more codes that never fire: same information
    narrow, widened = dci_scores(R), dci_scores(wide)
    assert widened["disentanglement"] == pytest.approx(narrow["disentanglement"]) == pytest.approx(0.5)
    assert widened["disentanglement_paper_a"] == pytest.approx(0.5 / 8)
    assert narrow["disentanglement_paper_a"] == pytest.approx(0.5 / 3)


def test_one_factor_disentanglement_is_one_under_the_standard_formula():
    out = dci_scores(np.array([[1.0], [3.0], [0.0], [0.0]]))
    assert out["disentanglement"] == pytest.approx(1.0)
    assert out["disentanglement_paper_a"] == pytest.approx(0.25)


def test_subset_dci_by_hand():
    # Factors 0 and 2 (the top two by score) of a 3 x 3 matrix: columns (2, 0, 0) and (1, 1, 0).
    R = np.array([[2.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    scores = np.array([0.9, 0.1, 0.5])
    keep = top_factors(scores, 2)
    assert list(keep) == [0, 2]
    out = subset_dci(R, scores, keep)
    # Code 0 over the kept columns: (2/3, 1/3), 1 - H_2 = 1 - (log2 3 - 2/3), weight 3/4; code 1: (0, 1), 1, weight 1/4.
    d0 = 1 - (np.log2(3) - 2 / 3)
    assert out["disentanglement"] == pytest.approx(0.75 * d0 + 0.25)
    assert out["disentanglement"] == pytest.approx(0.311278, abs=1e-6)
    assert out["disentanglement_paper_a"] == pytest.approx((0.75 * d0 + 0.25) / 3)
    np.testing.assert_allclose(out["completeness_per_factor"], [1.0, 1 - np.log(2) / np.log(3)])
    assert out["informativeness"] == pytest.approx(0.7)
    assert list(out["factors"]) == [0, 2]


def test_top_factors_put_nan_scores_last():
    assert list(top_factors(np.array([np.nan, 0.2, 0.8, 0.2]), 3)) == [2, 1, 3]
    assert list(top_factors(np.array([0.1, 0.3]), None)) == [1, 0]


def test_negative_r2_counts_as_zero_informativeness():
    assert dci_scores(np.eye(2), np.array([1.0, -7.0]))["informativeness"] == pytest.approx(0.5)


def test_factor_no_code_explains_gets_zero_completeness():
    out = dci_scores(np.array([[1.0, 0.0], [0.0, 0.0]]))
    assert out["completeness_per_factor"][1] == 0.0
    assert np.isnan(out["effective_codes_per_factor"][1])


# ---- paper A's Lasso DCI on data ---------------------------------------------------------------------


@pytest.fixture
def planted():
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((400, 4))
    return Z


def test_lasso_dci_of_a_disentangled_code_is_one_and_of_a_mixing_code_less(planted):
    Z = planted
    codes = np.hstack([Z[:, [1, 3, 0, 2]] * [2.0, 0.5, 3.0, 1.0], np.zeros((400, 2))])  # permuted, scaled, 2 dead codes
    imp, r2, _ = lasso_importance(codes, Z, alpha=0.1)
    out = top_factor_dci(imp, r2, top=10)
    assert out["disentanglement"] == pytest.approx(1.0)
    assert out["completeness"] == pytest.approx(1.0)
    assert out["informativeness"] > 0.95  # Lasso shrinkage costs alpha^2 of R^2
    mixed = Z @ rotation(4)
    imp_m, r2_m, _ = lasso_importance(mixed, Z, alpha=0.1)
    out_m = top_factor_dci(imp_m, r2_m)
    assert out_m["disentanglement"] < 0.7 and out_m["completeness"] < 0.7
    assert out_m["informativeness"] > 0.95  # same information, only rotated


def test_held_out_lasso_scores_on_the_other_split(planted):
    Z = planted
    noise = np.random.default_rng(1).standard_normal((400, 4))
    _, r2_in, r2_out = lasso_importance(noise[:200], Z[:200], alpha=0.01, X_eval=noise[200:], Y_eval=Z[200:])
    assert (r2_in > 0).all() and (r2_out < 0.05).all()  # in-sample fit of noise does not generalise


def test_top_factors_are_chosen_by_score():
    R = np.eye(3)
    out = top_factor_dci(R, np.array([0.1, 0.9, 0.5]), top=2)
    assert list(out["factors"]) == [1, 2]
    assert out["informativeness"] == pytest.approx(0.7)


# ---- which clips each DCI variant uses, the common factor set ----------------------------------------


@pytest.fixture
def split_fixture():
    """120 clips: 60 train, 20 valid, 40 test (the held-out singers), interleaved as a clip table may be."""
    return np.array((["train"] * 3 + ["valid"] + ["test"] * 2) * 20)


def test_dci_fits_paper_a_uses_the_test_clips_only(split_fixture):
    splits = split_fixture
    fits = dci_fits(splits)
    assert list(fits) == ["paper_a_test_in_sample", "held_out"]
    on, scored = fits["paper_a_test_in_sample"]
    np.testing.assert_array_equal(on, splits == "test")
    np.testing.assert_array_equal(scored, splits == "test")
    on, scored = fits["held_out"]
    np.testing.assert_array_equal(on, splits == "train")
    np.testing.assert_array_equal(scored, splits == "test")
    assert not (fits["held_out"][0] & fits["held_out"][1]).any()
    assert dci_fits(np.array(["train", "train", "valid"])) == {}  # no test split: neither variant


def test_common_factor_set_is_chosen_on_the_dense_layer_or_named():
    names = ["a", "b", "c", "d"]
    label, keep = common_factor_set(np.array([0.2, 0.9, np.nan, 0.5]), names, top=2)
    assert label == "common_top2_dense_fit_r2" and list(keep) == [1, 3]
    label, keep = common_factor_set(np.array([0.2, 0.9, np.nan, 0.5]), names, top=2, fixed=["d", "a"])
    assert label == "common_config" and list(keep) == [3, 0]
    with pytest.raises(KeyError, match="zz"):
        common_factor_set(np.zeros(4), names, top=2, fixed=["zz"])


EGEMAPS_NAMES = ["F0semitoneFrom27.5Hz_sma3nz_amean", "F1frequency_sma3nz_amean", "loudness_sma3_amean", "mfcc1_sma3_amean"]


def planted_layer(splits: np.ndarray, seed: int = 0):
    """Dense clip means that carry functionals 0 and 1 (plus 4 noise dims); SAE codes that carry 2 and 3
    (plus 6 noise codes)."""
    rng = np.random.default_rng(seed)
    n = len(splits)
    Y = rng.standard_normal((n, 4))
    dense = np.hstack([Y[:, [1, 0]] * [2.0, 0.5], 0.01 * rng.standard_normal((n, 4))])
    sae = np.hstack([Y[:, [3, 2]], 0.01 * rng.standard_normal((n, 6))])
    reps = [("dense", "none", np.nan, 0, dense), ("sae", "topk", 0.9, 0, sae)]
    return reps, Y


def test_egemaps_dci_variants_on_a_planted_layer(split_fixture):
    splits = split_fixture
    reps, Y = planted_layer(splits)
    table = pd.DataFrame(egemaps_dci(3, reps, Y, EGEMAPS_NAMES, splits, alpha=0.1, top=2), columns=DIS_COLUMNS)
    assert set(table["fit"]) == {"paper_a_test_in_sample", "held_out"}
    assert set(table["factor_set"]) == {"all", "common_top2_dense_fit_r2", "own_top2_r2"}
    summary = table[table["group"] == "all"].set_index(["representation", "fit", "factor_set", "formula", "metric"])["value"]

    # paper A's variant is exactly the DCI of a Lasso fitted and scored on the test clips alone
    test = splits == "test"
    for rep, *_, X in reps:
        imp, r2, _ = lasso_importance(X[test], Y[test], alpha=0.1)
        expected = dci_scores(imp, r2)
        got = summary.xs((rep, "paper_a_test_in_sample", "all"), level=("representation", "fit", "factor_set"))
        assert got["paper_a", "disentanglement"] == pytest.approx(expected["disentanglement_paper_a"])
        assert got["standard", "disentanglement"] == pytest.approx(expected["disentanglement"])
        assert got["both", "completeness"] == pytest.approx(expected["completeness"])
        assert got["both", "informativeness"] == pytest.approx(expected["informativeness"])
        # paper A's formula = the standard one / number of codes (6 dense dimensions, 8 SAE codes)
        assert got["paper_a", "disentanglement"] == pytest.approx(got["standard", "disentanglement"] / X.shape[1])

    # the common set is the dense layer's top 2 (functionals 0 and 1) for the SAE too: the SAE, which carries
    # 2 and 3, explains little of it, while its own top 2 are the ones it carries.
    common = table[table["factor_set"] == "common_top2_dense_fit_r2"]
    assert (common["n_factors"] == 2).all()
    for fit in ("paper_a_test_in_sample", "held_out"):
        assert summary["dense", fit, "common_top2_dense_fit_r2", "both", "informativeness"] > 0.9
        assert summary["sae", fit, "common_top2_dense_fit_r2", "both", "informativeness"] < 0.4  # in sample: noise fit
        assert summary["sae", fit, "own_top2_r2", "both", "informativeness"] > 0.9
    own = table[table["factor_set"] == "own_top2_r2"]
    assert "disentanglement" not in set(own["metric"])  # paper A reports no disentanglement over its top-k
    assert set(table.loc[table["metric"] == "disentanglement", "formula"]) == {"paper_a", "standard"}
    assert set(table.loc[table["metric"] != "disentanglement", "formula"]) == {"both"}
    assert {"pitch", "formants", "loudness", "mfcc"} <= set(table["group"])


def test_paper_a_variant_ignores_the_non_test_clips_and_held_out_does_not(split_fixture):
    splits = split_fixture
    reps, Y = planted_layer(splits)
    rng = np.random.default_rng(7)
    other = splits != "test"  # the SAE's own training clips (and valid): scrambled
    reps2 = [(*r[:4], np.where(other[:, None], rng.standard_normal(r[4].shape), r[4])) for r in reps]
    Y2 = np.where(other[:, None], rng.standard_normal(Y.shape), Y)
    a = pd.DataFrame(egemaps_dci(3, reps, Y, EGEMAPS_NAMES, splits, top=2), columns=DIS_COLUMNS)
    b = pd.DataFrame(egemaps_dci(3, reps2, Y2, EGEMAPS_NAMES, splits, top=2), columns=DIS_COLUMNS)
    paper_a = a["fit"] == "paper_a_test_in_sample"
    np.testing.assert_allclose(a.loc[paper_a, "value"], b.loc[paper_a, "value"], rtol=0, atol=0, equal_nan=True)
    held = (a["fit"] == "held_out") & (a["metric"] == "informativeness") & (a["group"] == "all")
    assert (b.loc[held, "value"].to_numpy() < a.loc[held, "value"].to_numpy()).any()  # trained on noise now


def test_egemaps_dci_with_named_common_factors(split_fixture):
    reps, Y = planted_layer(split_fixture)
    table = pd.DataFrame(egemaps_dci(0, reps, Y, EGEMAPS_NAMES, split_fixture, top=2, common_factors=["mfcc1_sma3_amean"]), columns=DIS_COLUMNS)
    common = table[table["factor_set"] == "common_config"]
    assert (common["n_factors"] == 1).all() and not common.empty
    # one factor: every code with any importance serves only it; informativeness tells the SAE (which carries
    # it) from the dense layer (which does not)
    d = common[(common["metric"] == "disentanglement") & (common["formula"] == "standard")]["value"]
    assert (d == 1.0).all()
    info = common[common["metric"] == "informativeness"].set_index(["representation", "fit"])["value"]
    assert (info.xs("sae") > 0.9).all() and (info.xs("dense") < 0.4).all()


# ---- MIG and SAP -------------------------------------------------------------------------------------


def factors_for(Z: np.ndarray) -> dict:
    labels = np.where(Z[:, 2] > 0, "hi", "lo")
    return {"a": (Z[:, 0], "continuous"), "b": (Z[:, 1], "continuous"), "c": (labels, "categorical")}


def test_mig_and_sap_high_for_axis_aligned_codes_and_low_for_mixing(planted):
    Z = planted
    f = factors_for(Z)
    codes = np.column_stack([Z[:, 1], Z[:, 0], (Z[:, 2] > 0).astype(float)])
    m, s = mig(codes, f), sap(codes, f)
    # Exact codes: MI(code; factor) = H(factor) for the matching code, so the gap is 1 minus the MI the
    # second-best (independent) code shows by chance.
    # (plug-in MI bias ~ (bins - 1)(classes - 1) / 2n nats: 20 bins, 400 rows)
    assert m["a"] > 0.8 and m["b"] > 0.8 and m["c"] > 0.9
    assert s["a"] > 0.95 and s["b"] > 0.95 and s["c"] > 0.95
    mixed = np.column_stack([Z[:, 0] + Z[:, 1], Z[:, 0] - Z[:, 1], Z[:, 2]])
    assert mig(mixed, f)["mean"] < m["mean"] - 0.3
    assert sap(mixed, f)["a"] < 0.05  # both codes explain half of factor a: no gap


def test_a_duplicated_code_has_no_gap(planted):
    Z = planted
    f = {"a": (Z[:, 0], "continuous")}
    codes = np.column_stack([Z[:, 0], Z[:, 0], Z[:, 1]])
    assert mig(codes, f)["a"] == pytest.approx(0.0, abs=1e-12)
    assert sap(codes, f)["a"] == pytest.approx(0.0, abs=1e-12)


def test_mutual_information_matrix_matches_sklearn():
    from sklearn.metrics import mutual_info_score

    rng = np.random.default_rng(3)
    codes = rng.standard_normal((300, 5))
    factor = rng.integers(0, 4, 300)
    codes[:, 2] += factor
    binned = discretise(codes, 10)
    mi = mutual_information_matrix(binned, factor)
    expected = [mutual_info_score(binned[:, j], factor) for j in range(5)]
    np.testing.assert_allclose(mi, expected, atol=1e-12)
    assert mi.argmax() == 2


def test_true_factor_dci_on_planted_factors(planted):
    Z = planted
    f = factors_for(Z)
    codes = np.column_stack([Z[:, 1], Z[:, 0], (Z[:, 2] > 0).astype(float), np.zeros(400)])
    out = true_factor_dci(codes, f)
    assert out["factor_names"] == ["a", "b", "c"]
    assert out["disentanglement"] > 0.99 and out["completeness"] > 0.99
    assert out["informativeness_per_factor"][2] == 1.0  # categorical: argmax accuracy
    mixed = np.column_stack([Z[:, 0] + Z[:, 1], Z[:, 0] - Z[:, 1], Z[:, 2]])
    assert true_factor_dci(mixed, f)["disentanglement"] < 0.8


# ---- dimensions needed -------------------------------------------------------------------------------


def test_dims_needed_finds_the_planted_dimensions():
    rng = np.random.default_rng(0)
    n, d = 600, 60
    X = rng.standard_normal((n, d))
    y_cont = X[:, 7] + X[:, 21] + X[:, 40] + 0.05 * rng.standard_normal(n)  # 3 planted dims
    tr, ev = slice(0, 400), slice(400, None)
    res = dims_needed(X[tr], y_cont[tr], X[ev], y_cont[ev], "continuous", fraction=0.95)
    assert res["full_score"] > 0.95
    assert res["n_dims"] == 3 and res["n_dims_above_chance"] == 3
    assert set(res["ranking"][:3]) == {7, 21, 40}
    classes = np.array(["a", "b"])[(X[:, 13] > 0).astype(int)]  # one planted dim
    res = dims_needed(X[tr], classes[tr], X[ev], classes[ev], "categorical")
    assert res["n_dims"] == 1 and res["ranking"][0] == 13
    assert res["chance"] == pytest.approx(0.5, abs=0.1)


def test_dims_needed_skips_dead_codes_and_stops_early():
    rng = np.random.default_rng(1)
    X = np.hstack([np.zeros((300, 10)), rng.standard_normal((300, 40))])
    y = X[:, 12] * 2
    res = dims_needed(X[:200], y[:200], X[200:], y[200:], "continuous")
    assert res["n_available"] == 40 and res["ranking"][0] == 12
    assert res["sizes"] == [1]  # met at the first size


def test_ridge_r2_per_target():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 10))
    Y = np.column_stack([X[:, 0] * 3, rng.standard_normal(300)])
    r2 = ridge_r2(X[:200], Y[:200], X[200:], Y[200:])
    assert r2[0] > 0.99 and r2[1] < 0.1


# ---- factor groups, factors, layer profile -----------------------------------------------------------


def test_egemaps_groups():
    assert factor_group("F0semitoneFrom27.5Hz_sma3nz_amean") == "pitch"
    assert factor_group("F2bandwidth_sma3nz_stddevNorm") == "formants"
    assert factor_group("HNRdBACF_sma3nz_amean") == "voice_quality"
    assert factor_group("mfcc3V_sma3nz_amean") == "mfcc"
    assert factor_group("hammarbergIndexUV_sma3nz_amean") == "spectral"
    assert factor_group("equivalentSoundLevel_dBp") == "loudness"
    assert factor_group("MeanUnvoicedSegmentLength") == "rhythm"
    assert set(FACTOR_GROUPS) == {"pitch", "formants", "voice_quality", "mfcc", "spectral", "loudness", "rhythm"}


def test_available_factors_skips_missing_and_constant_columns():
    clips = pd.DataFrame({"midi": [60.0, 62.0, 64.0], "vowel": ["a", "a", "a"], "technique": ["x", "y", "x"], "f0_hz": ["", "1", "2"]})
    out = available_factors(clips, {"midi": "continuous", "vowel": "categorical", "technique": "categorical", "f0_hz": "continuous", "singer": "categorical"})
    assert list(out) == ["midi", "technique"]


def test_layer_profile_marks_the_best_layer():
    reg = pd.DataFrame(
        [("m", L, "dense", "none", np.nan, 0, "true", "midi", "midi", "r2", v) for L, v in enumerate([0.5, 0.9, 0.7])]
        + [("m", L, "dense", "none", np.nan, 0, "egemaps", f"F{i}frequency_sma3nz_amean", "formants", "r2", v + i / 100) for L, v in enumerate([0.1, 0.4, 0.8]) for i in (1, 2, 3)]
        + [("m", L, "dense", "none", np.nan, 0, "egemaps", "F1bandwidth_sma3nz_amean", "formants", "r2", v) for L, v in enumerate([0.9, 0.1, 0.1])],
        columns=["model", "layer", "representation", "variant", "sparsity", "seed", "factors", "factor", "group", "metric", "value"],
    )
    probing = pd.DataFrame(
        [("m", L, "dense", "none", np.nan, 0, "technique", "logreg", "test", "accuracy", v) for L, v in enumerate([0.6, 0.6, 0.5])],
        columns=["model", "layer", "representation", "variant", "sparsity", "seed", "target", "protocol", "scored_on", "metric", "value"],
    )
    prof = layer_profile(reg, probing)
    best = prof[prof["best"]].set_index("property")["layer"]
    assert best["pitch"] == 1 and best["formants"] == 2
    assert best["technique"] == 0  # tie: the earliest layer
    assert prof["best"].sum() == 3
    assert list(dict.fromkeys(prof["property"])) == ["pitch", "formants", "technique"]  # PROFILE_SOURCES order
    formants = prof[prof["property"] == "formants"].set_index("layer")["value"]
    assert formants[2] == pytest.approx(0.82)  # mean of the F1-F3 frequency means; bandwidths are not used
