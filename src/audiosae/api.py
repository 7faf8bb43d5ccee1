"""A trained SAE outside the workflow: load it with its model, encode an audio file, list a clip's top features,
export it for SAELens and the hub.

    from audiosae import api

    sae_dir = "results/sae/vocalset_synth/whisper_tiny_en/layer2/main/topk-x4-s0.9-seed0"
    codes = api.encode_file("clip.wav", sae_dir)          # model folder: resources/models/whisper_tiny_en
    print(api.top_features("clip.wav", sae_dir, n=10))
    api.export(sae_dir, "export/topk-x4-s0.9-seed0")      # SAELens folder + model card

The model comes from the SAE's cfg.json (``model``, ``layer``); its prepared folder (what the workflow's
``prepare_model`` rule writes) is ``model_dir``, by default ``resources/models/<model>`` under the current folder
or under the study folder that holds ``sae_dir`` (``<study>/results/sae/...``). Audio is read as mono and
resampled to the model's rate, exactly as the workflow's extraction reads it.

What "codes" are depends on what the SAE was trained on (cfg.json ``train_on``):

- ``frames``: one code per model frame, an array (frames, d_sae);
- ``clip_means``: the code of the clip's mean frame, an array (1, d_sae): the input the SAE was trained on and
  the one the study's analyses of it use. ``unit="frames"`` applies it to every frame instead (inputs unlike
  its training data, but they locate a feature in time; :func:`top_features` reports both).

To encode many files, load once and pass what :func:`load` returned in place of the folder:
``m = api.load(sae_dir); [api.encode_file(f, m) for f in files]``.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from .data.audio import load_audio
from .sae.io import load_sae
from .sae.model import SAE

UNITS = ("frames", "clip_means")
TOP_COLUMNS = ["feature", "mean_activation", "max_activation", "frac_active", "peak_time_s"]


class Loaded(NamedTuple):
    """What :func:`load` returns; unpacks as ``sae, cfg, reader``."""

    sae: SAE  # the SAE (audiosae.sae.model), in eval mode on the device
    cfg: dict  # its cfg.json
    reader: object  # the model's activation reader (audiosae.models.base.ActivationReader)


def default_model_dirs(sae_dir: str | Path, model: str) -> list[Path]:
    """Where :func:`load` looks for the prepared model when no ``model_dir`` is given, in order."""
    here = Path("resources/models") / model
    sae_dir = Path(sae_dir).resolve()
    # <study>/results/sae/{dataset}/{model}/layer{L}/{sweep}/{name}
    if len(sae_dir.parents) > 6 and sae_dir.parents[5].name == "results" and sae_dir.parents[4].name == "sae":
        study = sae_dir.parents[6] / "resources" / "models" / model
        if study.resolve() != here.resolve():
            return [here, study]
    return [here]


def _model_dir(sae_dir: Path, cfg: dict, model_dir: str | Path | None) -> Path:
    model = cfg["model"]
    if model_dir is not None:
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise FileNotFoundError(f"{model_dir}: no such model folder (the prepared {model} model)")
        return model_dir
    tried = default_model_dirs(sae_dir, model)
    for d in tried:
        if d.is_dir():
            return d
    raise FileNotFoundError(
        f"{tried[0]}: no prepared {model} model folder (also tried: {', '.join(map(str, tried[1:])) or 'nothing else'}); "
        f"prepare it with `snakemake --cores 1 resources/models/{model}` in the study folder, or pass model_dir / --model-dir"
    )


def load(sae_dir: str | Path, model_dir: str | Path | None = None, device: str = "cpu",
         trust_remote_code: bool = False) -> Loaded:
    """The SAE in ``sae_dir``, its cfg.json, and the activation reader of its model (``model_dir``: the prepared
    model folder, default ``resources/models/<model>``; ``trust_remote_code`` only for models that need hub code,
    e.g. MERT). Raises FileNotFoundError naming the missing folder or file."""
    sae_dir = Path(sae_dir)
    sae, cfg = load_sae(sae_dir, device=device)
    for key in ("model", "layer"):
        if cfg.get(key) is None:
            raise ValueError(f"{sae_dir / 'cfg.json'}: no {key!r}; this SAE does not say which model layer it reads")
    from .models.registry import load_activation_model

    folder = _model_dir(sae_dir, cfg, model_dir)
    try:
        reader = load_activation_model(cfg["model"], folder, device=device, trust_remote_code=trust_remote_code)
    except Exception as exc:  # transformers, safetensors and the readers raise many types; name the folder
        raise RuntimeError(f"{folder}: cannot load the {cfg['model']} model ({exc})") from exc
    layer = cfg["layer"]
    if layer not in reader.layers:
        raise ValueError(f"{folder}: {cfg['model']} has no layer {layer} (layers {reader.layers[0]}..{reader.layers[-1]}), "
                         f"which {sae_dir / 'cfg.json'} names")
    if reader.dim(layer) != sae.d_in:
        raise ValueError(f"{folder}: layer {layer} is {reader.dim(layer)} wide but the SAE in {sae_dir} takes "
                         f"d_in={sae.d_in}; is this the {cfg['model']} model the SAE was trained on?")
    return Loaded(sae, cfg, reader)


def _loaded(sae, model_dir, device) -> Loaded:
    return sae if isinstance(sae, Loaded) else load(sae, model_dir=model_dir, device=device)


def _audio_file(audio_path: str | Path) -> Path:
    audio_path = Path(audio_path)
    if not audio_path.is_file():
        raise FileNotFoundError(f"{audio_path}: no such audio file")
    return audio_path


@torch.no_grad()
def _frame_codes(m: Loaded, audio: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(the layer's frames (n, d_in), their codes (n, d_sae)) for one mono clip at the reader's rate."""
    (acts,) = m.reader.layer_activations([audio], [m.cfg["layer"]])[0]
    device = next(m.sae.parameters()).device
    acts = acts.to(device=device, dtype=torch.float32)
    return acts, m.sae.encode(acts)


