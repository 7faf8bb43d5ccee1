"""Static feature browser: one self-contained HTML page per SAE plus an index page linking them all.

The pages open from disk (file://), need no server and load nothing from the network: data, CSS and
JavaScript are inlined; audio snippets and spectrogram strips sit beside each page under relative paths.

Layout of one SAE's folder::

    index.html          feature table (all features) + detail panel (the selected top features)
    summary.json        what the index page shows about this SAE
    audio/fNNNNN_R.ogg  R-th top-activating clip of feature NNNNN, cut around its peak frame, 16 kHz mono
    spec/fNNNNN.png     log-mel spectrograms of those snippets side by side, activation drawn over them
"""
from __future__ import annotations

import html
import json
import logging
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm.auto import tqdm

from ..analysis.interpret import (
    MIN_SEPARATION,
    clip_level_codes,
    encode_rows,
    feature_stats,
    peak_frame,
    snippet_window,
    top_clips,
)
from ..data.audio import load_audio
from ..data.registry import PROVENANCE_COLUMNS
from ..io import atomic_dir, atomic_path
from ..models.extract import Activations
from ..sae.io import load_sae
from ..sae.pipeline import clip_splits
from .spectrogram import N_MELS, SAMPLE_RATE, feature_strip, frequency_ticks

log = logging.getLogger(__name__)

EXTRA_KEYS = ("layer", "variant", "sparsity", "seed")  # columns an association table may use to name its SAE
HOOKS = {"acoustics": "eGeMAPS correlations", "eeg": "EEG correlation"}


@dataclass
class BrowserOptions:
    n_features: int = 32
    n_clips: int = 5
    snippet_s: float = 1.5
    audio_format: str = "ogg"
    concepts: list[str] | None = None
    numeric: list[str] | None = None
    probe_alpha: float = 10.0
    min_separation: float = MIN_SEPARATION  # |AUROC - 0.5| below which a feature has no strongest concept
    extra_tables: dict[str, str] = field(default_factory=dict)  # name -> CSV (feature, variable, value[, layer, ...])

    @classmethod
    def from_config(cls, cfg: dict) -> "BrowserOptions":
        known = {k: cfg[k] for k in ("n_features", "n_clips", "snippet_s", "audio_format", "concepts", "numeric", "probe_alpha", "min_separation") if k in cfg}
        return cls(**known)


def _asset(name: str) -> str:
    return resources.files("audiosae.browser").joinpath("static", name).read_text(encoding="utf-8")


def render_page(title: str, data: dict) -> str:
    """One HTML page with the data, CSS and JavaScript inlined (no network, works from file://)."""
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n<link rel=\"icon\" href=\"data:,\">\n"
        f"<style>\n{_asset('browser.css')}\n</style>\n</head>\n<body>\n"
        f"<script id=\"data\" type=\"application/json\">{payload}</script>\n"
        f"<script>\n{_asset('browser.js')}\n</script>\n</body>\n</html>\n"
    )


