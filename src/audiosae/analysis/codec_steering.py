"""Paper C's steering in codec latent spaces: add ``alpha`` times a probe direction to the SAE codes of a codec's
continuous latent, decode through the SAE and then the codec's decoder, and re-measure pitch (semitones),
loudness (dB) and spectral centroid (Hz) of the audio as a function of ``alpha``.

The codec is anything with ``sample_rate``, ``latents(audios) -> (batch, dim, frames)`` and
``decode_latents(z) -> (batch, samples)``: :class:`audiosae.models.hf_audio.CodecLatents` for EnCodec and DAC.
By default the SAE's reconstruction error is kept (``z' = z + decode(codes + alpha d) - decode(codes)``), so
``alpha = 0`` reproduces the codec's own decoding of the unedited latent.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .acoustics import crepe_pitch, frame_centres, hz_to_midi, rms_db, spectral_centroid

log = logging.getLogger(__name__)


def steer_latent(sae, z: torch.Tensor, direction: torch.Tensor, alpha: float, keep_error: bool = True,
                 clamp_codes: bool = True) -> torch.Tensor:
    """Edited latent (dim, frames) from a latent (dim, frames): codes + alpha * direction, decoded by the SAE."""
    rows = z.T.float()
    with torch.no_grad():
        codes = sae.encode(rows)
        steered = codes + alpha * direction.to(codes)
        if clamp_codes:
            steered = steered.clamp_min(0.0)
        out = sae.reconstruct(steered, rows)
        if keep_error:
            out = rows + out - sae.reconstruct(codes, rows)
    return out.T


def measure_audio(audio: np.ndarray, sr: int, crepe_net=None, frame_rate: float = 50.0, window_s: float = 0.04,
                  voicing_threshold: float = 0.5, floor_db: float = -60.0) -> dict:
    """Clip-level medians over sounding frames: pitch (MIDI semitones, CREPE, voiced frames; nan without CREPE),
    loudness (windowed RMS dB) and spectral centroid (Hz)."""
    audio = np.asarray(audio, dtype=np.float64)
    n = max(int(len(audio) / sr * frame_rate), 1)
    times = frame_centres(n, frame_rate)
    loud = rms_db(audio, sr, times, window_s)
    sounding = loud > floor_db
    cent = spectral_centroid(audio, sr, times, window_s)
    out = {"loudness_db": float(np.median(loud)),
           "centroid_hz": float(np.nanmedian(cent[sounding])) if sounding.any() else np.nan,
           "pitch_semitones": np.nan, "voiced_fraction": np.nan}
    if crepe_net is not None:
        f0, per = crepe_pitch(crepe_net, audio.astype(np.float32), sr, times)
        voiced = (per >= voicing_threshold) & sounding
        out["voiced_fraction"] = float(voiced.mean())
        if voiced.any():
            out["pitch_semitones"] = float(np.median(hz_to_midi(f0[voiced])))
    return out


def steering_sweep(codec, sae, audios: list[np.ndarray], direction: np.ndarray | torch.Tensor, alphas, crepe_net=None,
                   keep_error: bool = True, clip_ids: list[str] | None = None, audio_dir: str | Path | None = None,
                   **measure_kw) -> pd.DataFrame:
    """One row per clip x alpha: the measured properties of the steered audio and their change from alpha = 0.

    With ``audio_dir``, the steered audio of every clip x alpha is written as WAV (examples to listen to).
    """
    direction = torch.as_tensor(np.asarray(direction, dtype=np.float32))
    sr = int(codec.sample_rate)
    rows = []
    clip_ids = clip_ids or [f"clip{i}" for i in range(len(audios))]
    for cid, audio in zip(clip_ids, audios):
        with torch.no_grad():
            z = codec.latents([np.asarray(audio, dtype=np.float32)])[0].float().cpu()
        for alpha in alphas:
            z_s = steer_latent(sae, z, direction, float(alpha), keep_error=keep_error)
            wave = codec.decode_latents(z_s[None])[0].float().cpu().numpy()[: len(audio)]
            rows.append({"clip_id": cid, "alpha": float(alpha), **measure_audio(wave, sr, crepe_net, **measure_kw)})
            if audio_dir is not None:
                import soundfile as sf

                Path(audio_dir).mkdir(parents=True, exist_ok=True)
                peak = max(float(np.abs(wave).max()), 1.0)
                sf.write(Path(audio_dir) / f"{cid}_alpha{alpha:+g}.wav", (wave / peak).astype(np.float32), sr)
    table = pd.DataFrame(rows)
    for col in ("pitch_semitones", "loudness_db", "centroid_hz"):
        base = table[table["alpha"] == 0].set_index("clip_id")[col] if (table["alpha"] == 0).any() else None
        table[f"delta_{col}"] = table[col] - table["clip_id"].map(base) if base is not None else np.nan
    return table


def response_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per property: mean change per alpha, least-squares slope of the change against alpha, and the Spearman
    correlation of the mean change with alpha (1 = monotone increasing)."""
    from scipy.stats import spearmanr

    rows = []
    for col in ("pitch_semitones", "loudness_db", "centroid_hz"):
        d = table.groupby("alpha")[f"delta_{col}"].mean().dropna()
        if len(d) < 2:
            continue
        slope = float(np.polyfit(d.index.to_numpy(), d.to_numpy(), 1)[0])
        rho = float(spearmanr(d.index, d.to_numpy()).statistic) if d.std() > 0 else np.nan
        rows += [{"property": col, "alpha": a, "mean_delta": v, "slope": slope, "spearman": rho} for a, v in d.items()]
    return pd.DataFrame(rows)


__all__ = ["steer_latent", "measure_audio", "steering_sweep", "response_summary"]