@torch.no_grad()
def encode_audio(audio: np.ndarray, sae: Loaded, unit: str | None = None) -> np.ndarray:
    """Codes of one mono float32 clip at the model's sample rate (``sae.reader.sample_rate``); see
    :func:`encode_file` for ``unit`` and the shape."""
    unit = unit or sae.cfg.get("train_on") or "frames"
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
    acts, codes = _frame_codes(sae, audio)
    if unit == "clip_means":
        codes = sae.sae.encode(acts.mean(0, keepdim=True))
    return codes.float().cpu().numpy()


def encode_file(audio_path: str | Path, sae_dir, model_dir: str | Path | None = None, device: str = "cpu",
                unit: str | None = None) -> np.ndarray:
    """SAE codes of an audio file, float32: (frames, d_sae) for an SAE trained on frames, or (1, d_sae) for one
    trained on clip means (the code of the clip's mean frame at the SAE's layer). ``unit`` ("frames" or
    "clip_means") overrides the SAE's own. ``sae_dir``: an SAE folder, or what :func:`load` returned.
    Frames are the model's (Whisper: 20 ms; frame i starts at i / frame rate)."""
    audio_path = _audio_file(audio_path)  # before the model loads
    m = _loaded(sae_dir, model_dir, device)
    return encode_audio(load_audio(audio_path, m.reader.sample_rate), m, unit)


@torch.no_grad()
def top_features(audio_path: str | Path, sae_dir, n: int = 10, model_dir: str | Path | None = None,
                 device: str = "cpu") -> pd.DataFrame:
    """The ``n`` strongest features of an audio file, one row each, strongest first.

    Columns, from the SAE's codes of every frame: ``feature`` (index), ``mean_activation`` (over all frames),
    ``max_activation``, ``frac_active`` (fraction of frames where it is non-zero), ``peak_time_s`` (start of
    its strongest frame, seconds). An SAE trained on clip means adds ``clip_activation``, its code of the clip's
    mean frame, and is ranked by it; one trained on frames is ranked by ``mean_activation``. Only features that
    are active (ranking value > 0) are listed, so there may be fewer than ``n`` rows.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    audio_path = _audio_file(audio_path)
    m = _loaded(sae_dir, model_dir, device)
    acts, codes = _frame_codes(m, load_audio(audio_path, m.reader.sample_rate))
    codes = codes.float().cpu()
    peak = codes.argmax(0)
    table = pd.DataFrame({
        "feature": np.arange(codes.shape[1]),
        "mean_activation": codes.mean(0).numpy(),
        "max_activation": codes.amax(0).numpy(),
        "frac_active": (codes != 0).float().mean(0).numpy(),
        "peak_time_s": peak.numpy() / float(m.reader.frame_rate),
    })
    key = "mean_activation"
    if (m.cfg.get("train_on") or "frames") == "clip_means":
        table["clip_activation"] = m.sae.encode(acts.mean(0, keepdim=True))[0].float().cpu().numpy()
        key = "clip_activation"
    table = table[table[key] > 0].sort_values([key, "feature"], ascending=[False, True], kind="stable")
    return table.head(n).reset_index(drop=True)


def export(sae_dir: str | Path, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Write the SAE as a SAELens folder with a model card (see :func:`audiosae.export.export_sae`)."""
    from .export import export_sae

    return export_sae(sae_dir, out_dir, overwrite=overwrite)
