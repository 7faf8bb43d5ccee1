"""Deterministic train/valid/test assignment shared by the dataset modules."""
from __future__ import annotations

import numpy as np
import pandas as pd


def _draw_groups(order: list, valid_fraction: float, test_fraction: float, test: set | None = None,
                 sizes: dict | None = None) -> tuple[set, set]:
    """Test and valid groups of ``order`` (groups in a drawn order). Without ``sizes``: ``test`` when fixed, else
    the first about ``test_fraction`` of the groups, then about ``valid_fraction`` of the rest. With ``sizes``
    (rows per group): walking the order, a group joins test when that brings test's rows closer to
    ``test_fraction`` of all rows, then likewise valid with ``valid_fraction`` of the rest (none when every group
    would overshoot it). Either way, with two or more groups at least one is in test and at least one stays in
    train; without ``sizes``, with two or more left after test, at least one goes to valid."""
    if test is None:
        if sizes is None:
            n_test = int(round(test_fraction * len(order)))
            if test_fraction > 0 and len(order) >= 2:
                n_test = min(max(n_test, 1), len(order) - 1)
            test = set(order[:n_test])
        else:
            test = _fill(order, sizes, test_fraction, True) if test_fraction > 0 and len(order) >= 2 else set()
    rest = [g for g in order if g not in test]
    if sizes is None:
        n_valid = int(round(valid_fraction * len(rest)))
        if valid_fraction > 0 and len(rest) >= 2:
            n_valid = min(max(n_valid, 1), len(rest) - 1)
        n_valid = min(n_valid, max(len(rest) - 1, 0))  # never the last training group
        return test, set(rest[:n_valid])
    return test, _fill(rest, sizes, valid_fraction, False) if valid_fraction > 0 and len(rest) >= 2 else set()


def _fill(order: list, sizes: dict, fraction: float, at_least_one: bool) -> set:
    """Groups of ``order`` whose rows come close to ``fraction`` of the rows of all of them: each group in turn
    joins when that brings the total closer; never all of them; ``at_least_one``: the first of the smallest when
    none would join."""
    target = fraction * sum(sizes[g] for g in order)
    chosen, rows = [], 0
    for g in order:
        if len(chosen) == len(order) - 1:
            break
        if abs(rows + sizes[g] - target) < abs(rows - target):
            chosen.append(g)
            rows += sizes[g]
    if not chosen and at_least_one:
        chosen = [min(order, key=lambda g: sizes[g])]
    return set(chosen)


def group_split(table: pd.DataFrame, group: str, valid_fraction: float, test_fraction: float, seed: int,
                test_groups: list | None = None, stratify: str | None = None, by_rows: bool = False) -> pd.Series:
    """Split by whole groups (speakers, instruments, voices) so no group is in two splits.

    ``test_groups`` fixes the test groups; otherwise about ``test_fraction`` of the groups are drawn (``by_rows``:
    groups holding about ``test_fraction`` of the rows, for groups of very different sizes). ``stratify`` names a
    column constant within each group (e.g. a speaker's sex): the groups of each of its values (empty is a value of
    its own) are split apart, so a value with two or more groups has at least one in train and one in test (with
    ``test_groups``, only the valid draw is per value). Deterministic for a given set of groups, whatever the row
    order.
    """
    keys = table[group].astype(str)
    groups = sorted(set(keys))
    rng = np.random.default_rng(seed)
    fixed = None
    if test_groups is not None:
        fixed = {str(g) for g in test_groups}
        unknown = fixed - set(groups)
        if unknown:
            raise ValueError(f"test {group}s {sorted(unknown)} are not in the data")
    if stratify is None:
        strata = {"": groups}
    else:
        per_group = table[stratify].astype(str).groupby(keys).unique()
        mixed = {g: sorted(v) for g, v in per_group.items() if len(v) > 1}
        if mixed:
            raise ValueError(f"stratify column {stratify!r} is not constant within each {group}: {mixed}")
        strata = {}
        for g in groups:
            strata.setdefault(str(per_group[g][0]), []).append(g)
    sizes = keys.value_counts().to_dict() if by_rows else None
    test, valid = set(), set()
    for value in sorted(strata):
        members = strata[value]
        order = [members[i] for i in rng.permutation(len(members))]
        t, v = _draw_groups(order, valid_fraction, test_fraction, None if fixed is None else fixed & set(members), sizes)
        test |= t
        valid |= v
    return pd.Series(np.where(keys.isin(test), "test", np.where(keys.isin(valid), "valid", "train")),
                     index=table.index, name="split")


def stratified_split(table: pd.DataFrame, stratify: str, valid_fraction: float, test_fraction: float,
                     seed: int) -> pd.Series:
    """Per class of ``stratify``, about the given fractions of clips (sorted by id, then shuffled)."""
    split = pd.Series("train", index=table.index, name="split")
    rng = np.random.default_rng(seed)
    for _, rows in table.sort_values("id").groupby(stratify, sort=True):
        order = rows.index[rng.permutation(len(rows))]
        n_test = int(round(test_fraction * len(rows)))
        n_valid = int(round(valid_fraction * len(rows)))
        if len(rows) >= 3:
            n_test = max(n_test, 1) if test_fraction > 0 else 0
            n_valid = max(n_valid, 1) if valid_fraction > 0 else 0
        split[order[:n_test]] = "test"
        split[order[n_test:n_test + n_valid]] = "valid"
    return split
