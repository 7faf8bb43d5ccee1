"""SAE checkpoints: sae_weights.safetensors (W_enc, b_enc, W_dec, b_dec, and threshold for the JumpReLU-style
variants) + cfg.json. Never pickles.

An SAE folder is also a SAELens folder: ``sae_lens.SAE.load_from_disk(folder)`` loads it as it is (file
names, cfg.json) and its ``encode`` gives our codes (tests/test_interop.py, against sae-lens 6.x). cfg.json
carries our keys (variant, sparsity, seed, train_on, model, dataset, layer, hook_name, training, ...) and, beside
them, sae-lens's: the top-level fields of its SAEConfig (architecture: topk | jumprelu | standard, d_in, d_sae,
dtype, device, apply_b_dec_to_input, normalize_activations, reshape_activations; k and
rescale_acts_by_decoder_norm for topk) and its ``metadata`` (model_name, hook_name, hook_layer,
hook_head_index, context_size, prepend_bos, dataset_path, sae_lens_version). sae-lens ignores our keys; a
BatchTopK SAE is exported as the JumpReLU it is at inference, as sae-lens does. What differs between variants
(architecture, sparsity keys, extra tensors) comes from the SAE classes.

The trainer works on inputs scaled to unit mean squared norm; on export that scale is folded into the
weights, so the saved SAE takes and returns raw activations. cfg.json records the scale it folded.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..io import atomic_path, write_json
from .model import SAE, variant_class

WEIGHTS = "sae_weights.safetensors"
LEGACY_WEIGHTS = "sae.safetensors"  # the weights' name in folders written before they took sae-lens's name
CFG = "cfg.json"
# The sae-lens release whose cfg.json layout we write (metadata nested under "metadata"); sae-lens reads a cfg.json
# without this version (or below 6.0) through its pre-6.0 converter instead, which drops the nested metadata.
SAELENS_FORMAT_VERSION = "6.54.12"
# sae-lens config fields of one architecture beyond what the variant's sparsity_cfg() gives (k for topk).
SAELENS_ARCHITECTURE_FIELDS = {"topk": {"rescale_acts_by_decoder_norm": False}}


def folded_state(sae: SAE, scale: float) -> dict[str, torch.Tensor]:
    """Weights that act on raw x, given weights trained on x * scale. Pre-activations are unchanged
    ((x s - b) W + c = (x - b/s)(s W) + c), so thresholds need no folding."""
    state = {
        "W_enc": (sae.W_enc * scale).detach().cpu().contiguous(),
        "b_enc": sae.b_enc.detach().cpu().contiguous(),
        "W_dec": (sae.W_dec / scale).detach().cpu().contiguous(),
        "b_dec": (sae.b_dec / scale).detach().cpu().contiguous(),
    }
    state.update(sae.export_tensors())
    return state


def saelens_fields(cfg: dict) -> dict:
    """The keys sae-lens's ``SAE.load_from_disk`` reads, for one of our cfg.json dicts (which already holds
    architecture, d_in, d_sae and the sparsity keys, e.g. k). An audio model has no tokens: context_size is None
    and prepend_bos False; dataset_path is the study's dataset name, model_name the registry's model name."""
    layer = cfg.get("layer")
    return {
        "apply_b_dec_to_input": True,
        # relu + rms_norm_input: x / rms(x) in, the output times rms(x): sae-lens's per-row constant_norm_rescale
        "normalize_activations": "constant_norm_rescale" if cfg.get("rms_norm_input") else "none",
        "reshape_activations": "none",
        "dtype": "float32",
        "device": "cpu",
        **SAELENS_ARCHITECTURE_FIELDS.get(cfg.get("architecture"), {}),
        "metadata": {
            "sae_lens_version": SAELENS_FORMAT_VERSION,
            "sae_lens_training_version": None,  # trained by audiosae, not by sae-lens
            "model_name": cfg.get("model"),
            "hook_name": cfg.get("hook_name") or (f"layer{layer}" if layer is not None else None),
            "hook_layer": layer,
            "hook_head_index": None,
            "context_size": None,
            "prepend_bos": False,
            "dataset_path": cfg.get("dataset"),
        },
    }


def save_sae(sae: SAE, out_dir: str | Path, cfg: dict, scale: float = 1.0) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / WEIGHTS, suffix=".safetensors.tmp") as tmp:
        save_file(folded_state(sae, scale), str(tmp), metadata={"format": "pt"})
    full_cfg = {
        **cfg,
        "d_in": sae.d_in,
        "d_sae": sae.d_sae,
        "variant": sae.variant,
        "architecture": sae.architecture,
        **sae.sparsity_cfg(),
        "input_scale": scale,
        "input_scale_folded": True,
    }
    write_json({**full_cfg, **saelens_fields(full_cfg)}, out_dir / CFG)


def sae_from_cfg(cfg: dict) -> SAE:
    return variant_class(cfg.get("variant")).from_cfg(cfg)


def weights_file(out_dir: str | Path) -> Path:
    """The folder's weights file: sae_weights.safetensors, or sae.safetensors in a folder written before the
    rename (still read here; ``audiosae.export`` writes the new name)."""
    out_dir = Path(out_dir)
    legacy = out_dir / LEGACY_WEIGHTS
    return legacy if legacy.exists() and not (out_dir / WEIGHTS).exists() else out_dir / WEIGHTS


def load_sae(out_dir: str | Path, device: str = "cpu") -> tuple[SAE, dict]:
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise FileNotFoundError(f"{out_dir}: no such SAE folder")
    cfg_path, weights_path = out_dir / CFG, weights_file(out_dir)
    for p in (cfg_path, weights_path):
        if not p.exists():
            raise FileNotFoundError(f"{p}: missing; {out_dir} is not a complete SAE checkpoint")
    cfg = json.loads(cfg_path.read_text())
    try:
        sae = sae_from_cfg(cfg)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"{cfg_path}: {exc}") from None
    state = load_file(str(weights_path), device=device)
    needed = {"W_enc", "b_enc", "W_dec", "b_dec"} | set(sae.export_tensors())
    missing = needed - set(state)
    if missing:
        raise ValueError(f"{weights_path}: missing tensors {sorted(missing)}")
    sae.load_state_dict(sae.state_from_export(state))
    return sae.to(device).eval(), cfg
