"""Export one SAE folder as a SAELens / Hugging Face hub folder with a model card.

The export holds ``sae_weights.safetensors`` (byte for byte the SAE's weights), ``cfg.json`` (the SAE's cfg.json
with sae-lens's fields filled in, so that folders written before those fields existed export the same way),
``metrics.json`` when the SAE has one, and ``README.md``: a model card with YAML front matter (``library_name:
saelens``, the name the hub and sae-lens's own uploader use) describing the model, layer, data, sparsity,
training options and held-out metrics, and how to load it with sae-lens and with audiosae. The folder is written
beside ``out_dir`` and renamed into place when complete.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from .io import atomic_dir, write_json
from .sae.io import CFG, WEIGHTS, load_sae, saelens_fields, weights_file

CARD = "README.md"
METRICS = "metrics.json"
SPARSITY_TEXT = {
    "k": "k (active features per input)",
    "l1_coefficient": "L1 coefficient",
    "target_l0": "target L0",
    "threshold": "inference threshold",
    "rms_norm_codes": "L1 on RMS-normalised codes",
    "rms_norm_input": "input rows RMS-normalised (RMSNorm) before encoding",
}
METRIC_TEXT = {
    "fvu": "fraction of variance unexplained",
    "mse": "mean squared error",
    "cosine": "cosine(input, reconstruction)",
    "l0": "mean active features (L0)",
    "dead_fraction": "dead features (never active on these inputs)",
    "dense_fraction": "dense features (active on > 10 % of inputs)",
    "n_rows": "held-out inputs",
}


def export_cfg(cfg: dict) -> dict:
    """The exported cfg.json: ours, with sae-lens's fields as :func:`audiosae.sae.io.save_sae` writes them now."""
    return {**cfg, **saelens_fields(cfg)}


def _check_target(sae_dir: Path, out_dir: Path, overwrite: bool) -> None:
    src, dst = sae_dir.resolve(), out_dir.resolve()
    if dst == src or dst in src.parents:
        raise ValueError(f"{out_dir}: the export would replace the SAE folder {sae_dir} itself; choose another folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir}: exists and is not empty (pass overwrite=True / --overwrite to replace it)")


