"""The study's plan (audiosae.plan): every SAE under one template with complete options, the EEG stimuli as a
dataset kind, and one source of defaults."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from audiosae.config import load_schema, validate_config
from audiosae.plan import PlannedSAE, sae_plan, study_datasets
from audiosae.sae.pipeline import train_config
from audiosae.sae.train import TrainConfig

REPO = Path(__file__).resolve().parents[1]
SCHEMA = load_schema(REPO / "config" / "schema.yaml")


def study(name: str, edit=None) -> dict:
    cfg = yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text())
    if edit:
        edit(cfg)
    return validate_config(cfg, SCHEMA)


def test_default_plan_lists_every_sae_of_the_study_under_one_template():
    plan = sae_plan(study("generated"))
    paths = [s.path for s in plan]
    assert len(paths) == len(set(paths)) == 28
    main = plan.select(sweep="main", dataset="vocalset_synth", swept=True)
    assert [s.path for s in main[:2]] == [
        "results/sae/vocalset_synth/whisper_tiny_en/layer0/main/topk-x4-s0.75-seed0",
        "results/sae/vocalset_synth/whisper_tiny_en/layer0/main/topk-x4-s0.9-seed0",
    ]
    assert len(main) == 5 * 4  # every layer x every sparsity
    # Stability reads seeds 1 and 2 of the speech corpus's SAE and its neighbouring layers with seed 1: planned,
    # but not part of the sweep that probing, reconstruction tables and the browser read.
    extra = {s.path for s in plan if not s.swept}
    assert extra == {f"results/sae/speech_mix/whisper_tiny_en/layer{layer}/main/batchtopk-x4-s0.98-seed{seed}"
                     for layer, seed in ((2, 1), (2, 2), (1, 1), (3, 1))}
    # Whisper's splice cost: the frame SAE of the transcribed corpus only (not its extra seeds).
    assert [s.path for s in plan if s.downstream] == ["results/sae/speech_mix/whisper_tiny_en/layer2/main/batchtopk-x4-s0.98-seed0"]
    eeg, = plan.select(sweep="eeg")
    assert eeg.path == "results/sae/eeg_simulated/whisper_tiny_en/layer2/eeg/topk-x4-s0.98-seed0"
    assert eeg.activations == "results/activations/eeg_simulated/whisper_tiny_en.h5"
    assert [s.path for s in plan.select(sweep="acoustics")] == [
        "results/sae/vocalset_synth/whisper_tiny_en/layer2/acoustics/relu-x4-s0.01-seed42",
        "results/sae/vocalset_synth/whisper_tiny_en/layer2/acoustics/relu-x4-s0.03-seed42",
    ]


def test_each_sweep_takes_the_sae_section_with_its_own_keys_on_top():
    cfg = study("generated", lambda c: c["sae"].update(warmup_frac=0.1, checkpoint_every=50))
    plan = sae_plan(cfg)
    eeg, = plan.select(sweep="eeg")
    acoustic = plan.select(sweep="acoustics")[0]
    clip_mean = plan.at("results/sae/vocalset_synth/whisper_tiny_en/layer2/main/topk-x4-s0.9-seed0")
    speech = plan.at("results/sae/speech_mix/whisper_tiny_en/layer2/main/batchtopk-x4-s0.98-seed0")
    for sae in (eeg, acoustic, clip_mean, speech):  # the sae section's options reach every sweep
        assert sae.options["warmup_frac"] == 0.1 and sae.options["checkpoint_every"] == 50
    assert (eeg.options["train_on"], eeg.options["steps"], eeg.options["dead_after_rows"]) == ("frames", 300, 20000)
    assert (acoustic.options["train_on"], acoustic.options["steps"], acoustic.options["rms_norm_codes"]) == ("frames", 250, True)
    assert (clip_mean.options["train_on"], clip_mean.options["steps"], clip_mean.options["dead_after_rows"]) == ("clip_means", 300, 50000)
    assert (speech.options["train_on"], speech.options["batch_size"], speech.options["downstream"]["max_clips"]) == ("frames", 1024, 16)
    assert "downstream" not in clip_mean.options  # only what trains this SAE: no sweep axes, no unused sections
    assert not {"sparsities", "seeds", "layers", "variants"} & set(speech.options)


def test_every_planned_sae_has_complete_options():
    """train_config reads every option without a fallback: a missing one would raise KeyError here."""
    for name in ("config", "test", "paper"):
        for sae in sae_plan(study(name)):
            cfg = train_config(sae.options, sae.seed, 64)
            assert cfg.steps == sae.options["steps"] and cfg.seed == sae.seed
            assert {"memory_mb", "init_rows", "eval_rows", "rms_norm_codes", "train_on", "expansion", "d_sae"} <= set(sae.options)


def test_trainconfig_defaults_are_the_schema_defaults():
    """Library users who build a TrainConfig by hand get the workflow's defaults: the two cannot drift apart."""
    sae_schema = SCHEMA["properties"]["sae"]["properties"]
    shared = [f for f in dataclasses.fields(TrainConfig) if f.name in sae_schema]
    assert len(shared) >= 12
    for f in shared:
        assert f.default == sae_schema[f.name]["default"], f.name


