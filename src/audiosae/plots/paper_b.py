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


def stability_figure(table: pd.DataFrame, cosines: pd.DataFrame, out: list[str | Path], title: str = "") -> None:
    """Shares of matched atoms above each cosine threshold per comparison (SAE vs random), and the matched-cosine
    distributions (SAE atoms, all)."""
    apply_style()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
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


def concept_ablation_figure(curves: pd.DataFrame, summary: pd.DataFrame, out: list[str | Path], title: str = "") -> None:
    """Probe balanced accuracy against the percentage of features ablated (mean over concepts), per layer, and the
    fraction of features that brings the retrained probe to chance per concept."""
    apply_style()
    if curves.empty:
        fig, ax = plt.subplots(figsize=(5, 2), layout="constrained")
        ax.axis("off")
        ax.text(0.5, 0.5, "no concept with enough clips in train and test", ha="center", va="center")
        save(fig, out)
        return
    layers = sorted(curves["layer"].unique())
    fig, axes = plt.subplots(2, len(layers), figsize=(5.2 * len(layers), 7.2), squeeze=False, layout="constrained")
    orderings = [o for o in dict.fromkeys(curves["ordering"]) if o != "random"] + ["random"]
    colors = dict(zip(orderings, list(sns.color_palette("colorblind", len(orderings) - 1)) + ["grey"]))
    for j, layer in enumerate(layers):
        ax = axes[0][j]
        sub = curves[curves["layer"] == layer]
        mean = sub.groupby(["ordering", "probe", "percent"], as_index=False)["balanced_accuracy"].mean()
        for ordering in orderings:
            for probe, ls in (("fixed", "-"), ("retrained", "--")):
                part = mean[(mean["ordering"] == ordering) & (mean["probe"] == probe)].sort_values("percent")
                ax.plot(part["percent"], part["balanced_accuracy"], ls=ls, marker="o", ms=3, color=colors[ordering],
                        label=f"{ordering}, {probe}")
        ax.axhline(0.5, color="black", lw=0.8, ls=":")
        ax.axvspan(19, 27, color="orange", alpha=0.12, label="paper B: 19-27%")
        ax.set(xlabel="features ablated (%)", ylabel="balanced accuracy (test)", ylim=(0.3, 1.02),
               title=f"layer {layer}: mean over {sub[['target', 'concept']].drop_duplicates().shape[0]} concepts")
        ax.legend(fontsize=6, ncol=2)
        ax = axes[1][j]
        s = summary[(summary["layer"] == layer) & (summary["probe"] == "retrained")].copy()
        s["concept "] = s["target"].astype(str) + "=" + s["concept"].astype(str)
        s["fraction_to_chance"] = s["fraction_to_chance"].fillna(1.0)
        sns.barplot(data=s, y="concept ", x="fraction_to_chance", hue="ordering", palette=colors, ax=ax, orient="h")
        ax.axvspan(0.19, 0.27, color="orange", alpha=0.12)
        ax.set(xlabel="fraction of features ablated to reach chance (retrained probe)", ylabel="", xlim=(0, 1.02))
        ax.tick_params(axis="y", labelsize=6)
        ax.legend(fontsize=6)
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