def export_sae(sae_dir: str | Path, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Write the SAELens folder of the SAE in ``sae_dir`` to ``out_dir`` (weights, cfg.json, metrics.json,
    README.md model card); return ``out_dir``. The SAE is loaded first, so a damaged folder is not exported.
    An existing non-empty ``out_dir`` is replaced only with ``overwrite``."""
    sae_dir, out_dir = Path(sae_dir), Path(out_dir)
    _, cfg = load_sae(sae_dir)  # checks the folder: cfg.json, weights, shapes
    metrics_path = sae_dir / METRICS
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else None
    _check_target(sae_dir, out_dir, overwrite)
    cfg_out = export_cfg(cfg)
    with atomic_dir(out_dir) as tmp:
        shutil.copyfile(weights_file(sae_dir), tmp / WEIGHTS)
        write_json(cfg_out, tmp / CFG)
        if metrics is not None:
            shutil.copyfile(metrics_path, tmp / METRICS)
        (tmp / CARD).write_text(model_card(cfg_out, metrics, sae_name=sae_dir.name))
    return out_dir


# ------------------------------------------------------------------------------------------------ model card


def _model_facts(name: str | None) -> tuple[str, list[str]]:
    """(description, hub tags) of a registry model; unknown names are described by name only."""
    if not name:
        return "not recorded in cfg.json", []
    try:
        from .models.registry import get_model_spec

        spec = get_model_spec(name)
    except KeyError:
        return f"`{name}`", []
    where = f"hub `{spec.weights}`" if spec.source == "hub" else f"{spec.source} weights `{spec.weights}`"
    desc = f"`{name}`: {spec.description} ({where}; {spec.sample_rate} Hz input, {spec.frame_rate:g} frames/s)"
    return desc, [spec.family]


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "—" if value is None else str(value)


def _table(rows: list[tuple[str, str]], head: tuple[str, str] = ("", "")) -> str:
    lines = [f"| {head[0]} | {head[1]} |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines)


def model_card(cfg: dict, metrics: dict | None = None, sae_name: str = "sae") -> str:
    """The README.md of an exported SAE: YAML front matter for the hub, then what the SAE is and how to load it."""
    model, layer, variant = cfg.get("model"), cfg.get("layer"), cfg.get("variant", cfg.get("architecture"))
    model_desc, family_tags = _model_facts(model)
    tags = ["sae_lens", "sparse-autoencoder", "interpretability", "audio", "audiosae", *family_tags]
    front = ["---", "library_name: saelens", "tags:", *[f"- {t}" for t in dict.fromkeys(tags)], "---", ""]
    hook = cfg.get("metadata", {}).get("hook_name") or cfg.get("hook_name")
    unit = cfg.get("train_on")
    unit_text = {"clip_means": "clip means (one input per clip: the mean of the layer's frames over the clip)",
                 "frames": "frames (one input per model frame)"}.get(unit, _fmt(unit))
    sparsity = [(SPARSITY_TEXT[k], _fmt(cfg[k])) for k in SPARSITY_TEXT if k in cfg]
    about = [
        ("model", model_desc),
        ("layer", f"{_fmt(layer)} (0 = input of the first block, L = output of block L before any final norm)"),
        ("hook_name", f"`{hook}`" if hook else "—"),
        ("dataset", f"`{cfg['dataset']}`" if cfg.get("dataset") else "—"),
        ("sweep", _fmt(cfg.get("sweep"))),
        ("variant", f"{variant} (sae-lens architecture `{cfg.get('architecture')}`)"),
        ("d_in", _fmt(cfg.get("d_in"))),
        ("d_sae", _fmt(cfg.get("d_sae"))),
        *sparsity,
        ("sparsity setting", _fmt(cfg.get("sparsity"))),
        ("seed", _fmt(cfg.get("seed"))),
        ("trained on", unit_text),
        ("input scale", f"{_fmt(cfg.get('input_scale'))}, folded into the weights: the SAE takes raw activations"),
    ]
    title = f"# Sparse autoencoder: {model or 'audio model'}, layer {_fmt(layer)}, {variant} ({_fmt(cfg.get('d_sae'))} features)"
    parts = [
        "\n".join(front), title, "",
        f"A {variant} sparse autoencoder trained with audiosae on the activations of "
        f"layer {_fmt(layer)} of {model or 'an audio model'}. It encodes a layer activation (d_in = {_fmt(cfg.get('d_in'))}) "
        f"into {_fmt(cfg.get('d_sae'))} sparse features and decodes them back. Files: `sae_weights.safetensors` "
        "(W_enc, b_enc, W_dec, b_dec, and threshold for JumpReLU-type SAEs), `cfg.json` (SAELens fields and "
        "audiosae's), `metrics.json` (held-out and training metrics, training curve).", "",
        "## The SAE", "", _table(about, ("", "")), "",
    ]
    training = cfg.get("training") or {}
    if training:
        parts += ["## Training options", "", _table([(f"`{k}`", _fmt(v)) for k, v in sorted(training.items())],
                                                   ("option", "value")), ""]
    held = (metrics or {}).get("held_out") or {}
    if held:
        rows = [(METRIC_TEXT.get(k, k), _fmt(v)) for k, v in held.items() if not isinstance(v, (dict, list))]
        parts += ["## Held-out metrics", "",
                  "On the dataset's validation and test clips (never seen in training), from `metrics.json`:", "",
                  _table(rows, ("metric", "value")), ""]
    downstream = (metrics or {}).get("downstream") or {}
    if downstream:
        rows = [(k, _fmt(v)) for k, v in downstream.items() if not isinstance(v, (dict, list))]
        parts += ["Cost of splicing the SAE into the model (`metrics.json` → `downstream`):", "",
                  _table(rows, ("measure", "value")), ""]
    unit_note = ("It was trained on clip means: apply it to the mean of a clip's frames at this layer "
                 "(`audiosae.api.encode_file` does so by default for this SAE)." if unit == "clip_means" else
                 "It was trained on single frames of the layer.")
    parts += [
        "## Loading", "",
        "With [SAELens](https://github.com/decoderesearch/SAELens) (tested with sae-lens 6.x), from this folder:", "",
        "```python", "from sae_lens import SAE", "", "sae = SAE.load_from_disk(\"path/to/this/folder\")",
        "codes = sae.encode(activations)  # activations: (..., d_in) float32 of the layer above", "```", "",
        "On the Hugging Face hub, upload `cfg.json` and `sae_weights.safetensors` into a folder `<sae_id>` of a "
        "model repository (this README.md at the repository's root), then "
        "`SAE.from_pretrained(\"<user>/<repo>\", \"<sae_id>\")`.", "",
        "With audiosae, which also runs the model and reads the audio:", "",
        "```python", "from audiosae import api", "",
        f"codes = api.encode_file(\"clip.wav\", \"path/to/this/folder\", model_dir=\"resources/models/{model}\")",
        f"table = api.top_features(\"clip.wav\", \"path/to/this/folder\", n=10, model_dir=\"resources/models/{model}\")",
        "```", "",
        f"or `audiosae top-features path/to/this/folder clip.wav --model-dir resources/models/{model}`. "
        f"{unit_note} The model folder is the one audiosae's workflow prepares (`resources/models/{model}`).", "",
        "## Licence", "",
        "The SAE's weights are derived from the activations of the model above on the dataset above. The model's "
        "weights and the dataset have licences of their own, which apply to any use of this SAE with them: "
        "checking them is the user's responsibility.", "",
    ]
    return "\n".join(parts)
