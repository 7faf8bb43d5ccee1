"""Stand-ins for what an offline machine cannot have, so that a full study rehearses its whole DAG here.

``config/rehearsal.yaml`` on top of ``config/paper.yaml`` (``rehearsal.enabled``) keeps every rule, target and
option of the study and replaces only:

- each dataset archive by a miniature in the real layout (the parsers' own ``write_miniature``), packed like the
  release, served over ``file://`` and verified against its sha256 like a real download (:func:`write_archive`);
- the Broderick et al. EEG (OpenNeuro ds004408) by a miniature BIDS copy: 128-channel BrainVision recordings of
  the chosen subjects and runs, with stimulus WAVs, events and sidecars in the real names (:func:`write_bids`);
- each hub model by a randomly initialised model of the same transformers class and the same layer count, with a
  small hidden size, saved as a transformers folder that the hub fetch loads in place of the hub
  (:func:`write_random_model`). MERT's hub code is not available offline: its stand-in is transformers'
  ``HubertModel`` (MERT v1 is a HuBERT variant) at 24 kHz, labelled so. Whisper stand-ins use the English
  tokenizer and generation settings of the packaged Whisper tiny.en (the only ones offline).

Every stand-in model folder holds ``rehearsal.json`` (random_init: true); the hub fetch copies it into
``provenance.json``, and the activation files and every SAE's cfg.json carry ``weights_random_init``. Nothing a
rehearsal computes is a result: it proves shapes, paths, file formats and that every rule runs, not numbers.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .io import atomic_dir

RANDOM_INIT_NOTE = ("RANDOM WEIGHTS: a rehearsal stand-in (audiosae.rehearsal), not the hub model; nothing computed "
                    "from it is a result")

# kind -> (module with write_miniature, archive format of the release)
ARCHIVE_KINDS = {
    "vocalset": ("vocalset", "zip"),
    "librispeech": ("librispeech", "gztar"),
    "esc50": ("esc50", "zip"),
    "nsynth": ("nsynth", "gztar"),
    "vocalsound": ("vocalsound", "zip"),
}
_SUFFIX = {"zip": ".zip", "gztar": ".tar.gz"}
MINIATURE_SCALE = 4


def write_archive(kind: str, dest: str | Path, seed: int = 0) -> str:
    """The miniature of ``kind``'s release archive at ``dest`` (named like the release); returns its sha256,
    also written beside it as ``<dest>.sha256``."""
    import importlib
    import inspect

    from .data.download import file_digests

    if kind not in ARCHIVE_KINDS:
        raise ValueError(f"no miniature archive for kind {kind!r} (kinds: {', '.join(ARCHIVE_KINDS)})")
    module, fmt = ARCHIVE_KINDS[kind]
    dest = Path(dest)
    if not dest.name.endswith(_SUFFIX[fmt]):
        raise ValueError(f"{dest.name}: a {kind} release archive is a {_SUFFIX[fmt]} file")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        src = Path(tmp) / "src"
        writer = importlib.import_module(f".data.{module}", __package__).write_miniature
        # Larger where the tests' miniature leaves a split without a class (speaker- or instrument-disjoint splits).
        scale = {"scale": MINIATURE_SCALE} if "scale" in inspect.signature(writer).parameters else {}
        writer(src, seed=seed, **scale)
        built = Path(shutil.make_archive(str(Path(tmp) / "archive"), fmt, src))
        built.replace(dest)
    digest = file_digests(dest)["sha256"]
    dest.with_name(dest.name + ".sha256").write_text(f"{digest}  {dest.name}\n")
    return digest


def write_bids(root: str | Path, subjects: list[int], runs: list[int], seconds: float = 20.0, sfreq: float = 128.0,
               seed: int = 0) -> Path:
    """A miniature ds004408 at ``root``: every (subject, run) as 128-channel BrainVision EEG at ``sfreq`` that
    follows the envelope of its stimulus (a noise burst train, 44.1 kHz stereo like the release), starting 1 s into
    the recording (events.tsv)."""
    import mne

    from .analysis import eeg
    from .data import eeg_bids

    rng = np.random.default_rng(seed)
    sr, pre = 16000, 1.0
    montage = mne.channels.make_standard_montage(eeg_bids.MONTAGE)
    names = montage.ch_names
    pos = np.array(list(montage.get_positions()["ch_pos"].values()))
    topo = eeg._topography(pos, pos[0])
    topo -= topo.mean()
    n = int(seconds * sr)
    stimuli, recordings = {}, {}
    for run in runs:
        am = np.repeat(rng.random(int(seconds * 8) + 1) > 0.5, sr // 8)[:n].astype(np.float32)
        stimuli[run] = ((0.2 * am + 0.01) * rng.standard_normal(n)).astype(np.float32), sr
        env = eeg.zscore(eeg.envelope(stimuli[run][0], sr, sfreq, int(seconds * sfreq)))
        resp = np.convolve(env, eeg.gaussian_kernel(np.arange(int(0.6 * sfreq)) / sfreq, 0.15, 0.03))[: len(env)]
        for subject in subjects:
            data = 15.0 * eeg.pink_noise(rng, int((seconds + pre + 1.0) * sfreq), len(names)).T
            data[:, int(pre * sfreq): int(pre * sfreq) + len(resp)] += 2.0 * topo[:, None] * resp[None, :]
            recordings[(subject, run)] = data
    root = Path(root)
    with atomic_dir(root) as tmp:
        eeg_bids.make_mini_bids(tmp, stimuli, recordings, sfreq=sfreq, events=True)
        (tmp / "REHEARSAL.txt").write_text("Miniature stand-in for OpenNeuro ds004408 (audiosae.rehearsal): generated "
                                           "EEG, not recordings.\n")
    return root


# ------------------------------------------------------------------------------------------------------------ models


def _whisper(spec, width: int):
    from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration, WhisperTokenizer

    from .models.ct2_whisper import locate_packaged_model, read_special_tokens

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

    from .models.registry import get_model_spec

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


def stand_in_record(model_dir: str | Path) -> dict | None:
    """The rehearsal record of a model folder (its stand-in's rehearsal.json), or None for real weights."""
    path = Path(model_dir) / "rehearsal.json"
    return json.loads(path.read_text()) if path.exists() else None
