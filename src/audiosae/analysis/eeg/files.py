"""Files between the workflow steps: stimulus features and preprocessed EEG (HDF5)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .analysis import Listener
from .features import RunFeatures, encode_frames, layer_pcs, run_features, run_frames, screen_features


def stimulus_features(runs: pd.DataFrame, runs_dir: str | Path, chunks: pd.DataFrame, activations: str | Path,
                      layers: list[int], sfreq: float, sae=None, sae_layer: int | None = None,
                      sample_rate: int = 16000) -> dict[int, RunFeatures]:
    """RunFeatures of every run at ``sfreq``: envelope and onsets from the run audio, dense frames of
    ``layers`` and (with ``sae``) the SAE codes of ``sae_layer`` from the chunks' activations."""
    from ...data.audio import load_audio
    from ...models.extract import Activations

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

    from ...io import atomic_path

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

    from ...io import atomic_path

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