def test_a_folder_outside_the_plan_is_an_error_naming_it():
    plan = sae_plan(study("generated"))
    wanted = "results/sae/speech_mix/whisper_tiny_en/layer2/main/batchtopk-x4-s0.5-seed0"
    with pytest.raises(KeyError, match=r"batchtopk-x4-s0\.5-seed0: not an SAE of this study's plan .*planned here: "
                                       r"results/sae/speech_mix/whisper_tiny_en/layer2/main/batchtopk-x4-s0\.98-seed0"):
        plan.at(wanted)


def test_analyses_ask_the_plan_and_get_the_same_folder():
    from audiosae.plan import acoustic_folder, concept_folders, stability_folders, steering_folders

    plan = sae_plan(study("generated"))
    n = len(plan)
    assert concept_folders(plan, "speech_mix", "whisper_tiny_en") == [
        "results/sae/speech_mix/whisper_tiny_en/layer2/main/batchtopk-x4-s0.98-seed0"]
    assert steering_folders(plan, "speech_mix", "whisper_tiny_en") == {
        2: "results/sae/speech_mix/whisper_tiny_en/layer2/main/batchtopk-x4-s0.98-seed0"}
    assert stability_folders(plan, "speech_mix", "whisper_tiny_en")["2_2"].endswith("layer2/main/batchtopk-x4-s0.98-seed2")
    assert acoustic_folder(plan, "vocalset_synth", "whisper_tiny_en", 2, 4, 0.03).endswith("acoustics/relu-x4-s0.03-seed42")
    assert len(plan) == n  # nothing new: the plan already listed them
    # An analysis asking for an SAE the plan does not list is a bug, not a new job: the finished plan only looks up.
    with pytest.raises(KeyError, match=r"layer0/acoustics/relu-x16-s0\.03-seed42: not an SAE of this study's plan"):
        acoustic_folder(plan, "vocalset_synth", "whisper_tiny_en", 0, 16, 0.03)
    assert len(plan) == n


def test_fixed_d_sae_and_variants_name_their_folders():
    cfg = study("test", lambda c: c["sae"].update(d_sae=96, variants=["topk", "relu", "jumprelu"], l1_coefficients=[0.1],
                                                  target_l0s=[8]))
    names = {Path(s.path).name for s in sae_plan(cfg).select(sweep="main", dataset="vocalset_tiny", layer=0)}
    assert names == {"topk-d96-s0.75-seed0", "topk-d96-s0.99-seed0", "relu-d96-s0.1-seed0", "jumprelu-d96-s8-seed0"}


def test_full_study_plan_has_the_eeg_and_acoustic_sweeps():
    plan = sae_plan(study("paper"))
    eeg, = plan.select(sweep="eeg")
    assert eeg.path == "results/sae/eeg_broderick/whisper_small/layer6/eeg/topk-x8-s0.99186-seed0"
    assert eeg.options["steps"] == 20000 and eeg.options["batch_size"] == 4096
    grid = plan.select(sweep="acoustics")
    assert {s.model for s in grid} == {"encodec_24khz", "dac_16khz"}
    assert {s.layer for s in grid} == {0}  # a codec latent is its only layer
    assert len(grid) == 2 * 3 * 3  # each codec: 3 widths x 3 L1 weights
    # Each paper's models on its own corpora (datasets.<name>.models).
    assert {s.model for s in plan.select(dataset="vocalset")} == {"hubert_base_ls960", "wavlm_base_plus", "mert_v1_95m",
                                                                  "ast_audioset"}
    frames = plan.select(dataset="librispeech", sweep="main", seed=0, swept=True)
    assert {(s.model, s.variant) for s in frames} == {("whisper_small", "batchtopk"), ("hubert_large_ll60k", "batchtopk")}
    assert len(frames) == 13 + 25 and all(s.options["train_on"] == "frames" for s in frames)


