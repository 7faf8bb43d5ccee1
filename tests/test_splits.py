"""splits.group_split stratified by a group-level column (the speaker sex of AMI speakers)."""
import numpy as np
import pandas as pd
import pytest

from audiosae.data.splits import group_split

# AMI-like: speakers of very different sizes (pieces per speaker), sex constant per speaker
SPEAKERS = {"M1": ("male", 7), "M2": ("male", 8), "M3": ("male", 2), "M4": ("male", 3), "M5": ("male", 2),
            "F1": ("female", 6), "F2": ("female", 8), "F3": ("female", 1), "F4": ("female", 1), "F5": ("female", 1),
            "F6": ("female", 1), "U1": ("", 4)}


def table() -> pd.DataFrame:
    rows = [{"speaker": s, "sex": sex, "piece": k} for s, (sex, n) in SPEAKERS.items() for k in range(n)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("by_rows", [False, True])
def test_each_sex_with_two_speakers_is_in_train_and_test(by_rows):
    t = table()
    for seed in range(25):
        split = group_split(t, "speaker", 0.15, 0.3, seed, stratify="sex", by_rows=by_rows)
        assert t.assign(split=split).groupby("speaker")["split"].nunique().max() == 1  # no speaker in two splits
        for sex in ("male", "female"):
            assert {"train", "test"} <= set(split[t["sex"] == sex]), (seed, sex)
        assert set(split[t["sex"] == ""]) == {"train"}  # a value with one speaker: train, like an unstratified split


def test_stratified_split_is_deterministic_whatever_the_row_order():
    t = table()
    split = group_split(t, "speaker", 0.15, 0.3, 42, stratify="sex", by_rows=True)
    shuffled = t.sample(frac=1.0, random_state=3)
    again = group_split(shuffled, "speaker", 0.15, 0.3, 42, stratify="sex", by_rows=True)
    pd.testing.assert_series_equal(split, again.loc[split.index])
    per_speaker = dict(zip(t["speaker"], split))
    assert per_speaker == {"M1": "train", "M2": "train", "M3": "test", "M4": "test", "M5": "test",
                           "F1": "train", "F2": "train", "F3": "test", "F4": "test", "F5": "test", "F6": "test",
                           "U1": "train"}
    # by_rows: test holds about 30% of each sex's pieces (male 7 of 22: 6.6 wanted; female 4 of 18: 5.4 wanted, one
    # more 6-piece speaker would be further off), not 30% of its speakers; valid none: 15% of the male 15 left is
    # 2.25 pieces, and M1 (7) and M2 (8) would each overshoot it further
    share = t.assign(split=split).groupby("sex")["split"].apply(lambda s: (s == "test").sum())
    assert share["male"] == 7 and share["female"] == 4 and not (split == "valid").any()


def test_unstratified_split_is_unchanged_and_stratify_must_be_constant_per_group():
    t = table()
    plain = group_split(t, "speaker", 0.15, 0.3, 7)
    groups = sorted(SPEAKERS)
    order = [groups[i] for i in np.random.default_rng(7).permutation(len(groups))]
    test, valid = set(order[:4]), set(order[4:5])  # round(0.3 * 12) = 4 test, round(0.15 * 8) = 1 valid
    assert dict(zip(t["speaker"], plain)) == {s: "test" if s in test else "valid" if s in valid else "train" for s in groups}
    t.loc[0, "sex"] = "female"
    with pytest.raises(ValueError, match="not constant within each speaker"):
        group_split(t, "speaker", 0.15, 0.3, 7, stratify="sex")
