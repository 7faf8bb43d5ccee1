"""Run a model with one layer's output replaced by a function of it (an SAE reconstruction, edited codes).

    sae, cfg = load_sae(".../layer2/main/topk-x4-s0.9-seed0")
    with splice(reader, 2, sae_reconstruction(sae)):
        acts = reader.layer_activations(audios)          # every later layer sees the SAE's output
    with splice(whisper, 2, sae_edit(sae, lambda z: z.index_fill(1, dead, 0.0))):
        text = whisper.transcribe(audios)                  # Whisper: generate() on a spliced encoder

``fn`` receives the layer as rows (n, d) in float32 (every position of every batch item, the padding
frames of Whisper's 30 s window included) and returns rows of the same shape. The hook sits where the
layer is defined (:meth:`ActivationReader.layer_site`), so anything that runs the module (the
reader, ``model(...)``, ``generate()``) runs spliced while the context is open.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import torch

RowFn = Callable[[torch.Tensor], torch.Tensor]


def _apply(fn: RowFn, h: torch.Tensor, channels_first: bool) -> torch.Tensor:
    x = h.movedim(1, -1) if channels_first else h
    shape = x.shape
    y = fn(x.reshape(-1, shape[-1]).float())
    if y.shape != (x.numel() // shape[-1], shape[-1]):
        raise ValueError(f"splice function returned shape {tuple(y.shape)} for input rows {(x.numel() // shape[-1], shape[-1])}")
    y = y.reshape(shape).to(h.dtype)
    return y.movedim(-1, 1).contiguous() if channels_first else y


@contextlib.contextmanager
def splice(reader, layer: int, fn: RowFn):
    """While open, ``layer`` of ``reader``'s model is replaced by ``fn`` of it."""
    module, kind = reader.layer_site(layer)
    channels_first = getattr(reader, "layout", "btd") == "channels_first"

    if kind == "pre":
        def hook(m, args, kwargs):
            if args:
                return (_apply(fn, args[0], channels_first), *args[1:]), kwargs
            kwargs = dict(kwargs)
            kwargs["hidden_states"] = _apply(fn, kwargs["hidden_states"], channels_first)
            return args, kwargs

        handle = module.register_forward_pre_hook(hook, with_kwargs=True)
    else:
        def hook(m, args, out):
            if isinstance(out, torch.Tensor):
                return _apply(fn, out, channels_first)
            if isinstance(out, tuple):
                return (_apply(fn, out[0], channels_first), *out[1:])
            out[0] = _apply(fn, out[0], channels_first)  # ModelOutput
            return out

        handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def sae_reconstruction(sae) -> RowFn:
    """fn = the SAE's reconstruction (encode then decode)."""
    p = next(sae.parameters())

    def fn(x):
        return sae(x.to(p.device, p.dtype)).to(x.device, x.dtype)

    return fn


def sae_edit(sae, edit: Callable[[torch.Tensor], torch.Tensor], keep_error: bool = False) -> RowFn:
    """fn = decode(edit(encode(x))) (``sae.reconstruct``: on the scale of x for an SAE that normalises its input).
    ``keep_error`` adds back the SAE's reconstruction error x - decode(encode(x)), so only the edit changes the
    model (the usual choice for steering/ablation)."""
    p = next(sae.parameters())

    def fn(x):
        xs = x.to(p.device, p.dtype)
        codes = sae.encode(xs)
        y = sae.reconstruct(edit(codes.clone()), xs)
        if keep_error:
            y = y + (xs - sae.reconstruct(codes, xs))
        return y.to(x.device, x.dtype)

    return fn
