"""Paper C's frame labels (pitch, loudness, timbre) at an activation file's frame rate, and CREPE's own error.

One row per activation frame, in the activation file's order (clip by clip, ``clips/offsets``). On generated
data (a clip table with ``f0_hz`` / ``loudness_db``) the rows also carry the clip's true nominal pitch and
loudness; :func:`crepe_error_table` then scores CREPE against them.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from .acoustic import load_mono
from .acoustics import (bin_values, crepe_pitch, equal_width_edges, frame_centres, hz_to_midi, rms_db,
                        semitone_labels, spectral_centroid)

log = logging.getLogger(__name__)


def frame_labels(clips: pd.DataFrame, audio_root: str | Path, clip_ids: list[str], offsets: np.ndarray,
                 frame_rate: float, crepe_net, voicing_threshold: float = 0.5, n_bins: int = 20,
                 window_s: float = 0.04, floor_db: float = -60.0, frame_stride: int = 1,
                 progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """The per-frame label table and the bin edges used (``{'loudness': [...], 'timbre': [...]}``).

    loudness: ``n_bins`` equal-width bins in dB (windowed RMS); timbre: ``n_bins`` equal-width bins of the spectral
    centroid in Hz. The edges are fitted on the sounding frames of training-split clips only (held-out frames are
    binned with them, values beyond the edges falling in the end bins), so that nothing of the test split shapes
    the labels the probes are trained on. ``frame_stride`` labels every n-th frame of each clip only (CREPE is the
    cost; probes use labelled frames).
    """
    by_id = clips.set_index("id")
    parts = []
    for cid, (start, stop) in tqdm(list(zip(clip_ids, offsets)), desc="frame labels", disable=not progress):
        row = by_id.loc[cid]
        audio, sr = load_mono(Path(audio_root) / row["path"])
        n = int(stop - start)
        idx = np.arange(0, n, max(int(frame_stride), 1))
        times = frame_centres(n, frame_rate)[idx]
        f0, periodicity = crepe_pitch(crepe_net, audio, sr, times)
        loud = rms_db(audio, sr, times, window_s)
        cent = spectral_centroid(audio, sr, times, window_s)
        part = pd.DataFrame({"clip_id": cid, "split": row.get("split", "train"), "frame": idx, "time_s": times,
                             "f0_hz": f0, "periodicity": periodicity, "loudness_db": loud, "centroid_hz": cent})
        if "f0_hz" in row.index:
            part["true_f0_hz"] = float(row["f0_hz"])
        if "loudness_db" in row.index:
            part["true_loudness_db"] = float(row["loudness_db"])
        if "technique" in row.index:
            part["technique"] = row["technique"]
        parts.append(part)
    table = pd.DataFrame(pd.concat(parts, ignore_index=True))
    sounding = table["loudness_db"].to_numpy() > floor_db
    voiced = (table["periodicity"].to_numpy() >= voicing_threshold) & sounding
    table["voiced"] = voiced
    table["pitch"] = semitone_labels(table["f0_hz"].to_numpy(), voiced)
    fit = sounding & (table["split"].to_numpy() == "train")
    if not fit.any():
        raise ValueError("frame labels: no sounding frame of a training-split clip to fit the loudness and timbre bins on")
    edges = {"loudness": equal_width_edges(table["loudness_db"][fit], n_bins),
             "timbre": equal_width_edges(table["centroid_hz"][fit], n_bins)}
    table["loudness"] = bin_values(table["loudness_db"].to_numpy(), edges["loudness"], sounding)
    table["timbre"] = bin_values(table["centroid_hz"].to_numpy(), edges["timbre"], sounding)
    if "true_f0_hz" in table:
        table["true_pitch"] = np.rint(hz_to_midi(table["true_f0_hz"].to_numpy())).astype(int)
    if "true_loudness_db" in table:
        table["true_loudness"] = bin_values(table["true_loudness_db"].to_numpy(), edges["loudness"])
    return table, {k: v.tolist() for k, v in edges.items()}


def crepe_error_table(labels: pd.DataFrame, tolerance_cents: float = 50.0, floor_db: float = -60.0,
                      by: str | None = "technique") -> pd.DataFrame:
    """CREPE against the generator's nominal pitch, per group (and ``all``).

    Truth is the clip's nominal f0; every sounding frame (above ``floor_db``) of a generated clip is voiced.
    Columns: n_frames, voicing_accuracy (CREPE's voiced flag == sounding), median_abs_cents and
    raw_pitch_accuracy (fraction of voiced frames within ``tolerance_cents``) on frames both call voiced,
    octave_errors (fraction off by more than 600 cents), semitone_accuracy (CREPE's label == round(true MIDI)).
    Techniques that bend pitch on purpose (vibrato, trill, ...) move away from the nominal f0, so their
    errors measure the generator as much as CREPE.
    """
    if "true_f0_hz" not in labels:
        return pd.DataFrame()
    sounding = labels["loudness_db"].to_numpy() > floor_db
    cents = 1200.0 * np.log2(labels["f0_hz"].to_numpy() / labels["true_f0_hz"].to_numpy())
    frame = pd.DataFrame({"group": labels[by] if by and by in labels else "all", "sounding": sounding,
                          "voiced": labels["voiced"].to_numpy(), "abs_cents": np.abs(cents),
                          "semitone_ok": labels["pitch"].to_numpy() == labels["true_pitch"].to_numpy()})
    rows = []
    groups = [("all", frame)] + (list(frame.groupby("group")) if by and by in labels else [])
    for name, g in groups:
        both = g[g["sounding"] & g["voiced"]]
        rows.append({"group": name, "n_frames": int(g["sounding"].sum()),
                     "voicing_accuracy": float((g["voiced"] == g["sounding"]).mean()),
                     "median_abs_cents": float(both["abs_cents"].median()) if len(both) else np.nan,
                     "raw_pitch_accuracy": float((both["abs_cents"] <= tolerance_cents).mean()) if len(both) else np.nan,
                     "octave_errors": float((both["abs_cents"] > 600).mean()) if len(both) else np.nan,
                     "semitone_accuracy": float(both["semitone_ok"].mean()) if len(both) else np.nan})
    return pd.DataFrame(rows)


__all__ = ["frame_labels", "crepe_error_table"]