def _finite(x, digits: int = 4):
    """JSON-safe rounded float (None for NaN/inf)."""
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def _extra_rows(table: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Rows of an association table that belong to this SAE (filtered on whichever key columns it has)."""
    missing = {"feature", "variable", "value"} - set(table.columns)
    if missing:
        raise ValueError(f"association table lacks columns {sorted(missing)} (needs feature, variable, value)")
    keep = np.ones(len(table), bool)
    for key in EXTRA_KEYS:
        if key in table.columns and key in cfg:
            col = table[key]
            keep &= np.isclose(col.astype(float), float(cfg[key])) if key != "variant" else (col.astype(str) == str(cfg[key])).to_numpy()
    return table[keep]


def _credit(table: pd.DataFrame, i: int) -> str:
    """Where a real recording comes from and its licence ('' for generated clips and tables without the columns):
    the page plays a snippet of it, so it says whose it is."""
    parts = {c: str(table[c].iloc[i]).strip() for c in PROVENANCE_COLUMNS if c in table.columns}
    if not any(parts.values()):
        return ""
    return " · ".join(v for v in (parts.get("attribution"), parts.get("licence") and f"licence {parts['licence']}",
                                  parts.get("source_package") and f"from {parts['source_package']}") if v)


def _present(values: dict) -> dict:
    """The entries that have a value: no blank labels (empty cells of the clip table) and no missing numbers."""
    return {k: v for k, v in values.items() if v is not None and not (isinstance(v, str) and v.strip().lower() in ("", "nan"))}


def _write_audio(path: Path, audio: np.ndarray, fmt: str) -> None:
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak > 0.99:  # keep the level (loudness is a concept) unless it would clip
        audio = audio * (0.99 / peak)
    kwargs = {"format": "OGG", "subtype": "VORBIS"} if fmt == "ogg" else {"format": "WAV", "subtype": "PCM_16"}
    sf.write(path, audio.astype(np.float32), SAMPLE_RATE, **kwargs)


def sae_summary(cfg: dict, metrics: dict | None, dataset: str, model: str) -> dict:
    held = (metrics or {}).get("held_out", {})
    return {
        "dataset": cfg.get("dataset", dataset),
        "model": cfg.get("model", model),
        "layer": cfg.get("layer"),
        "variant": cfg.get("variant"),
        "sparsity": cfg.get("sparsity"),
        "seed": cfg.get("seed"),
        "k": cfg.get("k"),
        "d_sae": cfg.get("d_sae"),
        "train_on": cfg.get("train_on", "clip_means"),
        "fvu": _finite(held.get("fvu", float("nan"))),
        "l0": _finite(held.get("l0", float("nan")), 2),
        "dead_fraction": _finite(held.get("dead_fraction", float("nan"))),
    }


def build_sae_page(
    sae_dir: str | Path,
    activations: str | Path,
    clips_csv: str | Path,
    audio_root: str | Path,
    out_dir: str | Path,
    probe_targets: list[str],
    options: BrowserOptions | None = None,
    progress: bool = False,
) -> dict:
    """Write the browser folder of one SAE; return its summary (what the index page lists)."""
    opt = options or BrowserOptions()
    if opt.audio_format not in ("ogg", "wav"):
        raise ValueError(f"browser.audio_format must be ogg or wav, not {opt.audio_format!r}")
    sae_dir, audio_root = Path(sae_dir), Path(audio_root)
    sae, cfg = load_sae(sae_dir)
    metrics_path = sae_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else None
    unit = cfg.get("train_on", "clip_means")
    layer = int(cfg["layer"])
    clips = pd.read_csv(clips_csv, keep_default_na=False)

    with Activations(activations) as acts:
        splits = clip_splits(acts, clips)
        table = clips.set_index(clips["id"].astype(str)).loc[acts.clip_ids].reset_index(drop=True)
        frame_rate = float(acts.h5.attrs["frame_rate"])
        offsets = acts.offsets
        codes = clip_level_codes(sae, acts, layer, unit)
        stats = feature_stats(codes, table, splits, probe_targets, opt.concepts, opt.numeric, opt.probe_alpha, opt.n_features,
                              opt.min_separation)
        density, concepts, numeric, probes = stats.density, stats.concepts, stats.numeric, stats.probes
        F = stats.n_features
        chosen_set = set(stats.chosen)

        # The feature table: every feature, one row.
        rows = []
        for f in range(F):
            row = {"feature": f, "density": _finite(density[f], 5), "detail": f in chosen_set}
            if density[f] == 0:  # dead: nothing to associate
                rows.append(row)
                continue
            if len(stats.auroc):
                row["strength"] = _finite(stats.strength[f], 3)
            if f in stats.best_concept.index:  # only where a label value separates the feature's clips
                b = stats.best_concept.loc[f]
                row.update(concept=f"{b['concept']}={b['value']}", auroc=_finite(b["auroc"], 3), mean_diff=_finite(b["mean_diff"], 3))
            if f in stats.best_correlate.index:
                b = stats.best_correlate.loc[f]
                row.update(correlate=str(b["variable"]), r=_finite(b["r"], 3))
            if probes:
                t, c, w = probes[stats.best_probe[f]]
                row.update(probe=f"{t}={c}", weight=_finite(w[f], 3))
            rows.append(row)

        # Details of the chosen features: clips, snippets, spectrograms, associations.
        summary = sae_summary(cfg, metrics, "", "")
        extra = {}
        for name, path in opt.extra_tables.items():
            if path and Path(path).exists():
                extra[name] = _extra_rows(pd.read_csv(path), cfg)
        audio_cache: dict[int, np.ndarray] = {}
        frame_cache: dict[int, np.ndarray] = {}
        frames = acts.frames(layer)
        details = {}
        with atomic_dir(out_dir) as tmp:
            (tmp / "audio").mkdir()
            (tmp / "spec").mkdir()
            for f in tqdm(stats.chosen, desc=f"browser layer {layer} s={cfg.get('sparsity')}", disable=not progress):
                clip_rows = []
                snippets, traces = [], []
                for rank, i in enumerate(top_clips(codes, f, opt.n_clips)):
                    if i not in frame_cache:
                        a, b = offsets[i]
                        frame_cache[i] = encode_rows(sae, frames[a:b])
                    act = frame_cache[i][:, f]
                    peak = peak_frame(act)
                    start, stop = snippet_window(len(act), peak, frame_rate, opt.snippet_s)
                    if i not in audio_cache:
                        audio_cache[i] = load_audio(audio_root / table["path"].iloc[i], SAMPLE_RATE)
                    audio = audio_cache[i]
                    s0, s1 = int(start / frame_rate * SAMPLE_RATE), min(len(audio), int(stop / frame_rate * SAMPLE_RATE))
                    snippet = audio[s0:s1]
                    rel = f"audio/f{f:05d}_{rank + 1}.{opt.audio_format}"
                    _write_audio(tmp / rel, snippet, opt.audio_format)
                    snippets.append(snippet)
                    traces.append(act[start:stop])
                    clip_rows.append(
                        {
                            "clip": str(table["id"].iloc[i]),
                            "split": str(splits[i]),
                            "labels": _present({c: str(table[c].iloc[i]).strip() for c in concepts}),
                            "numeric": _present({c: _finite(pd.to_numeric(table[c].iloc[i], errors="coerce"), 3) for c in numeric}),
                            "activation": _finite(codes[i, f], 4),
                            "peak_s": round(peak / frame_rate, 3),
                            "start_s": round(start / frame_rate, 3),
                            "stop_s": round(stop / frame_rate, 3),
                            "audio": rel,
                            "credit": _credit(table, i),
                        }
                    )
                spec_rel = None
                if snippets:
                    spec_rel = f"spec/f{f:05d}.png"
                    spans = feature_strip(snippets, traces, tmp / spec_rel)
                    for row, (x0, x1) in zip(clip_rows, spans):
                        row["px"] = [x0, x1]
                details[str(f)] = {
                    "clips": clip_rows,
                    "spectrogram": spec_rel,
                    "associations": [
                        {"concept": r.concept, "value": r.value, "auroc": _finite(r.auroc, 3), "mean_diff": _finite(r.mean_diff, 4), "n": int(r.n)}
                        for r in stats.associations(f).itertuples()
                    ],
                    "correlations": [{"variable": r.variable, "r": _finite(r.r, 3)} for r in stats.correlations(f).itertuples()],
                    "probes": sorted(
                        ({"target": t, "class": c, "weight": _finite(w[f], 4)} for t, c, w in probes),
                        key=lambda d: -abs(d["weight"] or 0),
                    ),
                    "extra": {
                        name: [{"variable": str(r.variable), "value": _finite(r.value, 4)} for r in t[t["feature"] == f].itertuples()]
                        for name, t in extra.items()
                    },
                }
            data = {
                "kind": "sae",
                "title": f"{summary['model']} · {summary['dataset']} · layer {layer} · {summary['variant']} s={summary['sparsity']} seed {summary['seed']}",
                "summary": summary,
                "unit": unit,
                "n_clips": int(codes.shape[0]),
                "concepts": concepts,
                "numeric": numeric,
                "probe_targets": [t for t in probe_targets if any(p[0] == t for p in probes)],
                "hooks": {name: label for name, label in HOOKS.items()},
                "extra_available": sorted(extra),
                "columns": [
                    {"key": "feature", "label": "feature", "type": "num"},
                    {"key": "density", "label": "density", "type": "num", "title": f"fraction of {'clips' if unit == 'clip_means' else 'clips (max over frames)'} on which the feature is active"},
                    {"key": "concept", "label": "strongest concept", "type": "text",
                     "title": f"label value with the largest |AUROC - 0.5|; empty when none reaches {opt.min_separation:g} (no label value separates the clips)"},
                    {"key": "auroc", "label": "AUROC", "type": "num", "sort": "strength",
                     "title": "one-vs-rest AUROC of the strongest concept; sorts by |AUROC - 0.5|, the strength of the association either way"},
                    {"key": "correlate", "label": "correlate", "type": "text", "title": "numeric clip-table column with the largest |Spearman r|"},
                    {"key": "r", "label": "r", "type": "num"},
                    {"key": "probe", "label": "probe class", "type": "text", "title": "class whose ridge probe (standardised codes, training clips) weights this feature most"},
                    {"key": "weight", "label": "weight", "type": "num"},
                ],
                "rows": rows,
                "details": details,
                "min_separation": opt.min_separation,
                "spec_axis": {"n_mels": N_MELS, "sample_rate": SAMPLE_RATE, "freq_ticks": frequency_ticks()},
                "index_href": "../" * 4 + "index.html",
            }
            summary = {**summary, "n_detail": len(details), "n_features": F, "n_alive": stats.n_alive}
            (tmp / "index.html").write_text(render_page(data["title"], data), encoding="utf-8")
            (tmp / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    log.info("%s: %d features (%d alive), %d with clips", out_dir, F, summary["n_alive"], len(details))
    return summary


def build_index(pages: list[str | Path], out: str | Path) -> None:
    """The page linking every SAE page (paths relative to ``out``'s folder)."""
    out = Path(out)
    rows = []
    for page in pages:
        page = Path(page)
        summary = json.loads((page.parent / "summary.json").read_text())
        rows.append({**summary, "href": Path(page).resolve().relative_to(out.parent.resolve()).as_posix()})
    rows.sort(key=lambda r: (str(r["dataset"]), str(r["model"]), r["layer"] or 0, str(r["variant"]), r["sparsity"] or 0, r["seed"] or 0))
    data = {
        "kind": "index",
        "title": "SAE feature browser",
        "columns": [
            {"key": "dataset", "label": "dataset", "type": "text"},
            {"key": "model", "label": "model", "type": "text"},
            {"key": "layer", "label": "layer", "type": "num"},
            {"key": "variant", "label": "variant", "type": "text"},
            {"key": "sparsity", "label": "sparsity", "type": "num"},
            {"key": "seed", "label": "seed", "type": "num"},
            {"key": "k", "label": "k", "type": "num"},
            {"key": "d_sae", "label": "d_sae", "type": "num"},
            {"key": "l0", "label": "L0", "type": "num", "title": "held-out mean active latents"},
            {"key": "fvu", "label": "FVU", "type": "num", "title": "held-out fraction of variance unexplained"},
            {"key": "dead_fraction", "label": "dead", "type": "num", "title": "held-out fraction of dead latents"},
            {"key": "n_alive", "label": "alive", "type": "num"},
            {"key": "n_detail", "label": "with clips", "type": "num"},
        ],
        "rows": rows,
    }
    with atomic_path(out, suffix=".html") as tmp:
        tmp.write_text(render_page(data["title"], data), encoding="utf-8")
