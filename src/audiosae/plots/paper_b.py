"""Paper B's figures (stability, concept ablation): tables in, figure files out, no computation beyond grouping."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .style import apply_style, save

THRESHOLDS = ("share_above_0.5", "share_above_0.7", "share_above_0.9")


def _pair_label(row) -> str:
    if row["comparison"] == "seed":
        return f"L{row['layer_a']} seed {row['seed_a']} vs {row['seed_b']}"
    return f"L{row['layer_a']} vs L{row['layer_b']}"


def _train_fraction(df: pd.DataFrame) -> pd.Series:
    """The fraction of the training clips each row's SAEs saw (tables before stability.row_fractions: all)."""
    return df["train_fraction"] if "train_fraction" in df else pd.Series(1.0, index=df.index)


def _rows_panel(ax, table: pd.DataFrame) -> None:
    """Share of matched atoms above cosine .5 against the distinct training rows, one point per seed pair."""
    t = table[(table["atoms"] == "all") & (table["metric"] == "share_above_0.5") & (table["comparison"] == "seed")].copy()
    t["train_fraction"] = _train_fraction(t)
    rows = [c for c in ("train_rows_a", "train_rows_b") if c in t]
    t["x"] = t[rows].min(axis=1) if rows else np.nan  # a seed pair's SAEs saw the same clips
    by_rows = bool(t["x"].notna().all())
    if not by_rows:  # no metrics.json beside the SAEs: the fraction of the training clips instead
        t["x"] = t["train_fraction"]
    sae = t[t["source"] == "sae"]
    colors = sns.color_palette("colorblind", max(1, sae["layer_a"].nunique()))
    for color, (layer, part) in zip(colors, sae.groupby("layer_a")):
        ax.scatter(part["x"], part["value"], color=color, s=22, zorder=3, label=f"layer {layer}")
    for _, row in sae.drop_duplicates(["layer_a", "train_fraction"]).iterrows():
        ax.annotate(f"{row['train_fraction']:g}", (row["x"], row["value"]), textcoords="offset points", xytext=(4, 4), fontsize=6)
    rand = t[t["source"] == "random"]
    ax.scatter(rand["x"], rand["value"], color="grey", marker="_", s=120, zorder=2, label="random dictionaries")
    ax.axhline(0.5, color="black", lw=0.8, ls=":", label="paper B: over half")
    ax.set_xscale("log")
    ax.set(xlabel="distinct training rows (log)" if by_rows else "fraction of training clips (log)",
           ylabel="share matched (cos > 0.5)", ylim=(0, 1.02), title="across seeds vs training data")
    ax.legend(fontsize=7)


def stability_figure(table: pd.DataFrame, cosines: pd.DataFrame, out: list[str | Path], title: str = "") -> None:
    """Shares of matched atoms above each cosine threshold per comparison (SAE vs random), and the matched-cosine
    distributions (SAE atoms, all), of the SAEs trained on every training clip; when the table also has SAEs trained
    on fewer clips (stability.row_fractions), a third panel: the share matched above cosine .5 across seeds against
    the distinct training rows (log), one point per pair, labelled with its fraction of the training clips."""
    apply_style()
    sweep = _train_fraction(table).nunique() > 1
    fig, axes = plt.subplots(1, 3 if sweep else 2, figsize=(15 if sweep else 10, 3.8), layout="constrained")
    if sweep:
        _rows_panel(axes[2], table)
    table = table[_train_fraction(table) == 1.0]
    cosines = cosines[_train_fraction(cosines) == 1.0]
    t = table[(table["atoms"] == "all") & table["metric"].isin(THRESHOLDS)].copy()
    t["pair"] = t.apply(_pair_label, axis=1)
    t["threshold"] = t["metric"].str.replace("share_above_", "cos > ", regex=False)
    sae = t[t["source"] == "sae"]
    groups = sae.groupby(["comparison", "threshold"], as_index=False)["value"].agg(["mean", "min", "max"])
    rand = t[t["source"] == "random"].groupby(["comparison", "threshold"], as_index=False)["value"].mean()
    comps = list(dict.fromkeys(groups["comparison"]))
    thresholds = sorted(groups["threshold"].unique())
    width = 0.8 / max(1, len(comps))
    colors = sns.color_palette("colorblind", len(comps))
    x = np.arange(len(thresholds))
    ax = axes[0]
    for i, comp in enumerate(comps):
        g = groups[groups["comparison"] == comp].set_index("threshold").reindex(thresholds)
        r = rand[rand["comparison"] == comp].set_index("threshold").reindex(thresholds)
        pos = x + (i - (len(comps) - 1) / 2) * width
        ax.bar(pos, g["mean"], width, color=colors[i], label=comp.replace("_", " "),
               yerr=[g["mean"] - g["min"], g["max"] - g["mean"]], capsize=3)
        ax.scatter(pos, r["value"], color="grey", marker="_", s=200, zorder=3, label="random dictionaries" if i == 0 else None)
    ax.set_xticks(x, thresholds)
    ax.set(ylabel="share of matched atoms", ylim=(0, 1.02), title="matched above threshold")
    ax.legend(fontsize=7)
    ax = axes[1]
    c = cosines[(cosines["atoms"] == "all")].copy()
    c["pair"] = c.apply(_pair_label, axis=1)
    for (source, pair), part in c.groupby(["source", "pair"], sort=False):
        if source == "random" and pair != c["pair"].iloc[0]:
            continue
        centers = (part["bin_low"] + part["bin_high"]) / 2
        share = part["count"] / max(1, part["count"].sum())
        ax.plot(centers, share, color="grey" if source == "random" else None, ls="--" if source == "random" else "-",
                label="random" if source == "random" else pair, lw=1.2)
    ax.set(xlabel="cosine of matched atoms", ylabel="share of atoms", title="distribution")
    ax.legend(fontsize=6)
    if title:
        fig.suptitle(title)
    save(fig, out)


