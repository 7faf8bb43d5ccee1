"""Fetch a hub model through transformers at a named revision and save it as a local folder.

The folder (weights as safetensors, config, feature extractor, tokenizer/generation config for
Whisper, the hub code for remote-code models) is written beside ``out_dir`` and renamed into place
when complete; ``provenance.json`` records the hub id, the requested revision and the commit that
transformers resolved it to.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import torch

from ..io import atomic_dir


def _model_class(spec):
    from transformers import AutoModel, WhisperForConditionalGeneration

    # Whisper keeps its decoder so that a spliced encoder can still transcribe (generate()).
    return WhisperForConditionalGeneration if spec.family == "whisper" else AutoModel


def _shape(spec, config) -> tuple[int, int]:
    if spec.family == "whisper":
        return config.encoder_layers, config.d_model
    if spec.family in ("encodec", "dac"):
        return 0, config.hidden_size
    return config.num_hidden_layers, config.hidden_size


def _is_commit(revision) -> bool:
    return bool(revision) and len(str(revision)) == 40 and all(c in "0123456789abcdef" for c in str(revision))


def resolve_commit(hub_id: str, revision: str) -> str | None:
    """The commit a branch or tag resolves to on the hub (no model code runs); None when the hub is unreachable."""
    try:
        from huggingface_hub import HfApi

        return HfApi().model_info(hub_id, revision=revision).sha
    except Exception:  # offline, or no such repository: the caller says what to do
        return None


def pin_message(spec, revision, commit) -> str:
    """How to pin a hub model that was fetched at a branch (or refused for remote code)."""
    if commit:
        return (f"pin it: add `model_options: {{{spec.name}: {{revision: {commit}}}}}` to the config "
                f"({spec.weights} at {revision!r} resolved to commit {commit})")
    return (f"pin it: look up the commit of {spec.weights} at {revision!r} (https://huggingface.co/{spec.weights}/commits/"
            f"{revision}) and set model_options.{spec.name}.revision to it")


def prepare_hub_model(spec, out_dir: str | Path, revision: str = "main", trust_remote_code: bool = False,
                      source: str | Path | None = None, check_shape: bool = True) -> Path:
    """Fetch (or, with ``source``, load from a local folder) and save the model. A ``source`` holding a rehearsal
    stand-in (rehearsal.json: random weights) is checked for its layer count only, and its record goes into
    provenance.json. Hub code runs only at a full commit revision: otherwise the commit is resolved, named, and the
    fetch refused (a rehearsal stand-in has no hub code; it notes that the real fetch would be refused)."""
    import logging

    import transformers
    from transformers import AutoFeatureExtractor

    log = logging.getLogger(__name__)
    t0 = time.perf_counter()
    stand_in = None
    if source is not None and (Path(source) / "rehearsal.json").exists():
        stand_in = json.loads((Path(source) / "rehearsal.json").read_text())
    if trust_remote_code and not _is_commit(revision):
        message = (f"model {spec.name!r}: trust_remote_code is refused at revision {revision!r}, which is not a full "
                   f"commit hash; read the hub code at that commit, then "
                   f"{pin_message(spec, revision, None if source is not None else resolve_commit(spec.weights, revision))}")
        if stand_in is None:
            raise ValueError(message)
        log.warning("rehearsal: the real fetch would stop here: %s", message)
        stand_in["real_fetch_refused"] = message
        trust_remote_code = False  # the stand-in is transformers' own class
    src = str(source) if source is not None else spec.weights
    kwargs = {"revision": revision, "trust_remote_code": trust_remote_code}
    if source is not None:
        kwargs.pop("revision")  # a local folder has no revisions
    try:
        model = _model_class(spec).from_pretrained(src, dtype=torch.float32, **kwargs)
    except OSError as exc:
        raise OSError(
            f"model {spec.name!r}: cannot load {src!r} at revision {revision!r} ({exc}). Hub models need network "
            f"access to huggingface.co or a filled HF cache (HF_HOME); the offline models are "
            f"whisper_tiny_en, whisper_base, crepe_full, crepe_tiny."
        ) from exc
    n_blocks, width = _shape(spec, model.config)
    if stand_in is not None and n_blocks != spec.n_blocks:
        raise ValueError(f"{src}: a rehearsal stand-in of {spec.name} must have its {spec.n_blocks} blocks, not {n_blocks}")
    if check_shape and stand_in is None and (n_blocks, width) != (spec.n_blocks, spec.d_model):
        raise ValueError(f"{src}: {n_blocks} blocks of width {width}, but the registry entry {spec.name!r} says "
                         f"{spec.n_blocks} x {spec.d_model}")
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        try:
            AutoFeatureExtractor.from_pretrained(src, **kwargs).save_pretrained(tmp)
        except (OSError, ValueError):
            pass  # codecs without a preprocessor config: the readers build defaults
        if spec.family == "whisper":
            from transformers import WhisperTokenizer

            try:
                WhisperTokenizer.from_pretrained(src, **({} if source is not None else {"revision": revision})).save_pretrained(tmp)
            except (OSError, ValueError):
                pass
            if source is not None and (Path(source) / "generation_config.json").exists():
                shutil.copy(Path(source) / "generation_config.json", tmp / "generation_config.json")
        commit = getattr(model.config, "_commit_hash", None)
        record = {
            "hub_id": spec.weights,
            "source": src,
            "revision": revision,
            "commit": commit,
            "trust_remote_code": trust_remote_code,
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
            "seconds": round(time.perf_counter() - t0, 2),
        }
        if stand_in is not None:
            record.update(random_init=True, commit=None, rehearsal=stand_in)
            shutil.copy(Path(source) / "rehearsal.json", tmp / "rehearsal.json")
            (tmp / "README.md").write_text(f"# {spec.name}: {stand_in['note']}\n\nStand-in class: "
                                           f"{stand_in['stand_in_class']}, {n_blocks} blocks of width {width} "
                                           f"(the real model: {spec.d_model}).\n")
        elif not _is_commit(revision):
            record["pin"] = pin_message(spec, revision, commit)
            log.warning("UNPINNED hub model %s: fetched at %r; provenance.json records commit %s. %s", spec.name,
                        revision, commit, record["pin"])
        (tmp / "provenance.json").write_text(json.dumps(record, indent=2) + "\n")
    return Path(out_dir)