def test_eeg_section_adds_its_stimuli_as_a_dataset():
    cfg = study("generated")
    datasets = study_datasets(cfg)
    assert list(datasets) == ["vocalset_synth", "speech_mix", "eeg_simulated"]
    assert datasets["eeg_simulated"]["kind"] == "eeg_stimuli" and datasets["eeg_simulated"]["seed"] == cfg["eeg"]["seed"]
    assert "eeg_simulated" not in cfg["datasets"]  # dataset-level analyses run on the configured datasets only
    off = study("generated", lambda c: c["eeg"].update(enabled=False))
    assert list(study_datasets(off)) == ["vocalset_synth", "speech_mix"]
    assert not sae_plan(off).select(sweep="eeg")


def test_eeg_stimuli_kind_from_a_miniature_bids_release(tmp_path):
    """The Broderick source (the full study's path): stimulus WAVs in the real layout become runs, chunks and a
    checked clip table, through the same preparation code as every dataset."""
    from audiosae.data import eeg_bids
    from audiosae.data.kinds import build_clip_table, get_kind, prepare_dataset

    rng = np.random.default_rng(0)
    stimuli = {run: ((0.1 * rng.standard_normal(44100 * 7)).astype(np.float32), 44100) for run in (1, 2)}
    bids = eeg_bids.make_mini_bids(tmp_path / "ds004408", stimuli, {(1, r): rng.standard_normal((128, 512 * 9)) for r in (1, 2)})
    cfg = study("paper", lambda c: c["eeg"].update(chunk_s=3.0, broderick={"root": str(bids), "runs": [1, 2], "subjects": [1]}))
    opts = study_datasets(cfg)["eeg_broderick"]
    kind = get_kind("eeg_stimuli")
    assert kind.inputs(opts) == {"stimuli": [f"{bids}/stimuli/audio01.wav", f"{bids}/stimuli/audio02.wav"]}
    root = tmp_path / "resources/datasets/eeg_broderick"
    prepare_dataset(root, opts, seed=42)
    runs = pd.read_csv(root / "runs.csv")
    assert runs["run"].tolist() == [1, 2] and np.allclose(runs["duration_s"], 7.0)
    table, report = build_clip_table(root, opts, seed=42)
    assert len(report) == 0
    assert table["id"].tolist() == [f"run-{r:02d}_c{c:02d}" for r in (1, 2) for c in range(3)]
    assert np.allclose(table["duration_s"], [3, 3, 1] * 2)
    assert (table["split"] == "valid").sum() == 1  # every 5th chunk is held out from SAE training
    assert all((root / p).is_file() for p in table["path"])


def test_data_rules_get_only_the_options_that_change_their_output():
    """Snakemake reruns a job whose params changed: probe targets and SAE overrides must not reach the data rules,
    and split options reach the clip table but not the prepared audio."""
    from audiosae.data.kinds import clip_table_options, preparation_options

    base = study("generated")["datasets"]["vocalset_synth"]
    edited = study("generated", lambda c: c["datasets"]["vocalset_synth"].update(
        probe_targets=["gender"], sae={"steps": 10}))["datasets"]["vocalset_synth"]
    assert clip_table_options(edited) == clip_table_options(base)
    assert preparation_options(edited) == preparation_options(base)
    split = study("generated", lambda c: c["datasets"]["vocalset_synth"].update(test_singers=["f2"]))["datasets"]["vocalset_synth"]
    assert preparation_options(split) == preparation_options(base)
    assert clip_table_options(split) != clip_table_options(base)
    more = study("generated", lambda c: c["datasets"]["vocalset_synth"].update(clips_per_technique=2))["datasets"]["vocalset_synth"]
    assert preparation_options(more) != preparation_options(base)


def test_checkpoints_record_where_their_layer_sits():
    from audiosae.models.registry import get_model_spec

    whisper = get_model_spec("whisper_tiny_en")
    assert [whisper.hook_name(layer) for layer in whisper.layers] == [
        "encoder.layers.0.input", "encoder.layers.0.output", "encoder.layers.1.output", "encoder.layers.2.output",
        "encoder.layers.3.output"]  # layer 4 = the last block's output, before the final norm
    assert get_model_spec("encodec_24khz").hook_name(0) == "encoder.latent"
    sae = sae_plan(study("generated")).at("results/sae/speech_mix/whisper_tiny_en/layer2/main/batchtopk-x4-s0.98-seed0")
    assert sae.cfg_meta() == {"sweep": "main", "dataset": "speech_mix", "model": "whisper_tiny_en", "expansion": 4,
                              "hook_name": "encoder.layers.1.output"}