ORDERING_LABELS = {"auroc": "features ranked by |AUROC − ½|", "probe_weight": "ranked by probe weight",
                   "mean_diff": "ranked by mean difference", "random": "random order"}
PROBE_STYLES = {"fixed": ("-", "fixed probe (trained once, before ablation)"),
                "retrained": ("--", "retrained probe (refit after each ablation)")}


def _ordering_label(ordering: str) -> str:
    return ORDERING_LABELS.get(ordering, f"ranked by {ordering.replace('_', ' ')}")


def concept_ablation_figure(curves: pd.DataFrame, summary: pd.DataFrame, out: list[str | Path], title: str = "") -> None:
    """Probe balanced accuracy against the percentage of features ablated (mean over concepts), per layer, and the
    fraction of features that brings the retrained probe to chance per concept.

    Colour is the order in which features are ablated, line style the probe (solid: fixed, dashed: retrained); one
    legend below the panels says both."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    apply_style()
    if curves.empty:
        fig, ax = plt.subplots(figsize=(5, 2), layout="constrained")
        ax.axis("off")
        ax.text(0.5, 0.5, "no concept with enough clips in train and test", ha="center", va="center")
        save(fig, out)
        return
    layers = sorted(curves["layer"].unique())
    n_concepts = curves[["target", "concept"]].drop_duplicates().shape[0]
    fig, axes = plt.subplots(2, len(layers), figsize=(5.6 * len(layers), 4.4 + 0.22 * n_concepts), squeeze=False,
                             layout="constrained", height_ratios=[1.0, 0.35 + 0.06 * n_concepts])
    ranked = [o for o in dict.fromkeys(curves["ordering"]) if o != "random"]
    orderings = ranked + (["random"] if (curves["ordering"] == "random").any() else [])
    colors = {**dict(zip(ranked, sns.color_palette("colorblind", len(ranked)))), "random": "grey"}
    probes = [p for p in PROBE_STYLES if p in set(curves["probe"])]
    for j, layer in enumerate(layers):
        ax = axes[0][j]
        sub = curves[curves["layer"] == layer]
        mean = sub.groupby(["ordering", "probe", "percent"], as_index=False)["balanced_accuracy"].mean()
        for ordering in orderings:
            for probe in probes:
                part = mean[(mean["ordering"] == ordering) & (mean["probe"] == probe)].sort_values("percent")
                ax.plot(part["percent"], part["balanced_accuracy"], ls=PROBE_STYLES[probe][0], marker="o", ms=3,
                        color=colors[ordering], lw=1.6)
        ax.axhline(0.5, color="black", lw=0.8, ls=":")
        ax.axvspan(19, 27, color="orange", alpha=0.12)
        n_layer = sub[["target", "concept"]].drop_duplicates().shape[0]
        ax.set(xlabel="features ablated (%)", ylabel="balanced accuracy (test)" if j == 0 else "", ylim=(0.3, 1.02),
               title=f"layer {layer}: mean over {n_layer} concept{'s' if n_layer != 1 else ''}")
        ax = axes[1][j]
        s = summary[(summary["layer"] == layer) & (summary["probe"] == "retrained")].copy()
        s["concept "] = s["target"].astype(str) + "=" + s["concept"].astype(str)
        s["fraction_to_chance"] = s["fraction_to_chance"].fillna(1.0)
        sns.barplot(data=s, y="concept ", x="fraction_to_chance", hue="ordering", hue_order=[o for o in orderings if o in set(s["ordering"])],
                    palette=colors, ax=ax, orient="h", legend=False)
        ax.axvspan(0.19, 0.27, color="orange", alpha=0.12)
        ax.set(xlabel="fraction of features ablated until\nthe retrained probe is at chance", ylabel="", xlim=(0, 1.0))
        ax.tick_params(axis="y", labelsize=7)
    # Left column: the colours (ablation order); right column: the line styles (probe) and the marks.
    left = [Line2D([], [], color=colors[o], lw=6, solid_capstyle="butt", label=_ordering_label(o)) for o in orderings]
    right = [Line2D([], [], color="0.3", ls=PROBE_STYLES[p][0], lw=1.6, label=PROBE_STYLES[p][1]) for p in probes]
    right += [Patch(color="orange", alpha=0.25, label="paper B: 19–27 % of features"),
              Line2D([], [], color="black", lw=0.8, ls=":", label="chance (0.5)")]
    blank = Line2D([], [], color="none", label=" ")
    n = max(len(left), len(right))
    fig.legend(handles=left + [blank] * (n - len(left)) + right + [blank] * (n - len(right)), loc="outside lower center",
               ncol=2, fontsize=7, frameon=False, title="colour: order of ablation · line style: probe", title_fontsize=7)
    if title:
        fig.suptitle(title)
    save(fig, out)


def steering_figure(table: pd.DataFrame, out: list[str | Path], title: str = "") -> None:
    """Per steered layer: the trade-off (false speech detection rate on non-speech vs WER on speech) of each
    method over its strengths, from the unsteered model (star); below it, where the table has it, Whisper's own
    no-speech probability on non-speech (solid) and speech (dashed) clips against strength."""
    from ..models.asr import NO_SPEECH_THRESHOLD

    apply_style()
    layers = sorted(table["layer"].unique())
    detector = "no_speech_prob_nonspeech" in table.columns
    rows = 2 if detector else 1
    fig, axes = plt.subplots(rows, len(layers), figsize=(4.6 * len(layers), 3.8 * rows), layout="constrained", squeeze=False)
    methods = [m for m in dict.fromkeys(table["method"]) if m != "none"]
    colors = dict(zip(methods, sns.color_palette("colorblind", len(methods))))
    for col, layer in enumerate(layers):
        ax = axes[0, col]
        t = table[table["layer"] == layer]
        base = t[t["method"] == "none"].iloc[0]
        for method in methods:
            m = pd.concat([t[t["method"] == "none"], t[t["method"] == method].sort_values("strength")])
            ax.plot(m["wer"], m["false_detection_rate"], "-o", color=colors[method], label=method.replace("_", " "), ms=4)
            for _, row in m.iloc[1:].iterrows():
                ax.annotate(f"{row['strength']:g}", (row["wer"], row["false_detection_rate"]), fontsize=6,
                            xytext=(3, 3), textcoords="offset points", color=colors[method])
        ax.scatter([base["wer"]], [base["false_detection_rate"]], marker="*", s=160, color="black", zorder=4, label="unsteered")
        ax.set(xlabel="WER on speech", ylabel="false speech detection rate", ylim=(-0.03, 1.03),
               title=f"layer {layer} ({int(base['n_speech'])} speech, {int(base['n_nonspeech'])} non-speech clips)")
        ax.legend(fontsize=7)
        if detector:
            ax = axes[1, col]
            for method in methods:
                m = pd.concat([t[t["method"] == "none"], t[t["method"] == method].sort_values("strength")])
                ax.plot(m["strength"], m["no_speech_prob_nonspeech"], "-o", color=colors[method], ms=4, label=f"{method.replace('_', ' ')}: non-speech")
                ax.plot(m["strength"], m["no_speech_prob_speech"], "--s", color=colors[method], ms=3, label="speech")
            ax.axhline(NO_SPEECH_THRESHOLD, color="grey", lw=0.8, ls=":")
            ax.set(xlabel="steering strength (0 = unsteered)", ylabel="Whisper no-speech probability (mean)", ylim=(-0.03, 1.03))
            ax.legend(fontsize=6, ncol=2)
    if title:
        fig.suptitle(title)
    save(fig, out)
