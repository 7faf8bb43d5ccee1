"""EEG correlation of model features (paper B): forward TRFs from stimulus features to the EEG of listeners.

Pipeline (each step a function, wired by rules/eeg.smk):

1. Stimuli: speech runs the listeners hear (``build_speech_runs`` renders eSpeak sentences into runs of
   concatenated speech; the real dataset brings its own WAVs), cut into chunks the model can take
   (``chunk_runs``: <= 30 s for Whisper) and run through the usual activation extraction.
2. Stimulus features at the EEG rate (``run_features``): the acoustic envelope, its onsets (half-wave
   rectified derivative), dense layer frames and SAE codes, resampled from the model's frame rate.
3. EEG: simulated (``simulate_listeners``: a planted temporal response function driven by the envelope,
   onsets and chosen SAE features, plus 1/f, alpha and line noise; FIF with the stimulus onset as an
   annotation; the planted truth beside it) or read from BIDS (:mod:`audiosae.data.eeg_bids`), then
   ``preprocess_raw``: re-reference, band-pass (1-8 Hz), resample (64 Hz), crop to the stimulus.
4. Forward TRFs (``CircularTRF``): ridge regression from time-lagged features (0-500 ms) to every channel,
   scored by held-out Pearson r per channel with runs as folds and the ridge strength chosen by an inner
   cross-validation over the training runs' segments. The design uses circular lags within each segment,
   so the sufficient statistics (auto- and cross-correlations, by FFT) of every circular shift of a
   stimulus are slices of one computation: the null from circularly shifted stimuli costs little. The
   estimator agrees with ``mne.decoding.ReceptiveField`` (tested), which fits the TRFs drawn in figures.
5. Statistics: the gain of a model over the acoustic base (envelope + onsets) per channel, its null from
   shifting only the added features (the same draws for every listener; p from a normal fitted to the
   null draws, the empirical p beside it), Benjamini-Hochberg FDR over channels, over features and over
   layers; significant = q below the FDR level and a positive gain. SAE features are screened by variance
   (stimulus only), tested one at a time, and the top set jointly (selected on the same data: descriptive).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import hilbert, resample_poly
from tqdm.auto import tqdm

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------------------
# 1. Stimuli


def build_speech_runs(root: str | Path, n_runs: int, run_seconds: float, speakers: list[str],
                      n_sentences: int = 20, sample_rate: int = 16000, gap_s: tuple[float, float] = (0.15, 0.6),
                      seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """Concatenate eSpeak sentences (speakers in turn, random pauses) into ``n_runs`` runs of ``run_seconds``.

    Writes ``root/audio/run-XX.wav`` and ``root/sentences.csv`` (run, onset_s, offset_s, speaker, text);
    returns the run table (run, path relative to ``root``, duration_s).
    """
    from ..data.audio import resample
    from ..data.speech import SENTENCES, _normalise, speak, speaker_from_name
    from ..data.audio import write_wav
    from ..io import write_csv

    root = Path(root)
    rng = np.random.default_rng(seed)
    texts = list(SENTENCES[:n_sentences])
    pool = [(speaker_from_name(s), t) for t in texts for s in speakers]
    rng.shuffle(pool)
    cache: dict[tuple[str, str], np.ndarray] = {}
    runs, sentences, i = [], [], 0
    total = int(round(run_seconds * sample_rate))
    bar = tqdm(total=n_runs, desc="speech runs", unit="run", disable=not progress)
    for run in range(1, n_runs + 1):
        audio = np.zeros(total, dtype=np.float32)
        cursor = int(rng.uniform(*gap_s) * sample_rate)
        while cursor < total:
            speaker, text = pool[i % len(pool)]
            i += 1
            key = (speaker.name, text)
            if key not in cache:
                raw, rate = speak(text, speaker)
                cache[key] = _normalise(resample(raw, rate, sample_rate), float(rng.uniform(-26.0, -22.0)))
            utt = cache[key][: total - cursor]
            audio[cursor : cursor + len(utt)] = utt
            sentences.append(dict(run=run, onset_s=cursor / sample_rate, offset_s=(cursor + len(utt)) / sample_rate,
                                  speaker=speaker.name, text=text))
            cursor += len(utt) + int(rng.uniform(*gap_s) * sample_rate)
        fade = min(len(audio), int(0.02 * sample_rate))
        audio[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
        path = f"audio/run-{run:02d}.wav"
        write_wav(root / path, audio, sample_rate)
        runs.append(dict(run=run, path=path, duration_s=total / sample_rate))
        bar.update()
    bar.close()
    write_csv(pd.DataFrame(sentences), root / "sentences.csv", float_format=None)
    return pd.DataFrame(runs)


def chunk_runs(runs: pd.DataFrame, root: str | Path, chunk_s: float = 20.0, sample_rate: int = 16000,
               valid_every: int = 5) -> pd.DataFrame:
    """Cut each run (paths relative to ``root``) into consecutive chunks of at most ``chunk_s`` seconds.

    Writes ``root/audio/chunks/<run>_cNN.wav``; returns a clip table (id, path relative to ``root``, split,
    run, chunk, start_s, duration_s). Every ``valid_every``-th chunk (at least one) is 'valid' (held out from
    SAE training).
    """
    from ..data.audio import load_audio
    from ..data.audio import write_wav

    root = Path(root)
    rows, n = [], 0
    step = int(round(chunk_s * sample_rate))
    for run in runs.itertuples():
        audio = load_audio(root / run.path, sample_rate)
        for c, start in enumerate(range(0, len(audio), step)):
            piece = audio[start : start + step]
            if len(piece) < sample_rate // 10:  # a last sliver under 0.1 s carries no frames worth keeping
                continue
            cid = f"run-{int(run.run):02d}_c{c:02d}"
            path = f"audio/chunks/{cid}.wav"
            write_wav(root / path, piece, sample_rate)
            split = "valid" if valid_every and n % valid_every == valid_every - 1 else "train"
            rows.append(dict(id=cid, path=path, split=split, run=int(run.run), chunk=c, start_s=start / sample_rate,
                             duration_s=len(piece) / sample_rate))
            n += 1
    table = pd.DataFrame(rows)
    if valid_every and len(table) > 1 and not (table["split"] == "valid").any():
        table.loc[table.index[-1], "split"] = "valid"  # the SAE's held-out metrics need at least one chunk
    return table


# ---------------------------------------------------------------------------------------------------------
# 2. Stimulus features at the EEG rate


def _ratio(target: float, source: float) -> Fraction:
    return Fraction(target).limit_denominator(1000) / Fraction(source).limit_denominator(1000)


def to_rate(x: np.ndarray, source_rate: float, target_rate: float, n: int | None = None) -> np.ndarray:
    """Resample along axis 0 (polyphase, anti-aliased), then crop or zero-pad to ``n`` samples."""
    x = np.asarray(x, dtype=np.float64)
    if source_rate != target_rate:
        r = _ratio(target_rate, source_rate)
        x = resample_poly(x, r.numerator, r.denominator, axis=0)
    if n is not None:
        if x.shape[0] >= n:
            x = x[:n]
        else:
            x = np.concatenate([x, np.zeros((n - x.shape[0],) + x.shape[1:])])
    return x


def envelope(audio: np.ndarray, sample_rate: int, sfreq: float, n: int | None = None) -> np.ndarray:
    """Broadband amplitude envelope (|Hilbert|, compressed by ^0.6) at ``sfreq``."""
    env = np.abs(hilbert(np.asarray(audio, dtype=np.float64))) ** 0.6
    return np.maximum(to_rate(env, sample_rate, sfreq, n), 0.0)


def onsets(env: np.ndarray, sfreq: float) -> np.ndarray:
    """Half-wave rectified temporal derivative of the envelope (acoustic onsets)."""
    return np.maximum(np.diff(env, prepend=env[:1]) * sfreq, 0.0)


def run_frames(acts, chunks: pd.DataFrame, layer: int, run: int) -> np.ndarray:
    """The frames of one run (its chunks in order) from an activation file."""
    index = {cid: i for i, cid in enumerate(acts.clip_ids)}
    offsets = acts.offsets
    part = chunks[chunks["run"] == run].sort_values("chunk")
    frames = acts.frames(layer)
    return np.concatenate([frames[slice(*offsets[index[cid]])] for cid in part["id"]]).astype(np.float32)


def encode_frames(sae, frames: np.ndarray, batch: int = 4096) -> np.ndarray:
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(frames), batch):
            out.append(sae.encode(torch.from_numpy(np.ascontiguousarray(frames[start : start + batch]))).numpy())
    return np.concatenate(out) if out else np.zeros((0, sae.d_sae), np.float32)


@dataclass
class RunFeatures:
    """Stimulus features of one run at one rate (all arrays: samples x features)."""

    run: int
    sfreq: float
    envelope: np.ndarray
    onsets: np.ndarray
    layers: dict  # layer -> dense frames resampled
    sae: np.ndarray | None  # SAE codes resampled (all latents)


def run_features(audio: np.ndarray, sample_rate: int, frames_by_layer: dict, frame_rate: float,
                 sae_codes: np.ndarray | None, sfreq: float, duration_s: float, run: int = 0) -> RunFeatures:
    n = int(round(duration_s * sfreq))
    env = envelope(audio, sample_rate, sfreq, n)
    layers = {L: to_rate(f, frame_rate, sfreq, n) for L, f in frames_by_layer.items()}
    codes = None if sae_codes is None else to_rate(sae_codes, frame_rate, sfreq, n)
    return RunFeatures(run, sfreq, env, onsets(env, sfreq), layers, codes)


def zscore(x: np.ndarray, axis: int = 0) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(axis=axis, keepdims=True)
    return (x - x.mean(axis=axis, keepdims=True)) / np.where(sd > 0, sd, 1.0)


def screen_features(codes_by_run: list[np.ndarray], top: int) -> np.ndarray:
    """Indices of the ``top`` SAE latents with the largest variance at the EEG rate (stimulus only, no EEG)."""
    var = np.concatenate(codes_by_run).var(axis=0)
    order = np.argsort(-var, kind="stable")
    return np.sort(order[: min(top, int((var > 0).sum()))])


def layer_pcs(frames_by_run: list[np.ndarray], n_pcs: int) -> list[np.ndarray]:
    """Scores of the first ``n_pcs`` principal components of a dense layer (fit on all runs' stimulus frames)."""
    allf = np.concatenate(frames_by_run)
    mean = allf.mean(0)
    _, _, vt = np.linalg.svd(allf - mean, full_matrices=False)
    comps = vt[:n_pcs].T
    return [(f - mean) @ comps for f in frames_by_run]


# ---------------------------------------------------------------------------------------------------------
# 3a. Simulated EEG


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


# ---------------------------------------------------------------------------------------------------------
# 3b. Preprocessing


def preprocess_raw(raw, onset_s: float, duration_s: float, l_freq: float = 1.0, h_freq: float = 8.0,
                   sfreq: float = 64.0, reference: str | list = "average") -> np.ndarray:
    """Re-reference, band-pass, resample and crop one recording to its stimulus; (samples x channels) in uV.

    Filtering and resampling run on the whole recording, so the stimulus window has no filter edges.
    """
    raw = raw.copy().load_data(verbose="error").pick("eeg", exclude="bads")
    raw.set_eeg_reference(reference if reference != "average" else "average", projection=False, verbose="error")
    raw.filter(l_freq, h_freq, fir_design="firwin", verbose="error")
    raw.resample(sfreq, verbose="error")
    start = int(round(onset_s * sfreq))
    n = int(round(duration_s * sfreq))
    data = raw.get_data() * 1e6
    if start + n > data.shape[1]:
        raise ValueError(f"the stimulus ({onset_s:.2f} s + {duration_s:.2f} s) runs past the end of the recording "
                         f"({data.shape[1] / sfreq:.2f} s)")
    return data[:, start : start + n].T.astype(np.float32)


def stimulus_onset(raw, run: int) -> float:
    """Onset (s from the recording start) of the annotation ``stimulus/run-XX``."""
    for a in raw.annotations:
        if a["description"] == f"stimulus/run-{run:02d}":
            return float(a["onset"] - raw.first_time) if raw.first_samp and a["onset"] >= raw.first_time else float(a["onset"])
    raise KeyError(f"no 'stimulus/run-{run:02d}' annotation in the recording")


# ---------------------------------------------------------------------------------------------------------
# 4. Forward TRFs with circular lags


def _xcorr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Circular cross-correlation: out[k, i, j] = sum_u a[u, i] b[(u + k) % n, j]."""
    fa = np.fft.rfft(a, axis=0)
    fb = np.fft.rfft(b, axis=0)
    return np.fft.irfft(np.conj(fa)[:, :, None] * fb[:, None, :], n=a.shape[0], axis=0)


@dataclass
class Segment:
    """Circular sufficient statistics of one stretch of data (one CV unit)."""

    fold: int  # the run it belongs to (outer CV unit)
    n: int
    rxx: np.ndarray  # (n, p, p) feature auto/cross-correlation at every circular lag
    rxy: np.ndarray  # (n, p, c) feature -> EEG cross-correlation at every circular lag
    yy: np.ndarray  # (c,) EEG energy


def make_segment(x: np.ndarray, y: np.ndarray, fold: int) -> Segment:
    """``x``: (n, p) features; ``y``: (n, c) EEG; both centred here."""
    x = x - x.mean(0)
    y = y - y.mean(0)
    return Segment(fold, len(x), _xcorr(x, x), _xcorr(x, y), (y ** 2).sum(0))


def split_segments(x: np.ndarray, y: np.ndarray, fold: int, n_parts: int) -> list[Segment]:
    edges = np.linspace(0, len(x), n_parts + 1).astype(int)
    return [make_segment(x[a:b], y[a:b], fold) for a, b in zip(edges[:-1], edges[1:])]


class CircularTRF:
    """Ridge TRFs (lags 0..n_lags-1 samples) from segment statistics, with circular shifts of chosen features.

    Within a segment the lagged design is circular: column (i, a) is x_i((t - a) mod n). Then
    G[(i,a),(j,b)] = Rxx_ij(a - b) and B[(i,a),c] = Rxy_ic(a); shifting feature i by s samples turns
    these into Rxx_ij(a - b + s) (i shifted, j not) and Rxy_ic(a + s), so every shift is a slice.
    """

    def __init__(self, segments: list[Segment], n_lags: int):
        self.segments = segments
        self.L = n_lags
        a = np.arange(n_lags)
        self.dlag = a[:, None] - a[None, :]  # a - b

    def gram(self, seg: Segment, feats: list[int], shifts: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
        L, n = self.L, seg.n
        p = len(feats)
        G = np.empty((p * L, p * L))
        B = np.empty((p * L, seg.rxy.shape[2]))
        a = np.arange(L)
        for ii, i in enumerate(feats):
            si = shifts.get(i, 0)
            B[ii * L : (ii + 1) * L] = seg.rxy[(a + si) % n, i, :]
            for jj, j in enumerate(feats):
                sj = shifts.get(j, 0)
                # sum_t x_i(t - si - a) x_j(t - sj - b) = Rxx_ij(a - b + si - sj)
                G[ii * L : (ii + 1) * L, jj * L : (jj + 1) * L] = seg.rxx[(self.dlag + si - sj) % n, i, j]
        return G, B

    def stats(self, segs: list[Segment], feats, shifts):
        G = B = yy = None
        for seg in segs:
            g, b = self.gram(seg, feats, shifts.get(id(seg), {}) if shifts else {})
            G = g if G is None else G + g
            B = b if B is None else B + b
            yy = seg.yy.copy() if yy is None else yy + seg.yy
        return G, B, yy

    @staticmethod
    def solve(G: np.ndarray, B: np.ndarray, alphas: np.ndarray) -> list[np.ndarray]:
        """Ridge weights for each alpha (relative to the mean diagonal of G)."""
        s, V = np.linalg.eigh(G)
        VB = V.T @ B
        scale = np.trace(G) / len(G)
        return [V @ (VB / (s + a * scale)[:, None]) for a in alphas]

    @staticmethod
    def solve_one(G: np.ndarray, B: np.ndarray, alpha: float) -> np.ndarray:
        from scipy.linalg import solve

        scale = np.trace(G) / len(G)
        return solve(G + alpha * scale * np.eye(len(G)), B, assume_a="pos", check_finite=False)

    @staticmethod
    def score(W: np.ndarray, G: np.ndarray, B: np.ndarray, yy: np.ndarray) -> np.ndarray:
        """Pearson r per channel of the prediction X W with y, from the test statistics."""
        num = (W * B).sum(0)
        var = ((G @ W) * W).sum(0)
        return num / np.sqrt(np.maximum(var * yy, 1e-300))

    def cross_validate(self, feats: list[int], alphas: np.ndarray, shift_sets: list[dict] | None = None,
                       fixed_alpha: dict | None = None) -> dict:
        """Held-out r per channel with runs as outer folds.

        Without ``fixed_alpha`` the alpha of each outer fold is chosen by leave-one-segment-out CV over the
        training segments (mean r over channels). ``shift_sets``: a list of {feature: shift} per null draw,
        scored with the alphas chosen on the unshifted data. Returns r (channels,), alphas per fold,
        weights per fold, and r_null (draws x channels) when asked.
        """
        folds = sorted({s.fold for s in self.segments})
        if len(folds) < 2:
            raise ValueError("the TRF cross-validation needs at least two runs")
        r_sum, chosen, weights = 0.0, {}, {}
        null_sum = None
        for f in folds:
            train = [s for s in self.segments if s.fold != f]
            test = [s for s in self.segments if s.fold == f]
            if fixed_alpha is not None:
                alpha = fixed_alpha[f]
            else:
                inner = np.zeros(len(alphas))
                for k in range(len(train)):
                    fit = [s for i, s in enumerate(train) if i != k]
                    G, B, _ = self.stats(fit, feats, None)
                    Gt, Bt, yt = self.stats([train[k]], feats, None)
                    for ai, W in enumerate(self.solve(G, B, alphas)):
                        inner[ai] += np.nanmean(self.score(W, Gt, Bt, yt))
                alpha = float(alphas[int(np.argmax(inner))])
            chosen[f] = alpha
            G, B, _ = self.stats(train, feats, None)
            W = self.solve_one(G, B, alpha)
            weights[f] = W
            Gt, Bt, yt = self.stats(test, feats, None)
            r_sum = r_sum + self.score(W, Gt, Bt, yt)
            if shift_sets:
                rows = []
                for shifts in shift_sets:
                    per_seg = {id(s): {i: shifts[i] % s.n for i in shifts} for s in self.segments}
                    G, B, _ = self.stats(train, feats, per_seg)
                    Wn = self.solve_one(G, B, alpha)
                    Gt, Bt, yt = self.stats(test, feats, per_seg)
                    rows.append(self.score(Wn, Gt, Bt, yt))
                null_sum = np.array(rows) if null_sum is None else null_sum + np.array(rows)
        out = {"r": r_sum / len(folds), "alphas": chosen, "weights": weights}
        if shift_sets:
            out["r_null"] = null_sum / len(folds)
        return out


def draw_shifts(rng: np.random.Generator, n_draws: int, min_samples: int, length: int) -> np.ndarray:
    """Circular shifts at least ``min_samples`` away from zero in both directions."""
    if length <= 2 * min_samples:
        raise ValueError(f"segments of {length} samples are too short for shifts of at least {min_samples}")
    return rng.integers(min_samples, length - min_samples, size=n_draws)


# ---------------------------------------------------------------------------------------------------------
# 5. The analysis


def bh_fdr(p: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini-Hochberg (mne.stats.fdr_correction): (reject, q)."""
    from mne.stats import fdr_correction

    p = np.asarray(p, dtype=float)
    if p.size == 0:
        return np.zeros(0, bool), np.zeros(0)
    return fdr_correction(p, alpha=alpha, method="indep")


@dataclass
class Listener:
    name: str
    eeg: dict  # run -> (samples x channels)


def _perm_p(obs: float | np.ndarray, null: np.ndarray) -> np.ndarray:
    """One-sided permutation p-value(s): (1 + #null >= obs) / (1 + n_null); null is (draws, ...)."""
    return (1 + (null >= np.asarray(obs)[None]).sum(0)) / (1 + len(null))


def _gauss_p(obs: float | np.ndarray, null: np.ndarray) -> np.ndarray:
    """One-sided p-value(s) from a normal fitted to the null draws: resolves p below 1 / n_draws, which FDR
    over many features needs (the empirical p is reported beside it)."""
    from scipy.stats import norm

    sd = null.std(0, ddof=1)
    return norm.sf((np.asarray(obs) - null.mean(0)) / np.where(sd > 0, sd, np.inf))


class EEGStudy:
    """Listeners x runs of preprocessed EEG and the runs' stimulus feature matrices at the same rate."""

    def __init__(self, listeners: list[Listener], features: dict[str, dict[int, np.ndarray]], sfreq: float,
                 tmax: float = 0.5, tmin: float = 0.0, segments_per_run: int = 2,
                 alphas=(1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0), n_null: int = 100, min_shift_s: float = 2.0,
                 seed: int = 0):
        if tmin != 0.0:
            raise ValueError("forward TRFs here use lags from 0 (tmin = 0)")
        self.listeners = listeners
        self.features = features  # name -> run -> (samples,) or (samples, k)
        self.sfreq = sfreq
        self.n_lags = int(round(tmax * sfreq)) + 1
        self.segments_per_run = segments_per_run
        self.alphas = np.asarray(alphas, dtype=float)
        self.n_null = n_null
        self.min_shift = int(round(min_shift_s * sfreq))
        self.seed = seed
        self.runs = sorted(next(iter(features.values())).keys())
        for ls in listeners:
            missing = set(self.runs) - set(ls.eeg)
            if missing:
                raise ValueError(f"listener {ls.name} lacks runs {sorted(missing)}")

    def design(self, names: list[str], run: int) -> tuple[np.ndarray, list[str]]:
        cols, labels = [], []
        for name in names:
            x = self.features[name][run]
            x = x[:, None] if x.ndim == 1 else x
            cols.append(x)
            labels += [name] if x.shape[1] == 1 else [f"{name}[{i}]" for i in range(x.shape[1])]
        X = zscore(np.concatenate(cols, axis=1))
        return X, labels

    def model(self, base: list[str], tested: list[str], null: bool = True) -> dict:
        """Fit base+tested for every listener at once (the design is the same stimulus for all listeners,
        so their channels are stacked as outputs and share the ridge strength); the null shifts the tested
        columns by the same draws for every listener.

        Returns r (listeners x channels), r_null (draws x listeners x channels), TRF weights averaged over
        folds (listeners x columns x lags x channels), the column labels and the alphas chosen per fold.
        """
        names = base + tested
        rng = np.random.default_rng(self.seed)
        seg_len = min(len(self.features[names[0]][r]) for r in self.runs) // self.segments_per_run
        shifts = draw_shifts(rng, self.n_null, self.min_shift, seg_len) if null and tested else None
        n_ls = len(self.listeners)
        segs, labels = [], None
        for run in self.runs:
            X, labels = self.design(names, run)
            Y = np.concatenate([zscore(ls.eeg[run][: len(X)]) for ls in self.listeners], axis=1)
            if len(Y) < len(X):
                raise ValueError(f"run {run}: EEG has {len(Y)} samples, the stimulus {len(X)}")
            segs += split_segments(X, Y, run, self.segments_per_run)
        n_base = sum(1 for lb in labels if lb.split("[")[0] in base)
        trf = CircularTRF(segs, self.n_lags)
        idx = list(range(len(labels)))
        shift_sets = None if shifts is None else [{i: int(s) for i in idx[n_base:]} for s in shifts]
        out = trf.cross_validate(idx, self.alphas, shift_sets)
        n_ch = out["r"].shape[0] // n_ls
        w = np.mean([w.reshape(len(labels), self.n_lags, n_ls, n_ch) for w in out["weights"].values()], axis=0)
        res = {"r": out["r"].reshape(n_ls, n_ch), "weights": w.transpose(2, 0, 1, 3), "labels": labels,
               "alphas": out["alphas"]}
        if shift_sets:
            res["r_null"] = out["r_null"].reshape(len(shift_sets), n_ls, n_ch)
        return res


def peak_lag(trf: np.ndarray, sfreq: float) -> float:
    """Lag (s) of the peak global field power of a TRF (lags x channels), over the interior lags: the first
    and last lag of a ridge TRF absorb whatever an autocorrelated stimulus explains outside the window."""
    gfp = np.sqrt((trf ** 2).mean(axis=1))
    if len(gfp) > 4:
        gfp = gfp.copy()
        gfp[[0, -1]] = -np.inf
    return float(np.argmax(gfp) / sfreq)


def analyse(study: EEGStudy, layers: list[int], sae_layer: int, screened: np.ndarray, base: list[str],
            top_set: int = 5, fdr_alpha: float = 0.05, channels: list[str] | None = None,
            progress: bool = True) -> dict[str, pd.DataFrame]:
    """Every model of the study; tidy tables.

    - ``channels``: representation, layer, feature, listener ('mean' = across listeners), channel, r,
      r_base, gain, p, q, significant — for the envelope alone, the acoustic base, dense PCs per layer,
      every screened SAE feature, and the top set.
    - ``features``: per screened feature, the mean gain over channels and listeners, its permutation p,
      FDR q across features, rank, TRF peak lag.
    - ``layers``: per layer, the mean r over channels of base + PCs, gain over the base, p, q.
    - ``trfs``: lag x channel TRF weights (first-fold mean, standardised units) for the base and top features.
    """
    chan = channels or [f"ch{i}" for i in range(next(iter(study.listeners[0].eeg.values())).shape[1])]
    rows, layer_rows, feat_rows, trf_rows = [], [], [], []

    def add_rows(rep, layer, feature, res, r_base):
        r = res["r"]
        mean_r = r.mean(0)
        gain = mean_r - (r_base.mean(0) if r_base is not None else 0.0)
        if "r_null" in res:
            null_gain = res["r_null"].mean(1) - (r_base.mean(0)[None] if r_base is not None else 0.0)
            p, p_perm = _gauss_p(gain, null_gain), _perm_p(gain, null_gain)
            reject, q = bh_fdr(p, fdr_alpha)
            reject &= gain > 0  # above its null and an actual improvement of the held-out prediction
            null95 = np.quantile(null_gain, 0.95, axis=0)
        else:
            p = q = p_perm = null95 = np.full(len(chan), np.nan)
            reject = np.zeros(len(chan), bool)
        for ci, ch in enumerate(chan):
            rows.append(dict(representation=rep, layer=layer, feature=feature, listener="mean", channel=ch,
                             r=mean_r[ci], gain=gain[ci], null_gain_95=null95[ci], p=p[ci], p_perm=p_perm[ci],
                             q=q[ci], significant=bool(reject[ci])))
            for li, ls in enumerate(study.listeners):
                rows.append(dict(representation=rep, layer=layer, feature=feature, listener=ls.name, channel=ch,
                                 r=r[li, ci], gain=np.nan, null_gain_95=np.nan, p=np.nan, p_perm=np.nan, q=np.nan,
                                 significant=False))

    def add_trf(rep, feature, res, label):
        w = res["weights"].mean(0)  # listeners averaged: (columns, lags, channels)
        k = res["labels"].index(label)
        for lag in range(study.n_lags):
            for ci, ch in enumerate(chan):
                trf_rows.append(dict(representation=rep, feature=feature, column=label, lag_s=lag / study.sfreq,
                                     channel=ch, weight=w[k, lag, ci]))

    env = study.model([], ["envelope"])
    add_rows("envelope", np.nan, "", env, None)
    add_trf("envelope", "", env, "envelope")
    base_res = study.model([], base) if base != ["envelope"] else env
    if base != ["envelope"]:
        add_rows("acoustic", np.nan, "", base_res, None)
    r_base = base_res["r"]
    for L in tqdm(layers, desc="EEG: dense layers", disable=not progress):
        res = study.model(base, [f"pcs{L}"])
        add_rows("dense_pcs", L, "", res, r_base)
        gain = res["r"].mean(0).mean() - r_base.mean(0).mean()
        null_gain = res["r_null"].mean(1).mean(1) - r_base.mean(0).mean()
        layer_rows.append(dict(layer=L, r=res["r"].mean(0).mean(), r_base=r_base.mean(0).mean(), gain=gain,
                               p=float(_gauss_p(gain, null_gain)), p_perm=float(_perm_p(gain, null_gain)),
                               null_gain_mean=float(null_gain.mean()),
                               null_gain_95=float(np.quantile(null_gain, 0.95))))
    feat_res = {}
    for f in tqdm(screened, desc="EEG: SAE features", disable=not progress):
        name = f"sae{int(f)}"
        res = study.model(base, [name])
        feat_res[int(f)] = res
        gain_ch = res["r"].mean(0) - r_base.mean(0)
        null_ch = res["r_null"].mean(1) - r_base.mean(0)[None]
        gain, null_gain = gain_ch.mean(), null_ch.mean(1)
        w = res["weights"].mean(0)[res["labels"].index(name)]
        feat_rows.append(dict(layer=sae_layer, feature=int(f), gain=gain, max_channel_gain=gain_ch.max(),
                              p=float(_gauss_p(gain, null_gain)), p_perm=float(_perm_p(gain, null_gain)),
                              null_gain_mean=float(null_gain.mean()),
                              null_gain_95=float(np.quantile(null_gain, 0.95)),
                              peak_lag_s=peak_lag(w, study.sfreq)))
    features = pd.DataFrame(feat_rows)
    if len(features):
        reject, q = bh_fdr(features["p"].to_numpy(), fdr_alpha)
        features["q"], features["significant"] = q, reject & (features["gain"].to_numpy() > 0)
        features = features.sort_values("gain", ascending=False, kind="stable").reset_index(drop=True)
        features["rank"] = np.arange(1, len(features) + 1)
        top = features["feature"].head(top_set).tolist()
        for f in top:
            add_rows("sae_feature", sae_layer, str(f), feat_res[f], r_base)
            add_trf("sae_feature", str(f), feat_res[f], f"sae{f}")
        res = study.model(base, [f"sae{f}" for f in top])
        add_rows("sae_top_set", sae_layer, "+".join(map(str, top)), res, r_base)
    layer_table = pd.DataFrame(layer_rows)
    if len(layer_table):
        reject, layer_table["q"] = bh_fdr(layer_table["p"].to_numpy(), fdr_alpha)
        layer_table["significant"] = reject & (layer_table["gain"].to_numpy() > 0)
    return {"channels": pd.DataFrame(rows), "features": features, "layers": layer_table, "trfs": pd.DataFrame(trf_rows)}


def mne_trf(X: np.ndarray, y: np.ndarray, sfreq: float, tmax: float, alpha: float):
    """Fit ``mne.decoding.ReceptiveField`` (ridge, lags 0..tmax) on runs stacked as epochs.

    ``X``: (samples, runs, features), ``y``: (samples, runs, channels); alpha relative to the mean diagonal
    of the lagged design's Gram matrix, as in :class:`CircularTRF`. Returns the fitted estimator.
    """
    from mne.decoding import ReceptiveField
    from sklearn.linear_model import Ridge

    scale = X.shape[0] * X.shape[1]  # z-scored features: the mean diagonal of the Gram matrix is the sample count
    rf = ReceptiveField(0.0, tmax, sfreq, estimator=Ridge(alpha=alpha * scale), scoring="corrcoef")
    return rf.fit(X, y)


# ---------------------------------------------------------------------------------------------------------
# Files between the workflow steps


def stimulus_features(runs: pd.DataFrame, runs_dir: str | Path, chunks: pd.DataFrame, activations: str | Path,
                      layers: list[int], sfreq: float, sae=None, sae_layer: int | None = None,
                      sample_rate: int = 16000) -> dict[int, RunFeatures]:
    """RunFeatures of every run at ``sfreq``: envelope and onsets from the run audio, dense frames of
    ``layers`` and (with ``sae``) the SAE codes of ``sae_layer`` from the chunks' activations."""
    from ..data.audio import load_audio
    from ..models.extract import Activations

    out = {}
    with Activations(activations) as acts:
        frame_rate = float(acts.h5.attrs["frame_rate"])
        for run in runs.itertuples():
            audio = load_audio(Path(runs_dir) / run.path, sample_rate)
            frames = {L: run_frames(acts, chunks, L, int(run.run)) for L in layers}
            codes = None
            if sae is not None:
                sae_frames = frames[sae_layer] if sae_layer in frames else run_frames(acts, chunks, sae_layer, int(run.run))
                codes = encode_frames(sae, sae_frames)
            out[int(run.run)] = run_features(audio, sample_rate, frames, frame_rate, codes, sfreq,
                                             len(audio) / sample_rate, int(run.run))
    return out


def write_features(path: str | Path, feats: dict[int, RunFeatures], n_pcs: int, screen_top: int,
                   meta: dict) -> np.ndarray:
    """Store envelope, onsets, the first ``n_pcs`` PCs of every layer and the screened SAE codes per run.

    Returns the screened SAE latent indices (top ``screen_top`` by variance)."""
    import h5py

    from ..io import atomic_path

    runs = sorted(feats)
    layers = sorted(next(iter(feats.values())).layers)
    has_sae = feats[runs[0]].sae is not None
    screened = screen_features([feats[r].sae for r in runs], screen_top) if has_sae else np.zeros(0, int)
    with atomic_path(path, suffix=".h5.tmp") as tmp, h5py.File(tmp, "w") as h5:
        for r in runs:
            h5[f"envelope/{r}"] = feats[r].envelope
            h5[f"onsets/{r}"] = feats[r].onsets
            if has_sae:
                h5[f"sae/{r}"] = feats[r].sae[:, screened].astype(np.float32)
        for L in layers:
            pcs = layer_pcs([feats[r].layers[L] for r in runs], n_pcs)
            for r, x in zip(runs, pcs):
                h5[f"pcs/{L}/{r}"] = x.astype(np.float32)
        h5.attrs.update({"runs": runs, "layers": layers, "screened": screened, "sfreq": feats[runs[0]].sfreq,
                         "n_pcs": n_pcs, **{k: v for k, v in meta.items() if v is not None}})
    return screened


def read_features(path: str | Path) -> tuple[dict[str, dict[int, np.ndarray]], dict]:
    """Feature name -> run -> array: envelope, onsets, pcs{L}, sae{latent}; and the file's attributes."""
    import h5py

    with h5py.File(path, "r") as h5:
        attrs = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in h5.attrs.items()}
        runs = [int(r) for r in attrs["runs"]]
        feats: dict[str, dict[int, np.ndarray]] = {"envelope": {}, "onsets": {}}
        for r in runs:
            feats["envelope"][r] = h5[f"envelope/{r}"][:]
            feats["onsets"][r] = h5[f"onsets/{r}"][:]
        for L in attrs["layers"]:
            feats[f"pcs{L}"] = {r: h5[f"pcs/{L}/{r}"][:] for r in runs}
        for j, f in enumerate(attrs["screened"]):
            feats[f"sae{int(f)}"] = {r: h5[f"sae/{r}"][:, j] for r in runs}
    return feats, attrs


