"""Figures drawn from small hand-made tables: what a reader would otherwise find broken (a cut-off label, an axis
past s = 1, overlapping tick labels, a legend that does not say which line is which)."""
from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from audiosae.plots import figures, paper_b  # noqa: E402


@pytest.fixture
def drawn(monkeypatch):
    """Figures handed to ``save`` by the plotting functions, drawn (layout done) and kept open for inspection."""
    import matplotlib.pyplot as plt

    kept = []

    def keep(fig, paths):
        fig.canvas.draw()
        kept.append(fig)

    monkeypatch.setattr(figures, "save", keep)
    monkeypatch.setattr(paper_b, "save", keep)
    yield kept
    for fig in kept:
        plt.close(fig)


def assert_inside_figure(fig, texts=()) -> None:
    """Everything drawn lies within the saved area (nothing cut off at an edge): the figure's tight bounding box
    (what matplotlib drew, tick labels in view only) and each of ``texts``."""
    renderer = fig.canvas.get_renderer()
    tight = fig.get_tightbbox(renderer)  # inches
    w, h = fig.get_size_inches()
    tol = 1.5 / fig.dpi
    assert tight.x0 >= -tol and tight.y0 >= -tol and tight.x1 <= w + tol and tight.y1 <= h + tol, (tight.bounds, (w, h))
    box = fig.bbox
    for t in texts:
        e = t.get_window_extent(renderer)
        assert e.x0 >= box.x0 - 1 and e.x1 <= box.x1 + 1 and e.y0 >= box.y0 - 1 and e.y1 <= box.y1 + 1, (
            f"text {t.get_text()!r} at {e.bounds} leaves the figure {box.bounds}")


def assert_no_overlap(labels, renderer) -> None:
    """Tick labels side by side along x neither overlap nor touch: at least half an em apart (window extents),
    so that each reads as its own number."""
    shown = [t for t in labels if t.get_visible() and t.get_text()]
    extents = sorted((t.get_window_extent(renderer) for t in shown), key=lambda e: e.x0)
    for t, (a, b) in zip(shown, itertools.pairwise(extents)):
        gap = 0.5 * t.get_fontsize() * t.figure.dpi / 72
        assert b.x0 - a.x1 >= gap, f"tick labels {[x.get_text() for x in shown]} overlap or touch: {a.bounds} and {b.bounds}"


# ---------------------------------------------------------------- tables


def reconstruction_table(sparsities, layers=(2,)) -> pd.DataFrame:
    rows = []
    for layer, s in itertools.product(layers, sparsities):
        values = {"fvu": 0.05 + 0.2 * s, "mse": 0.01 * (1 + s), "l0": 100 * (1 - s), "dead_fraction": 0.01 * s,
                  "dense_fraction": 0.02 * (1 - s), "cosine": 0.99 - 0.05 * s}
        for split in ("train", "held_out"):
            rows += [{"dataset": "d", "model": "m", "layer": layer, "variant": "topk", "sparsity": s, "seed": 0,
                      "split": split, "metric": k, "value": v} for k, v in values.items()]
    return pd.DataFrame(rows)


def density_table(layers, sparsities, low: float = -6.0) -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(0)
    for layer, s in itertools.product(layers, sparsities):
        rows.append({"layer": layer, "sparsity": s, "dead": True, "bin_low": -np.inf, "bin_high": low, "count": int(rng.integers(0, 300))})
        for lo in np.arange(low, 0.0, 0.5):
            rows.append({"layer": layer, "sparsity": s, "dead": False, "bin_low": lo, "bin_high": lo + 0.5, "count": int(rng.integers(0, 500))})
    return pd.DataFrame(rows)


def concept_tables(layers=(2,), concepts=(("technique", "belt"), ("technique", "breathy_long_value"), ("gender", "male"))):
    curves, summary = [], []
    for layer, (target, concept) in itertools.product(layers, concepts):
        for ordering, probe in itertools.product(("auroc", "probe_weight", "random"), ("fixed", "retrained")):
            for p in (0, 5, 10, 20, 50, 75, 100):
                acc = 0.95 - (0.45 * p / 100 if probe == "retrained" else min(0.45, 0.02 * p))
                curves.append({"layer": layer, "target": target, "concept": concept, "ordering": ordering, "repeat": 0,
                               "probe": probe, "percent": p, "balanced_accuracy": acc})
            summary.append({"layer": layer, "target": target, "concept": concept, "ordering": ordering, "probe": probe,
                            "fraction_to_chance": 0.2 if probe == "fixed" else np.nan if ordering == "random" else 0.75})
    return pd.DataFrame(curves), pd.DataFrame(summary)


# ---------------------------------------------------------------- one sparsity: the x axis stays within [0, 1]


