"""One function per figure: tables in, figure files out, no computation beyond grouping."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .style import apply_style, facets, layer_palette, save, sparsity_palette


def sparsity_axis(ax, sparsities) -> None:
    """An x axis of sparsity s (a fraction, below 1) that never runs past 1 or below 0. A single sparsity gets
    one tick at its value, centred in a window of at most ±0.05; several keep matplotlib's ticks (or one per
    sparsity when they are few and far enough apart to be read)."""
    values = sorted({float(s) for s in sparsities if np.isfinite(float(s))})
    if not values:
        return
    if len(values) == 1:
        s = values[0]
        half = max(min(0.05, 1.0 - s, s), 1e-3)
        ax.set_xlim(s - half, s + half)
        ax.set_xticks([s], [f"{s:g}"])
        return
    lo, hi = ax.get_xlim()
    lo, hi = max(0.0, lo), min(1.0, hi)
    ax.set_xlim(lo, hi)
    if len(values) <= 6 and np.diff(values).min() >= (hi - lo) / 8:
        ax.set_xticks(values, [f"{s:g}" for s in values])


def representation_label(row) -> str:
    return "dense" if row["representation"] == "dense" else f"SAE s={row['sparsity']:g}"


def probe_accuracy_vs_layer(table: pd.DataFrame, out: list[str | Path], title: str = "") -> None:
    """Held-out probe accuracy per layer: the dense layer and the SAE codes at each sparsity."""
    apply_style()
    acc = table[(table["metric"] == "accuracy") & (table["representation"] != "chance")].copy()
    acc["representation "] = acc.apply(representation_label, axis=1)
    targets = list(dict.fromkeys(acc["target"]))
    fig, axes = plt.subplots(1, len(targets), figsize=(4.2 * len(targets), 3.4), squeeze=False, sharey=True, layout="constrained")
    for ax, target in zip(axes[0], targets):
        sub = acc[acc["target"] == target].sort_values(["representation", "sparsity", "layer"])
        order = ["dense"] + sorted({r for r in sub["representation "] if r != "dense"})
        for i, label in enumerate(order):
            part = sub[sub["representation "] == label]
            color = "black" if label == "dense" else sns.color_palette("viridis", len(order))[i]
            ax.plot(part["layer"], part["value"], marker="o", label=label, color=color, lw=2 if label == "dense" else 1.3)
            ax.fill_between(part["layer"], part["ci_low"], part["ci_high"], color=color, alpha=0.12)
        chance = table[(table["representation"] == "chance") & (table["target"] == target)]["value"].mean()
        ax.axhline(chance, ls="--", color="grey", lw=1, label="chance")
        ax.set(title=target, xlabel="layer", ylabel="held-out accuracy", ylim=(0, 1.02))
        ax.set_xticks(sorted(sub["layer"].unique()))
    axes[0][-1].legend(fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title)
    save(fig, out)


def reconstruction_vs_sparsity(table: pd.DataFrame, out: list[str | Path], title: str = "") -> None:
    """Held-out reconstruction error (FVU and MSE) against sparsity, one line per layer."""
    apply_style()
    held = table[(table["split"] == "held_out") & table["metric"].isin(["fvu", "mse"])]
    fig, axes = plt.subplots(1, 2, figsize=(8.8, 3.4), layout="constrained")
    for ax, metric in zip(axes, ["fvu", "mse"]):
        sub = held[held["metric"] == metric]
        sns.lineplot(data=sub, x="sparsity", y="value", hue="layer", marker="o", palette="viridis", ax=ax, errorbar=None)
        ax.set(yscale="log", xlabel="sparsity s (fraction of latents zeroed)", ylabel=f"held-out {metric.upper()}")
        sparsity_axis(ax, sub["sparsity"])
    if title:
        fig.suptitle(title)
    save(fig, out)


def sparsity_statistics(table: pd.DataFrame, out: list[str | Path], title: str = "") -> None:
    """Held-out L0, dead and dense fractions and cosine similarity against sparsity, one line per layer."""
    apply_style()
    metrics = [("l0", "L0: active latents per row", "log"), ("dead_fraction", "dead latents (fraction)", "linear"),
               ("dense_fraction", "dense latents (>10% of rows)", "linear"), ("cosine", "cosine(x, x̂)", "linear")]
    held = table[table["split"] == "held_out"]
    metrics = [m for m in metrics if m[0] in set(held["metric"])]
    fig, axes = facets(len(metrics), max_cols=4, sharey=False)
    palette = layer_palette(held["layer"])
    for ax, (metric, label, scale) in zip(axes, metrics):
        sub = held[held["metric"] == metric].groupby(["layer", "sparsity"], as_index=False)["value"].mean()
        for layer, part in sub.groupby("layer"):
            ax.plot(part["sparsity"], part["value"], marker="o", color=palette[int(layer)], label=f"layer {layer}")
        ax.set(title=label, xlabel="sparsity s", ylabel="held-out value" if ax is axes[0] else "", yscale=scale)
        sparsity_axis(ax, held["sparsity"])
    axes[-1].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    save(fig, out)


def density_ticks(ax, left: float, max_labels: int = 4) -> None:
    """x ticks of a log10-density axis whose dead-latent bar sits at ``left``: "dead", then every
    ``step``-th decade down from 10^0 (at most ``max_labels`` of them, none closer to "dead" than ``step``),
    the other decades as unlabelled minor ticks, so that the labels never overlap in a narrow panel."""
    decades = list(range(int(np.ceil(left + 1)), 1))
    step = max(1, int(np.ceil(len(decades) / max_labels)))
    labelled = [d for d in decades if d % step == 0 and d >= left + step]
    ax.set_xticks([left] + labelled, ["dead"] + [f"$10^{{{d}}}$" for d in labelled])
    ax.set_xticks([d for d in decades if d not in labelled], minor=True)
    ax.grid(True, axis="x", which="minor", lw=0.5, alpha=0.5)


def density_histograms(table: pd.DataFrame, out: list[str | Path], title: str = "") -> None:
    """Histogram of log10 feature density on held-out rows, one panel per layer, one line per sparsity;
    dead latents (never active) are the bar at the left."""
    apply_style()
    layers = sorted(table["layer"].unique())
    fig, axes = facets(len(layers))
    palette = sparsity_palette(table["sparsity"])
    for ax, layer in zip(axes, layers):
        sub = table[table["layer"] == layer].groupby(["sparsity", "dead", "bin_low", "bin_high"], as_index=False)["count"].mean()
        alive = sub[~sub["dead"]]
        left = alive["bin_low"].min() - 1.0 if len(alive) else -7.0
        for i, (s, part) in enumerate(alive.groupby("sparsity")):
            part = part.sort_values("bin_low")
            centers = (part["bin_low"] + part["bin_high"]) / 2
            ax.step(centers, part["count"], where="mid", color=palette[float(s)], label=f"s={s:g}")
            dead = sub[(sub["sparsity"] == s) & sub["dead"]]["count"].sum()
            width = 0.8 / max(1, alive["sparsity"].nunique())
            ax.bar(left - 0.4 + width * (i + 0.5), dead, width=width, color=palette[float(s)], alpha=0.7)
        ax.axvline(left + 0.5, color="grey", lw=0.8)
        density_ticks(ax, left)
        ax.set(title=f"layer {layer}", xlabel="feature density", ylabel="latents")
    axes[-1].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    save(fig, out)


def training_curves(table: pd.DataFrame, out: list[str | Path], metric: str = "fvu", title: str = "") -> None:
    """Training-batch ``metric`` against step, one panel per layer, one line per sparsity (seeds averaged)."""
    apply_style()
    sub = table[table["metric"] == metric]
    layers = sorted(sub["layer"].unique()) or [0]
    fig, axes = facets(len(layers))
    palette = sparsity_palette(sub["sparsity"]) if len(sub) else {}
    for ax, layer in zip(axes, layers):
        part = sub[sub["layer"] == layer].groupby(["sparsity", "step"], as_index=False)["value"].mean()
        for s, line in part.groupby("sparsity"):
            ax.plot(line["step"], line["value"], color=palette[float(s)], label=f"s={s:g}")
        ax.set(title=f"layer {layer}", xlabel="step", ylabel=f"training {metric.upper()}", yscale="log")
    axes[-1].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    save(fig, out)


# ---- paper A: disentanglement, dimensions needed, layer profile -------------------------------------


def _representation_lines(ax, data: pd.DataFrame, y: str = "value") -> None:
    """One line per representation (dense in black, SAE sparsities in viridis) against layer; the SAE
    variant is named when the table holds several."""
    data = data.copy()
    if data.empty:
        return
    several = data.loc[data["representation"] == "sae", "variant"].nunique() > 1
    data["label"] = [
        "dense" if rep == "dense" else (f"{var} {sp:g}" if several else f"SAE s={sp:g}")
        for rep, var, sp in zip(data["representation"], data["variant"], data["sparsity"])
    ]
    sae = data[data["representation"] == "sae"].sort_values(["variant", "sparsity"])
    sae_labels = list(dict.fromkeys(sae["label"]))
    palette = sns.color_palette("viridis", max(1, len(sae_labels)))
    for i, label in enumerate(["dense", *sae_labels]):
        part = data[data["label"] == label].groupby("layer", as_index=False)[y].mean().sort_values("layer")
        if part.empty:
            continue
        color = "black" if label == "dense" else palette[i - 1]
        ax.plot(part["layer"], part[y], marker="o", label=label, color=color, lw=2 if label == "dense" else 1.3)
    ax.set_xticks(sorted(data["layer"].unique()))


def _empty(out: list[str | Path], message: str, title: str = "") -> None:
    fig, ax = plt.subplots(figsize=(5, 2), layout="constrained")
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    if title:
        fig.suptitle(title)
    save(fig, out)


# (metric, formula, factor set: "all" or "common", panel title)
DCI_PANELS = [
    ("disentanglement", "paper_a", "all", "disentanglement, paper A's formula\n(weighted sum / #codes), all"),
    ("disentanglement", "standard", "all", "disentanglement, standard\n(weighted sum), all"),
    ("disentanglement", "standard", "common", "disentanglement, standard\ncommon set"),
    ("completeness", "both", "common", "completeness (log base = #codes)\ncommon set"),
    ("informativeness", "both", "common", "informativeness (R², ≥0)\ncommon set"),
    ("effective_codes", "both", "common", "effective codes per factor\ncommon set"),
]
DCI_FITS = {"paper_a_test_in_sample": "paper A: in sample\non the test clips", "held_out": "held out: fit on train,\nR² on test"}


def dci_vs_layer(table: pd.DataFrame, out: list[str | Path], title: str = "") -> None:
    """DCI against the eGeMAPS functionals per layer, one row per fit (paper A's in sample on the test
    clips; fitted on train and scored on test): disentanglement with paper A's formula and the standard one
    over all functionals, and DCI over the factor set common to every representation; dense layer vs SAE
    codes at each sparsity."""
    apply_style()
    data = table[table["factors"] == "egemaps"]
    if data.empty:
        return _empty(out, "no eGeMAPS factors (disentanglement.egemaps: false)", title)
    data = data[(data["group"] == "all") & ~data["factor_set"].astype(str).str.startswith("own_")]
    common = sorted(s for s in set(data["factor_set"]) if s.startswith("common_"))
    fits = [f for f in DCI_FITS if f in set(data["fit"])]
    fig, axes = plt.subplots(len(fits), len(DCI_PANELS), figsize=(3.0 * len(DCI_PANELS), 3.0 * len(fits)), squeeze=False, layout="constrained")
    for r, fit in enumerate(fits):
        for c, (metric, formula, factor_set, label) in enumerate(DCI_PANELS):
            ax = axes[r][c]
            sets = ["all"] if factor_set == "all" else common
            sub = data[(data["fit"] == fit) & (data["metric"] == metric) & (data["formula"] == formula) & data["factor_set"].isin(sets)]
            _representation_lines(ax, sub)
            ax.set(title=label if r == 0 else "", xlabel="layer" if r == len(fits) - 1 else "", ylabel=DCI_FITS[fit] if c == 0 else "")
            if metric == "effective_codes":
                ax.set_yscale("log")
            elif formula == "paper_a":  # about 1/#codes: its own scale, from 0
                ax.set_ylim(bottom=0)
            else:
                ax.set_ylim(0, 1.02)
    axes[0][4].legend(fontsize=7, loc="lower left")  # the R² panel has room below its lines
    if title:
        fig.suptitle(f"{title} (common set: {', '.join(common) or 'none'})")
    save(fig, out)


def dci_by_factor_group(table: pd.DataFrame, out: list[str | Path], title: str = "", fit: str = "paper_a_test_in_sample") -> None:
    """Completeness and effective number of codes per eGeMAPS factor group (pitch, formants, voice quality,
    MFCC, spectral, loudness, rhythm) against layer, from the fit over all functionals."""
    apply_style()
    data = table[(table["factors"] == "egemaps") & (table["fit"] == fit) & (table["factor_set"] == "all")]
    groups = [g for g in ("pitch", "formants", "voice_quality", "mfcc", "spectral", "loudness", "rhythm") if g in set(data["group"])]
    if not groups:
        return _empty(out, "no eGeMAPS factors (disentanglement.egemaps: false)", title)
    metrics = [("completeness", "completeness"), ("informativeness", "R² (≥0)"), ("effective_codes", "effective codes")]
    fig, axes = plt.subplots(len(metrics), len(groups), figsize=(2.5 * len(groups), 2.5 * len(metrics)), squeeze=False, layout="constrained", sharey="row")
    for c, group in enumerate(groups):
        for r, (metric, label) in enumerate(metrics):
            ax = axes[r][c]
            _representation_lines(ax, data[(data["group"] == group) & (data["metric"] == metric)])
            ax.set(title=group.replace("_", " ") if r == 0 else "", xlabel="layer" if r == len(metrics) - 1 else "", ylabel=label if c == 0 else "")
            if metric == "effective_codes":
                ax.set_yscale("log")
    axes[0][-1].legend(fontsize=6)
    if title:
        fig.suptitle(f"{title} ({DCI_FITS.get(fit, fit).replace(chr(10), ' ')})")
    save(fig, out)


def true_factor_disentanglement(table: pd.DataFrame, out: list[str | Path], title: str = "") -> None:
    """DCI, MIG and SAP against the true generating factors (f0, loudness, vowel, technique, singer)."""
    apply_style()
    data = table[(table["factors"] == "true") & (table["group"] == "all") & (table["formula"] != "paper_a")]
    if data.empty:
        return _empty(out, "the clip table has no ground-truth factors", title)
    metrics = [("disentanglement", "DCI disentanglement (standard)"), ("completeness", "DCI completeness"), ("informativeness", "DCI informativeness"), ("mig", "MIG"), ("sap", "SAP")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.0 * len(metrics), 3.0), squeeze=False, layout="constrained")
    for ax, (metric, label) in zip(axes[0], metrics):
        _representation_lines(ax, data[data["metric"] == metric])
        ax.set(title=label, xlabel="layer")
    axes[0][-1].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    save(fig, out)


def dimensions_needed_vs_layer(table: pd.DataFrame, out: list[str | Path], title: str = "") -> None:
    """Smallest number of codes (dense dimensions) whose probe reaches 95 % of the full probe, per factor."""
    apply_style()
    data = table[table["metric"] == "n_dims"]
    if data.empty:
        return _empty(out, "no factors to probe", title)
    factors = list(dict.fromkeys(data["factor"]))
    fig, axes = plt.subplots(1, len(factors), figsize=(3.0 * len(factors), 3.0), squeeze=False, layout="constrained", sharey=True)
    for ax, factor in zip(axes[0], factors):
        sub = data[data["factor"] == factor]
        _representation_lines(ax, sub)
        scored = sub["scored_on"].iloc[0]
        ax.set(title=f"{factor} (on {scored})", xlabel="layer", yscale="log")
    axes[0][0].set_ylabel("dimensions for 95 % of full score")
    axes[0][-1].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    save(fig, out)


def layer_profile_figure(table: pd.DataFrame, out: list[str | Path], title: str = "") -> None:
    """Held-out score of each property per layer on the dense layer; a star marks the best layer."""
    apply_style()
    data = table[table["representation"] == "dense"]
    if data.empty:
        return _empty(out, "nothing to profile", title)
    props = list(dict.fromkeys(data["property"]))
    fig, axes = plt.subplots(1, len(props), figsize=(3.3 * len(props), 3.2), squeeze=False, layout="constrained", sharey=True)
    for ax, prop in zip(axes[0], props):
        sub = data[data["property"] == prop]
        for i, (source, part) in enumerate(sub.groupby("source", sort=False)):
            part = part.sort_values("layer")
            color = sns.color_palette("colorblind")[i]
            ax.plot(part["layer"], part["value"], marker="o", color=color, label=source)
            best = part[part["best"].astype(bool)]
            ax.plot(best["layer"], best["value"], marker="*", ms=14, color=color, ls="none")
        ax.set(title=prop, xlabel="layer", ylim=(min(0, sub["value"].min()), 1.02))
        ax.set_xticks(sorted(sub["layer"].unique()))
        ax.legend(fontsize=6, loc="lower right")
    axes[0][0].set_ylabel("held-out score (R² or accuracy)")
    if title:
        fig.suptitle(title)
    save(fig, out)


# ---------------------------------------------------------------------------------------------------------
# EEG correlation (paper B): topomaps of r, r per layer, TRFs of the top features


def eeg_topomaps(channels: pd.DataFrame, info, out: list[str | Path], title: str = "") -> None:
    """Scalp maps of held-out r (listener mean): the envelope, the acoustic base, the best dense layer's gain
    and the top SAE features' gains over the base; FDR-significant channels marked."""
    import mne
    import numpy as np

    apply_style()
    mean = channels[channels["listener"] == "mean"]
    panels = [("envelope", "", "r", "envelope: r")]
    if (mean["representation"] == "acoustic").any():
        panels.append(("acoustic", "", "r", "envelope + onsets: r"))
    dense = mean[mean["representation"] == "dense_pcs"]
    if len(dense):
        best = dense.groupby("layer")["gain"].mean().idxmax()
        panels.append(("dense_pcs", best, "gain", f"layer {int(best)} PCs: gain"))
    for feat in list(dict.fromkeys(mean[mean["representation"] == "sae_feature"]["feature"]))[:4]:
        panels.append(("sae_feature", feat, "gain", f"SAE {feat}: gain"))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.3 * len(panels), 2.6), squeeze=False, layout="constrained")
    order = {c: i for i, c in enumerate(info.ch_names)}
    for ax, (rep, key, value, label) in zip(axes[0], panels):
        sub = mean[mean["representation"] == rep]
        if rep == "dense_pcs":
            sub = sub[sub["layer"] == key]
        elif rep == "sae_feature":
            sub = sub[sub["feature"].astype(str) == str(key)]
        sub = sub.set_index("channel").loc[[c for c in info.ch_names if c in set(sub["channel"])]]
        data = sub[value].to_numpy(float)
        mask = sub["significant"].to_numpy(bool) if value == "gain" else None
        lim = max(float(np.nanmax(np.abs(data))), 1e-6)
        im, _ = mne.viz.plot_topomap(data, mne.pick_info(info, [order[c] for c in sub.index]), axes=ax, show=False,
                                     cmap="RdBu_r", vlim=(-lim, lim), mask=mask, contours=0,
                                     mask_params=dict(marker="o", markersize=3, markerfacecolor="k"))
        ax.set_title(label, fontsize=8)
        fig.colorbar(im, ax=ax, shrink=0.6, label=value)
    if title:
        fig.suptitle(title)
    save(fig, out)