def write_eeg(path: str | Path, data: dict[str, dict[int, np.ndarray]], ch_names: list[str], sfreq: float,
              montage: str | None, meta: dict | None = None) -> None:
    """Preprocessed EEG: ``eeg/{listener}/{run}`` (samples x channels, uV, aligned to the stimulus start)."""
    import h5py

    from ..io import atomic_path

    with atomic_path(path, suffix=".h5.tmp") as tmp, h5py.File(tmp, "w") as h5:
        for listener, runs in data.items():
            for run, x in runs.items():
                h5[f"eeg/{listener}/{int(run)}"] = x
        h5.attrs.update({"ch_names": list(ch_names), "sfreq": sfreq, "montage": montage or "",
                         **{k: v for k, v in (meta or {}).items() if v is not None}})


def read_eeg(paths: list[str | Path]) -> tuple[list[Listener], list[str], float, str]:
    import h5py

    listeners, ch_names, sfreq, montage = [], None, None, ""
    for path in paths:
        with h5py.File(path, "r") as h5:
            names = [c.decode() if isinstance(c, bytes) else str(c) for c in h5.attrs["ch_names"]]
            if ch_names is not None and names != ch_names:
                raise ValueError(f"{path}: channels differ from the other listeners'")
            ch_names, sfreq, montage = names, float(h5.attrs["sfreq"]), str(h5.attrs.get("montage", ""))
            for listener in h5["eeg"]:
                listeners.append(Listener(listener, {int(r): h5[f"eeg/{listener}/{r}"][:] for r in h5[f"eeg/{listener}"]}))
    return listeners, ch_names, sfreq, montage
