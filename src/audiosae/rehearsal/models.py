"""Random-init stand-ins of the hub models: the same transformers class and layer count, a small width."""
from __future__ import annotations

import json
from pathlib import Path


from ..io import atomic_dir
from . import RANDOM_INIT_NOTE


def _whisper(spec, width: int):
    from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration, WhisperTokenizer

    from ..models.ct2_whisper import locate_packaged_model, read_special_tokens

    ct2_dir = locate_packaged_model("whisper_tiny_en")
    special = read_special_tokens(ct2_dir / "tokenizer.json")
    tokenizer = WhisperTokenizer(tokenizer_file=str(ct2_dir / "tokenizer.json"))
    eot, sot = special["<|endoftext|>"], special["<|startoftranscript|>"]
    mels = 128 if spec.name == "whisper_large_v3" else 80
    cfg = WhisperConfig(vocab_size=len(tokenizer), num_mel_bins=mels, d_model=width, encoder_layers=spec.n_blocks,
                        decoder_layers=spec.n_blocks, encoder_attention_heads=2, decoder_attention_heads=2,
                        encoder_ffn_dim=2 * width, decoder_ffn_dim=2 * width, max_source_positions=1500,
                        max_target_positions=448, pad_token_id=eot, bos_token_id=eot, eos_token_id=eot,
                        decoder_start_token_id=sot)
    model = WhisperForConditionalGeneration(cfg)
    gen = GenerationConfig(decoder_start_token_id=sot, bos_token_id=eot, eos_token_id=eot, pad_token_id=eot,
                           no_timestamps_token_id=special["<|notimestamps|>"], max_length=448, is_multilingual=False,
                           return_timestamps=False)
    model.generation_config = gen
    extras = [tokenizer, WhisperFeatureExtractor(feature_size=mels)]
    return model, extras, "WhisperForConditionalGeneration (English tokenizer of the packaged tiny.en)"


def _ssl(spec, width: int):
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor, WavLMConfig, WavLMModel

    kw = dict(hidden_size=width, num_hidden_layers=spec.n_blocks, num_attention_heads=2, intermediate_size=2 * width,
              conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    large = spec.name == "hubert_large_ll60k"
    if large:  # HuBERT large: layer-norm CNN and stable layer norm, padded batches with attention masks
        kw.update(feat_extract_norm="layer", do_stable_layer_norm=True)
    fe = Wav2Vec2FeatureExtractor(sampling_rate=spec.sample_rate, do_normalize=True, return_attention_mask=large)
    if spec.name == "wavlm_base_plus":
        return WavLMModel(WavLMConfig(**kw, num_buckets=8, max_bucket_distance=20)), [fe], "WavLMModel"
    if spec.needs_remote_code:
        return HubertModel(HubertConfig(**kw)), [fe], ("HubertModel at 24 kHz, standing in for MERT's hub code "
                                                       "(MERTModel), which is not available offline")
    return HubertModel(HubertConfig(**kw)), [fe], "HubertModel"


def _ast(spec, width: int):
    from transformers import ASTConfig, ASTFeatureExtractor, ASTModel

    cfg = ASTConfig(hidden_size=width, num_hidden_layers=spec.n_blocks, num_attention_heads=2, intermediate_size=2 * width)
    return ASTModel(cfg), [ASTFeatureExtractor(max_length=cfg.max_length, num_mel_bins=cfg.num_mel_bins)], "ASTModel"


def _codec(spec, width: int):
    from transformers import DacConfig, DacModel, EncodecConfig, EncodecModel

    if spec.family == "encodec":  # the real strides (75 latent frames per second at 24 kHz), narrow filters
        cfg = EncodecConfig(num_filters=4, hidden_size=spec.d_model, codebook_size=16, num_lstm_layers=1,
                            sampling_rate=spec.sample_rate)
        return EncodecModel(cfg), [], "EncodecModel"
    cfg = DacConfig(encoder_hidden_size=4, decoder_hidden_size=16, hidden_size=2 * width, n_codebooks=2,
                    codebook_size=16, codebook_dim=4, sampling_rate=spec.sample_rate)
    return DacModel(cfg), [], "DacModel"


def write_random_model(name: str, out_dir: str | Path, width: int = 32, seed: int = 0) -> Path:
    """A randomly initialised stand-in of hub model ``name``: the same transformers class (see the module
    docstring for MERT) and layer count as the registry entry, hidden size ``width``; saved with its feature
    extractor (and Whisper's tokenizer and generation config) and ``rehearsal.json``."""
    import torch

    from ..models.registry import get_model_spec

    spec = get_model_spec(name)
    if spec.source != "hub":
        raise ValueError(f"{name}: weights come from {spec.source}, which works offline; no stand-in needed")
    build = {"whisper": _whisper, "ssl": _ssl, "ast": _ast, "encodec": _codec, "dac": _codec}[spec.family]
    torch.manual_seed(seed)
    model, extras, cls = build(spec, width)
    with atomic_dir(out_dir) as tmp:
        model.eval().save_pretrained(tmp)
        if spec.family == "whisper":
            model.generation_config.save_pretrained(tmp)
        for extra in extras:
            extra.save_pretrained(tmp)
        record = {"random_init": True, "note": RANDOM_INIT_NOTE, "model": name, "hub_id": spec.weights,
                  "stand_in_class": cls, "n_blocks": spec.n_blocks, "registry_width": spec.d_model,
                  "width": int(getattr(model.config, "hidden_size", getattr(model.config, "d_model", width))),
                  "seed": seed}
        (tmp / "rehearsal.json").write_text(json.dumps(record, indent=2) + "\n")
    return Path(out_dir)