def eeg_layers(layers: pd.DataFrame, channels: pd.DataFrame, out: list[str | Path], title: str = "") -> None:
    """Mean held-out r over channels per layer (base + dense PCs) against the acoustic base, with the
    95th percentile of the circular-shift null; the SAE top set of its layer as a marker."""
    apply_style()
    fig, ax = plt.subplots(figsize=(4.6, 3.4), layout="constrained")
    layers = layers.sort_values("layer")
    ax.plot(layers["layer"], layers["r"], marker="o", color="black", label="base + dense PCs")
    ax.plot(layers["layer"], layers["r_base"] + layers["null_gain_95"], ls=":", color="grey", label="null 95%")
    ax.axhline(layers["r_base"].iloc[0], ls="--", color="tab:blue", label="acoustic base")
    mean = channels[channels["listener"] == "mean"]
    top = mean[mean["representation"] == "sae_top_set"]
    if len(top):
        ax.scatter(top["layer"].iloc[:1], [top["r"].mean()], marker="*", s=120, color="tab:red", zorder=3,
                   label="base + SAE top set")
    ax.set(xlabel="layer", ylabel="held-out r (mean over channels)")
    ax.set_xticks(layers["layer"].astype(int))
    ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    save(fig, out)


def eeg_trfs(trfs: pd.DataFrame, features: pd.DataFrame, out: list[str | Path], title: str = "") -> None:
    """TRFs (weights per lag, every channel in grey, global field power in colour) of the envelope and
    the top SAE features, with each feature's gain and q in the title."""
    import numpy as np

    apply_style()
    cols = list(dict.fromkeys(trfs["column"]))
    fig, axes = plt.subplots(1, len(cols), figsize=(2.6 * len(cols), 2.8), squeeze=False, sharex=True,
                             layout="constrained")
    info = features.set_index("feature") if len(features) else None
    for ax, col in zip(axes[0], cols):
        sub = trfs[trfs["column"] == col].pivot(index="lag_s", columns="channel", values="weight")
        ax.plot(sub.index * 1000, sub.to_numpy(), color="0.75", lw=0.6)
        gfp = np.sqrt((sub.to_numpy() ** 2).mean(1))
        ax.plot(sub.index * 1000, gfp, color="tab:red", lw=1.6)
        label = col
        if col.startswith("sae") and info is not None and int(col[3:]) in info.index:
            row = info.loc[int(col[3:])]
            label = f"SAE {col[3:]}: gain {row['gain']:.3f}, q {row['q']:.1g}"
        ax.set_title(label, fontsize=8)
        ax.set_xlabel("lag (ms)")
    axes[0][0].set_ylabel("TRF weight (standardised)")
    if title:
        fig.suptitle(title)
    save(fig, out)