@pytest.mark.parametrize("sparsity", [0.98, 0.9, 0.999])
def test_reconstruction_and_sparsity_plots_of_a_single_sparsity(drawn, sparsity, tmp_path):
    table = reconstruction_table([sparsity])
    figures.reconstruction_vs_sparsity(table, [tmp_path / "r.png"])
    figures.sparsity_statistics(table, [tmp_path / "s.png"])
    recon, stats = drawn
    assert len(recon.axes) == 2 and len(stats.axes) == 4
    for ax in [*recon.axes, *stats.axes]:
        lo, hi = ax.get_xlim()
        assert 0.0 <= lo < sparsity < hi <= 1.0, (lo, hi)
        assert hi - lo <= 0.1 + 1e-9  # a window around the one value, not matplotlib's ±0.05 default past 1
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks == [pytest.approx(sparsity)]
        assert [t.get_text() for t in ax.get_xticklabels()] == [f"{sparsity:g}"]


def test_reconstruction_and_sparsity_plots_of_several_sparsities(drawn, tmp_path):
    sparsities = [0.75, 0.9, 0.95, 0.99]
    table = reconstruction_table(sparsities, layers=(0, 1, 2))
    figures.reconstruction_vs_sparsity(table, [tmp_path / "r.png"])
    figures.sparsity_statistics(table, [tmp_path / "s.png"])
    for fig in drawn:
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            if not ax.get_visible() or not ax.lines:
                continue
            lo, hi = ax.get_xlim()
            assert 0.0 <= lo <= 0.75 and 0.99 <= hi <= 1.0
            assert_no_overlap(ax.get_xticklabels(), renderer)


# ---------------------------------------------------------------- feature density: readable tick labels


@pytest.mark.parametrize("n_layers,low", [(1, -6.0), (5, -6.0), (5, -4.0), (2, -9.0)])
def test_feature_density_tick_labels_do_not_overlap(drawn, n_layers, low, tmp_path):
    figures.density_histograms(density_table(range(n_layers), [0.75, 0.99], low), [tmp_path / "d.png"])
    fig = drawn[0]
    renderer = fig.canvas.get_renderer()
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == n_layers
    for ax in panels:
        labels = [t for t in ax.get_xticklabels() if t.get_text()]
        assert labels[0].get_text() == "dead" and len(labels) >= 3  # dead + at least two decades
        assert labels[-1].get_text() == "$10^{0}$"
        assert_no_overlap(labels, renderer)
        decades = ax.get_xticks(minor=True)
        assert len(decades) + len(labels) - 1 == int(-low) + 1  # every decade has a tick, labelled or minor
    assert_inside_figure(fig, [t for ax in panels for t in ax.get_xticklabels() if t.get_text()])


# ---------------------------------------------------------------- concept ablation: label and legend


@pytest.mark.parametrize("layers", [(2,), (1, 3)])
def test_concept_ablation_figure_label_inside_and_legend_explains_the_lines(drawn, layers, tmp_path):
    curves, summary = concept_tables(layers)
    paper_b.concept_ablation_figure(curves, summary, [tmp_path / "c.png"], title="model on data")
    fig = drawn[0]
    axes = np.array(fig.axes).reshape(2, len(layers))
    renderer = fig.canvas.get_renderer()
    for ax in axes[1]:
        label = ax.xaxis.label
        assert_inside_figure(fig, [label])  # the long x label was cut off at the right edge
        assert "retrained probe is at chance" in label.get_text()
    assert_inside_figure(fig)  # no text anywhere is cut off at the figure's edge

    # One legend for the whole figure: colour = order of ablation, line style = probe; none inside the panels.
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.axes)
    legend = fig.legends[0]
    entries = {t.get_text(): h for t, h in zip(legend.get_texts(), legend.legend_handles) if t.get_text().strip()}
    fixed = entries["fixed probe (trained once, before ablation)"]
    retrained = entries["retrained probe (refit after each ablation)"]
    assert fixed.get_linestyle() == "-" and retrained.get_linestyle() == "--"
    assert {"features ranked by |AUROC − ½|", "ranked by probe weight", "random order", "chance (0.5)"} <= set(entries)
    assert "line style: probe" in legend.get_title().get_text()
    e = legend.get_window_extent(renderer)
    assert fig.bbox.x0 <= e.x0 and e.x1 <= fig.bbox.x1 and fig.bbox.y0 <= e.y0
    # ... and the panels draw what the legend says: solid fixed, dashed retrained, in the ordering's colour.
    top = axes[0][0]
    styles = {line.get_linestyle() for line in top.get_lines() if len(line.get_xdata()) > 2}
    assert styles == {"-", "--"}
    colours = {matplotlib.colors.to_hex(line.get_color()) for line in top.get_lines() if len(line.get_xdata()) > 2}
    assert colours == {matplotlib.colors.to_hex(entries[k].get_color()) for k in ("features ranked by |AUROC − ½|", "ranked by probe weight", "random order")}
    assert top.get_title() == "layer %d: mean over 3 concepts" % layers[0]


def test_concept_ablation_figure_without_curves(drawn, tmp_path):
    paper_b.concept_ablation_figure(pd.DataFrame(), pd.DataFrame(), [tmp_path / "c.png"])
    assert "no concept" in " ".join(t.get_text() for t in drawn[0].findobj(Text))


# ---------------------------------------------------------------- paper A's DCI: fits, factor sets, formulas


