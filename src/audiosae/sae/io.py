"""SAE checkpoints: sae_weights.safetensors (W_enc, b_enc, W_dec, b_dec, and threshold for the JumpReLU-style
variants) + cfg.json. Never pickles.

cfg.json carries both our keys (variant, sparsity, seed, train_on, ...) and the keys sae-lens reads
(architecture: topk | jumprelu | standard, d_in, d_sae, k, dtype, device, apply_b_dec_to_input,
normalize_activations); a BatchTopK SAE is exported as the JumpReLU it is at inference, as sae-lens does.
What differs between variants (architecture, sparsity keys, extra tensors) comes from the SAE classes.

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
CFG = "cfg.json"


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
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "dtype": "float32",
        "device": "cpu",
    }
    write_json(full_cfg, out_dir / CFG)


def sae_from_cfg(cfg: dict) -> SAE:
    return variant_class(cfg.get("variant")).from_cfg(cfg)


def load_sae(out_dir: str | Path, device: str = "cpu") -> tuple[SAE, dict]:
    out_dir = Path(out_dir)
    cfg_path, weights_path = out_dir / CFG, out_dir / WEIGHTS
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