def test_paper_a_topk_is_planned_beside_topk_with_its_preset():
    cfg = study("test", lambda c: c["sae"].update(variants=["topk", "paper_a_topk"]))
    main = sae_plan(cfg).select(sweep="main", dataset="vocalset_tiny", layer=0)
    names = {Path(s.path).name for s in main}
    assert {"topk-x2-s0.75-seed0", "paper_a_topk-d2048-s0.75-seed0"} <= names  # d_sae 2048 whatever d_in
    paper_a = next(s for s in main if s.variant == "paper_a_topk")
    topk = next(s for s in main if s.variant == "topk")
    opts = paper_a.options
    assert (opts["d_sae"], opts["batch_size"], opts["lr"], opts["epochs"], opts["recon_loss"]) == (2048, 16, 0.001, 100, "mse")
    assert (opts["normalize_decoder"], opts["scale_inputs"], opts["aux_coef"], opts["b_dec_init"]) == (False, False, 0.0, "zeros")
    assert "epochs" not in topk.options and topk.options["batch_size"] == cfg["sae"]["batch_size"]
    tc = train_config(opts, paper_a.seed, 2048)
    assert (tc.epochs, tc.batch_size, tc.normalize_decoder) == (100, 16, False)


def test_linear_adam_defaults_are_paper_as_and_the_schemas():
    from audiosae.analysis.probing import LinearAdamProbe

    adam = SCHEMA["properties"]["probing"]["properties"]["adam"]["properties"]
    assert (adam["epochs"]["default"], adam["lr"]["default"], adam["batch_size"]["default"]) == (120, 0.001, 32)
    probe = LinearAdamProbe()
    assert (probe.epochs, probe.lr, probe.batch_size) == (120, 0.001, 32)


def test_default_study_plans_papers_b_and_c_on_the_real_corpora():
    """The default runs paper B's frame SAEs (and their stability seeds and splice cost) on the real speech corpus
    and paper C's acoustic SAEs on the real notes; the generated singing keeps paper A's sweep."""
    plan = sae_plan(study("config"))
    assert len(plan) == 27
    assert [s.path for s in plan if s.downstream] == [
        "results/sae/speech_real/whisper_tiny_en/layer2/main/batchtopk-x4-s0.98-seed0"]
    # stability: seeds 1 and 2, and seeds 0 and 1 on a quarter of the training clips (no neighbouring layers)
    assert {s.path for s in plan if not s.swept} == {
        f"results/sae/speech_real/whisper_tiny_en/layer2/{sweep}/batchtopk-x4-s0.98-seed{seed}"
        for sweep, seed in (("main", 1), ("main", 2), ("rows0.25", 0), ("rows0.25", 1))}
    assert [s.path for s in plan.select(sweep="acoustics")] == [
        "results/sae/instruments/whisper_tiny_en/layer2/acoustics/relu-x4-s0.01-seed42",
        "results/sae/instruments/whisper_tiny_en/layer2/acoustics/relu-x4-s0.03-seed42"]
    assert len(plan.select(sweep="main", dataset="instruments", swept=True)) == 2 * 2  # layers 2, 4 x s .9, .99


def test_browser_pages_for_one_sparsity_per_corpus_or_all():
    from audiosae.plan import browser_saes

    cfg = study("config")
    plan = sae_plan(cfg)
    pages = browser_saes(plan, "vocalset_synth", "whisper_tiny_en")
    assert [(s.layer, s.sparsity) for s in pages] == [(layer, 0.9) for layer in range(5)]
    assert [s.sparsity for s in browser_saes(plan, "speech_real", "whisper_tiny_en")] == [0.98]
    everything = sae_plan(study("config", lambda c: c["browser"].update(sparsity=None)))
    assert len(browser_saes(everything, "vocalset_synth", "whisper_tiny_en")) == 5 * 3
    wrong = sae_plan(study("config", lambda c: c["browser"].update(sparsity={"instruments": 0.5})))
    assert len(browser_saes(wrong, "vocalset_synth", "whisper_tiny_en")) == 15  # a corpus left out: every SAE
    with pytest.raises(ValueError, match=r"browser.sparsity 0.5 for instruments: not one of its SAEs' sparsities \[0.9, 0.99\]"):
        browser_saes(wrong, "instruments", "whisper_tiny_en")