def disentanglement_table() -> pd.DataFrame:
    """The DCI rows the library writes (audiosae.analysis.factors.egemaps_dci) for two layers of planted data."""
    from audiosae.analysis.factors import DIS_COLUMNS, egemaps_dci

    rng = np.random.default_rng(0)
    splits = np.array((["train"] * 3 + ["test"] * 2) * 20)
    names = ["F0semitoneFrom27.5Hz_sma3nz_amean", "F1frequency_sma3nz_amean", "loudness_sma3_amean", "mfcc1_sma3_amean"]
    rows = []
    for layer in (0, 1):
        Y = rng.standard_normal((len(splits), 4))
        dense = Y @ rng.standard_normal((4, 6))
        reps = [("dense", "none", np.nan, 0, dense)] + [
            ("sae", "topk", s, 0, np.maximum(dense @ rng.standard_normal((6, 12)), 0)) for s in (0.75, 0.99)]
        rows += egemaps_dci(layer, reps, Y, names, splits, top=2)
    return pd.DataFrame(rows, columns=DIS_COLUMNS)


def test_dci_figure_shows_each_fit_and_both_formulas(drawn, tmp_path):
    table = disentanglement_table()
    figures.dci_vs_layer(table, [tmp_path / "d.png"], title="m on d")
    fig = drawn[0]
    assert_inside_figure(fig)
    assert len(fig.axes) == 2 * len(figures.DCI_PANELS)  # one row per fit
    titles = [ax.get_title() for ax in fig.axes]
    assert sum("paper A's formula" in t for t in titles) == 1 and sum("standard" in t for t in titles) == 2
    rows = [ax.get_ylabel().replace("\n", " ") for ax in fig.axes[:: len(figures.DCI_PANELS)]]
    assert rows == ["paper A: in sample on the test clips", "held out: fit on train, R² on test"]
    assert "common_top2_dense_fit_r2" in fig._suptitle.get_text()
    # the paper A panel plots the standard value / number of codes: 6 dense dimensions
    paper_a, standard = fig.axes[0], fig.axes[1]
    dense_a = next(line for line in paper_a.get_lines() if line.get_label() == "dense").get_ydata()
    dense_s = next(line for line in standard.get_lines() if line.get_label() == "dense").get_ydata()
    np.testing.assert_allclose(dense_a, np.asarray(dense_s) / 6)
    figures.dci_by_factor_group(table, [tmp_path / "g.png"], title="m on d")
    assert_inside_figure(drawn[1])
    figures.true_factor_disentanglement(table, [tmp_path / "t.png"])  # no true factors: says so
    assert "no ground-truth" in " ".join(t.get_text() for t in drawn[2].findobj(Text))


# ---------------------------------------------------------------- the report: each figure once, labelled


def test_report_registers_each_figure_once_with_labels(tmp_path, monkeypatch):
    """The workflow (tiny config, parsed, nothing run): every report() entry has labels that tell entries of one
    category apart; each figure is in the report once, in the first of figures.formats (PNG), its other formats
    plain outputs of the same rule; the feature browser's front page is an entry whose caption links the browser."""
    from pathlib import Path

    from snakemake.api import SnakemakeApi
    from snakemake.io import get_flag_value, is_flagged
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(tmp_path)  # the API changes into the workdir; restored afterwards
    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(ResourceSettings(), ConfigSettings(configfiles=[root / "config/test.yaml"]),
                                snakefile=root / "Snakefile", workdir=tmp_path)._workflow
        entries, outputs = [], {}
        for rule in workflow.rules:
            outputs[rule.name] = [str(f) for f in rule.output]
            entries += [(rule.name, str(f), get_flag_value(f, "report")) for f in rule.output if is_flagged(f, "report")]
    assert len(entries) >= 30
    keys = set()
    for rule, path, obj in entries:
        assert obj.labels is not None, f"{rule}: report entry {path} has no labels"
        if callable(obj.labels):
            continue
        assert set(obj.labels) >= {"result"} and obj.labels["result"].split(": ")[0] in ("figure", "table", "feature browser")
        key = (obj.category, obj.subcategory, obj.labels["result"], tuple(sorted(obj.labels.items())))
        assert key not in keys, f"two report entries with the same labels: {key}"
        keys.add(key)
    figures_in_report = [(rule, path) for rule, path, _ in entries if path.startswith("results/figures/")]
    assert figures_in_report and all(path.endswith(".png") for _, path in figures_in_report), figures_in_report
    for rule, path in figures_in_report:
        pdf = path[: -len(".png")] + ".pdf"
        assert pdf in outputs[rule], f"{rule}: {pdf} is no longer an output"
    assert not [p for _, p, _ in entries if p.endswith(".pdf")]
    browser = [(path, obj) for rule, path, obj in entries if rule == "browser_index"]
    assert [p for p, _ in browser] == ["results/browser/index.html"]
    caption = (root / "rules" / browser[0][1].caption).resolve().read_text()
    assert "<results/browser/index.html>`_" in caption and "<browser/index.html>`_" in caption
