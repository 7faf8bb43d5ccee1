"""3a. Simulated EEG: listeners whose response is a planted TRF of the envelope, onsets and chosen SAE latents,
plus 1/f, alpha and line noise (FIF files and the planted truth)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .features import RunFeatures, zscore


def gaussian_kernel(lags_s: np.ndarray, peak_s: float, width_s: float) -> np.ndarray:
    return np.exp(-0.5 * ((lags_s - peak_s) / width_s) ** 2)


def envelope_kernel(lags_s: np.ndarray) -> np.ndarray:
    """A P1-N1-P2-like response to the envelope (positive at 50 ms, negative at 100 ms, positive at 180 ms)."""
    return (0.5 * gaussian_kernel(lags_s, 0.05, 0.02) - 1.0 * gaussian_kernel(lags_s, 0.10, 0.025)
            + 0.7 * gaussian_kernel(lags_s, 0.18, 0.035))


def _topography(pos: np.ndarray, center: np.ndarray, width: float = 0.45) -> np.ndarray:
    """Smooth scalp pattern: a Gaussian of the angle to ``center`` (positions on a sphere), unit peak."""
    unit = pos / np.linalg.norm(pos, axis=1, keepdims=True)
    c = center / np.linalg.norm(center)
    angle = np.arccos(np.clip(unit @ c, -1, 1))
    return np.exp(-0.5 * (angle / width) ** 2)


def pink_noise(rng: np.random.Generator, n: int, n_series: int, exponent: float = 1.0) -> np.ndarray:
    """Unit-variance noise with a 1/f^exponent power spectrum (columns independent)."""
    spec = rng.standard_normal((n // 2 + 1, n_series)) + 1j * rng.standard_normal((n // 2 + 1, n_series))
    f = np.fft.rfftfreq(n)
    f[0] = f[1]
    spec *= (f ** (-exponent / 2))[:, None]
    x = np.fft.irfft(spec, n=n, axis=0)
    return zscore(x)


def choose_planted(codes: np.ndarray, candidates: np.ndarray, n: int, env: np.ndarray, seed: int,
                   max_corr: float = 0.3, max_other: float = 0.5,
                   active: tuple[float, float] = (0.02, 0.5)) -> list[int]:
    """Pick ``n`` identifiable SAE latents among ``candidates``: active in 2-50% of samples, correlated
    below ``max_corr`` with each other and with the envelope, and below ``max_other`` with every other
    candidate (a near-duplicate of a planted latent would explain the EEG as well as it does)."""
    rng = np.random.default_rng(seed)
    candidates = np.asarray(candidates)
    sub = codes[:, candidates]
    frac = (sub > 1e-6 * np.abs(sub).max(0, initial=1e-12)).mean(0)
    z = zscore(sub)
    corr = np.abs(z.T @ z) / len(z)
    np.fill_diagonal(corr, 0.0)
    with_env = np.abs(z.T @ zscore(env)) / len(z)
    pool = [j for j in range(len(candidates))
            if active[0] <= frac[j] <= active[1] and corr[j].max() < max_other and with_env[j] < max_corr]
    rng.shuffle(pool)
    chosen: list[int] = []
    for j in pool:
        if all(corr[j, o] < max_corr for o in chosen):
            chosen.append(j)
        if len(chosen) == n:
            return sorted(int(candidates[j]) for j in chosen)
    raise ValueError(f"only {len(chosen)} of {n} identifiable planted features among {len(candidates)} candidates; "
                     "screen more features, plant fewer, or train the SAE longer")


def simulate_listeners(stimuli: list[dict], out_dir: str | Path, n_listeners: int, planted_features: list[int],
                       planted_lags_s: list[float], montage: str = "biosemi32", sfreq: float = 256.0,
                       pre_s: tuple[float, float] = (1.0, 3.0), post_s: float = 2.0, amplitudes: dict | None = None,
                       noise: dict | None = None, line_freq: float = 50.0, seed: int = 0,
                       progress: bool = True) -> dict:
    """Simulate EEG of listeners hearing the runs in ``stimuli`` and save it as FIF (one file per listener x run).

    ``stimuli``: per run a dict with ``run``, ``duration_s`` and ``features``: a RunFeatures at ``sfreq``
    (envelope, onsets, SAE codes). Each listener's response is the planted TRF (envelope: P1-N1-P2 shape;
    onsets: a bump at 60 ms; each planted SAE latent: a bump at its lag) of the z-scored features, each
    with its own smooth scalp pattern, scaled per listener, plus pink (1/f) noise from correlated and
    independent sources, posterior alpha bursts, and line noise. The stimulus starts ``pre_s`` seconds
    into the recording (drawn per run and listener) and is marked by the annotation ``stimulus/run-XX``.
    Returns the planted truth (also written to ``out_dir/planted.json``) and writes ``out_dir/recordings.csv``.
    """
    import mne

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    amp = {"envelope": 1.0, "onsets": 0.6, "features": 0.8, **(amplitudes or {})}
    nz = {"pink_uv": 20.0, "sensor_uv": 5.0, "alpha_uv": 15.0, "line_uv": 15.0, **(noise or {})}
    mont = mne.channels.make_standard_montage(montage)
    info = mne.create_info(mont.ch_names, sfreq, ch_types="eeg")
    info.set_montage(mont)
    pos = np.array([info["chs"][i]["loc"][:3] for i in range(len(mont.ch_names))])
    names = mont.ch_names
    rng = np.random.default_rng(seed)
    lags = np.arange(0, int(round(0.6 * sfreq)) + 1) / sfreq

    def at(name):
        return pos[names.index(name)] if name in names else pos[int(rng.integers(len(names)))]

    # Scalp patterns: the envelope and onsets fronto-central (as auditory responses project), the planted
    # latents at distinct sites; all zero-mean across channels (an average-referenced scalp field).
    sites = ["T7", "T8", "Pz", "F3", "F4", "CP5", "CP6", "Fz"]
    topo = {"envelope": _topography(pos, at("Fz") + at("Cz")), "onsets": _topography(pos, at("Cz"))}
    kernels = {"envelope": envelope_kernel(lags), "onsets": gaussian_kernel(lags, 0.06, 0.02)}
    for j, (f, lag) in enumerate(zip(planted_features, planted_lags_s)):
        topo[f"sae_{f}"] = _topography(pos, at(sites[j % len(sites)]), 0.55) * (1 if j % 2 == 0 else -1)
        kernels[f"sae_{f}"] = gaussian_kernel(lags, lag, 0.03)
    for k in topo:
        topo[k] = topo[k] - topo[k].mean()
        topo[k] = topo[k] / np.abs(topo[k]).max()
    gain = {"envelope": amp["envelope"], "onsets": amp["onsets"], **{f"sae_{f}": amp["features"] for f in planted_features}}
    alpha_topo = _topography(pos, at("Oz"), 0.5)
    line_topo = 0.5 + rng.random(len(names))
    mixing = rng.standard_normal((len(names), 12)) / np.sqrt(12)

    rows = []
    total = n_listeners * len(stimuli)
    bar = tqdm(total=total, desc="simulate EEG", unit="run", disable=not progress)
    for listener in range(1, n_listeners + 1):
        scale = float(rng.uniform(0.8, 1.2))
        for stim in stimuli:
            feats: RunFeatures = stim["features"]
            drivers = {"envelope": zscore(feats.envelope), "onsets": zscore(feats.onsets)}
            for f in planted_features:
                drivers[f"sae_{f}"] = zscore(feats.sae[:, f])
            n_stim = len(feats.envelope)
            pre = float(rng.uniform(*pre_s))
            n_pre = int(round(pre * sfreq))
            n = n_pre + n_stim + int(round(post_s * sfreq))
            signal = np.zeros((n, len(names)))
            for name, x in drivers.items():
                resp = np.convolve(x, kernels[name])[:n_stim] * gain[name] * scale
                signal[n_pre : n_pre + n_stim] += resp[:, None] * topo[name][None, :]
            t = np.arange(n) / sfreq
            noise_uv = nz["pink_uv"] * pink_noise(rng, n, mixing.shape[1]) @ mixing.T
            noise_uv += nz["sensor_uv"] * pink_noise(rng, n, len(names), 0.5)
            burst = np.clip(pink_noise(rng, n, 1, 2.0)[:, 0], 0, None)  # slow waxing and waning
            alpha = np.sin(2 * np.pi * (10.0 + 0.5 * rng.standard_normal()) * t + rng.uniform(0, 2 * np.pi)) * burst
            noise_uv += nz["alpha_uv"] * alpha[:, None] * alpha_topo[None, :]
            noise_uv += nz["line_uv"] * np.sin(2 * np.pi * line_freq * t + rng.uniform(0, 2 * np.pi))[:, None] * line_topo
            raw = mne.io.RawArray(((signal + noise_uv) * 1e-6).T, info.copy(), verbose="error")
            raw.set_annotations(mne.Annotations([n_pre / sfreq], [n_stim / sfreq], [f"stimulus/run-{stim['run']:02d}"]))
            raw.info["line_freq"] = line_freq
            fname = f"sub-{listener:02d}_run-{stim['run']:02d}_eeg.fif"
            raw.save(out_dir / fname, overwrite=True, verbose="error")
            rows.append(dict(listener=f"sub-{listener:02d}", run=stim["run"], path=fname, onset_s=n_pre / sfreq,
                             duration_s=n_stim / sfreq, gain=scale))
            bar.update()
    bar.close()
    recordings = pd.DataFrame(rows)
    recordings.to_csv(out_dir / "recordings.csv", index=False)
    truth = {
        "planted_features": [int(f) for f in planted_features],
        "planted_lags_s": [float(x) for x in planted_lags_s],
        "kernel_lags_s": lags.tolist(),
        "kernels": {k: v.tolist() for k, v in kernels.items()},
        "topographies": {k: v.tolist() for k, v in topo.items()},
        "gains": gain,
        "channels": names,
        "montage": montage,
        "sfreq": sfreq,
        "noise": nz,
        "line_freq": line_freq,
        "listeners": n_listeners,
        "seed": seed,
    }
    (out_dir / "planted.json").write_text(json.dumps(truth, indent=1) + "\n")
    return truth
