"""Paper C's figures (acoustic-property probes; codec steering), drawn from the tables alone."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .style import apply_style, save


def acoustic_probe_accuracy(table: pd.DataFrame, out: list[str | Path], title: str = "") -> None:
    """Held-out softmax-probe accuracy per property against the L1 weight, one line per layer x width;
    the dense layer as a dashed line and the majority class as a dotted one."""
    apply_style()
    props = list(dict.fromkeys(table["property"]))
    fig, axes = plt.subplots(1, len(props), figsize=(4.0 * len(props), 3.4), squeeze=False, sharey=True, layout="constrained")
    sae = table[table["features"] == "sae"]
    keys = sorted({(int(r.layer), float(r.expansion)) for r in sae.itertuples()})
    colors = dict(zip(keys, sns.color_palette("viridis", max(len(keys), 1))))
    for ax, prop in zip(axes[0], props):
        for (layer, x), color in colors.items():
            part = sae[(sae["property"] == prop) & (sae["layer"] == layer) & (sae["expansion"] == x)].sort_values("l1")
            ax.plot(part["l1"], part["accuracy"], marker="o", color=color, label=f"L{layer} SAE {x:g}x")
        dense = table[(table["features"] == "dense") & (table["property"] == prop)]
        for layer, color in zip(sorted(dense["layer"].unique()), sns.color_palette("viridis", max(len(dense), 1))):
            ax.axhline(dense[dense["layer"] == layer]["accuracy"].mean(), ls="--", color=color, lw=1, label=f"L{layer} dense")
        ax.axhline(table[table["property"] == prop]["chance"].mean(), ls=":", color="grey", lw=1, label="majority class")
        # Log scale only where the panel has a point to place (found by the full study's rehearsal: a property with no
        # usable labels, e.g. loudness of constant-level notes, has NaN accuracies and log-scaling an empty axis fails).
        if sae[(sae["property"] == prop)].dropna(subset=["l1", "accuracy"]).shape[0]:
            ax.set_xscale("log")
        ax.set(title=prop, xlabel="L1 weight", ylabel="held-out frame accuracy", ylim=(0, 1.02))
    axes[0][-1].legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title)
    save(fig, out)


def codec_steering_response(table: pd.DataFrame, out: list[str | Path], title: str = "") -> None:
    """Change of pitch (semitones), loudness (dB) and centroid (Hz) against alpha; one row of panels per
    steered property's direction, mean over clips with the clips as thin lines."""
    apply_style()
    steered = list(dict.fromkeys(table["steered_property"]))
    cols = [("delta_pitch_semitones", "pitch change (semitones)"), ("delta_loudness_db", "loudness change (dB)"),
            ("delta_centroid_hz", "centroid change (Hz)")]
    fig, axes = plt.subplots(len(steered), 3, figsize=(11, 3.0 * len(steered)), squeeze=False, layout="constrained")
    for r, prop in enumerate(steered):
        sub = table[table["steered_property"] == prop]
        for c, (col, label) in enumerate(cols):
            ax = axes[r][c]
            for _, clip in sub.groupby("clip_id"):
                ax.plot(clip["alpha"], clip[col], color="grey", lw=0.6, alpha=0.5)
            mean = sub.groupby("alpha")[col].mean()
            ax.plot(mean.index, mean.to_numpy(), marker="o", color="black", lw=1.8)
            ax.axhline(0, color="grey", ls=":", lw=1)
            ax.set(xlabel=f"alpha (along the {prop} probe direction)", ylabel=label)
    if title:
        fig.suptitle(title)
    save(fig, out)


def generation_progress(progress: pd.DataFrame, settling: pd.DataFrame, out: list[str | Path], title: str = "") -> None:
    """Progress (share of frames already at their final class) and value progress per property over the steps,
    with each property's settling step as a vertical line."""
    apply_style()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained", sharey=True)
    props = list(dict.fromkeys(progress["property"]))
    colors = dict(zip(props, sns.color_palette("colorblind", len(props))))
    for ax, col in zip(axes, ["progress", "value_progress"]):
        for prop in props:
            part = progress[progress["property"] == prop]
            ax.plot(part["step"], part[col], marker=".", color=colors[prop], label=prop)
            s = settling[settling["property"] == prop]
            if len(s) and col == "progress":
                ax.axvline(s["settling_step"].iloc[0], color=colors[prop], ls="--", lw=1)
        ax.set(xlabel="generation step", ylabel=col.replace("_", " "), ylim=(0, 1.05))
    axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    save(fig, out)
