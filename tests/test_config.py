"""The config's schema validation (defaults, one-line errors) and every check across fields, without Snakemake."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from audiosae.config import (
    LEGACY_KEYS,
    ConfigError,
    archive_sources,
    check_config,
    check_labels,
    concept_datasets,
    concept_sparsity,
    legacy_key_error,
    legacy_key_message,
    sae_variants,
    steering_dataset,
    validate_config,
)

REPO = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO / "config" / "schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())
SAE_SCHEMA = SCHEMA["properties"]["sae"]
STUDY_CONFIGS = ["config.yaml", "test.yaml", "paper.yaml"]


def raw(name: str = "test.yaml") -> dict:
    return yaml.safe_load((REPO / "config" / name).read_text())


def validated(edit=None, name: str = "test.yaml") -> dict:
    """A study config (the tiny one unless named), edited, then validated with defaults filled in."""
    cfg = raw(name)
    if edit is not None:
        edit(cfg)
    return validate_config(cfg, copy.deepcopy(SCHEMA))


def checked(edit=None, base_dir=".") -> dict:
    cfg = validated(edit)
    check_config(cfg, SAE_SCHEMA, base_dir=base_dir)
    return cfg


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


# ------------------------------------------------------------------ schema validation and defaults


@pytest.mark.parametrize("name", STUDY_CONFIGS)
def test_defaults_are_filled_as_snakemake_fills_them(name):
    from snakemake.utils import validate

    ours = validate_config(raw(name), SCHEMA_PATH)
    theirs = raw(name)
    validate(theirs, str(SCHEMA_PATH), set_default=True)
    assert ours == theirs
    check_config(ours, SAE_SCHEMA)  # and the shipped studies pass every check


def test_validation_fills_the_config_in_place_and_kind_defaults_from_then():
    cfg = raw()
    cfg["datasets"]["mine"] = {"kind": "folder", "path": "audio", "labels": "labels.csv"}
    out = validate_config(cfg, SCHEMA)
    assert out is cfg
    mine, vocal = cfg["datasets"]["mine"], cfg["datasets"]["vocalset_tiny"]
    assert mine["file_column"] == "file" and mine["probe_targets"] == [] and mine["test_fraction"] == 0.2
    assert "singers" not in mine and "whisper" not in mine  # other kinds' defaults stay out
    assert vocal["on_bad_audio"] == "error" and "split_seed" not in vocal  # vocalset's options stay out of vocalset_synth
    assert cfg["datasets"]["speech_tiny"]["whisper"] is True and cfg["stability"]["seeds"] == [0, 1, 2]
    # Filled defaults are evaluated properties: the filled config validates again, unchanged.
    again = copy.deepcopy(cfg)
    assert validate_config(again, SCHEMA) == cfg


def test_defaults_are_copies_not_shared_with_the_schema():
    schema = copy.deepcopy(SCHEMA)
    a, b = validate_config(raw(), schema), validate_config(raw(), schema)
    a["steering"]["conditions"]["diff"].append(99.0)
    a["figures"]["formats"].append("svg")
    assert b["figures"]["formats"] == ["png", "pdf"] and schema["properties"]["figures"]["properties"]["formats"]["default"] == ["png", "pdf"]


def test_unknown_top_level_key_is_one_short_line_naming_the_known_keys():
    with pytest.raises(ConfigError) as err:
        validated(lambda c: c.update(foo=1))
    message = str(err.value)
    known = ", ".join(SCHEMA["properties"])
    assert message == f"config: unknown key 'foo' (known keys: {known})"
    assert "\n" not in message and len(message) < 240  # one line, if not a short one: 17 top-level keys


def test_misspelt_key_gets_a_suggestion():
    with pytest.raises(ConfigError, match=r"^config: unknown key 'stabilty'; did you mean 'stability'\? \(known keys: seed, "):
        validated(lambda c: c.update(stabilty={}))
    with pytest.raises(ConfigError, match=exactly(
            "eeg.sae: unknown key 'stpes'; did you mean 'steps'? (known keys: "
            + ", ".join(SCHEMA["properties"]["eeg"]["properties"]["sae"]["properties"]) + ")")):
        validated(lambda c: c["eeg"]["sae"].update(stpes=3))


def test_folder_dataset_without_labels_names_the_missing_key():
    with pytest.raises(ConfigError, match=exactly("datasets.mine: 'labels' is required for kind folder")):
        validated(lambda c: c["datasets"].update(mine={"kind": "folder", "path": "audio"}))
    with pytest.raises(ConfigError, match=exactly("datasets.mine: 'path' and 'labels' are required for kind folder")):
        validated(lambda c: c["datasets"].update(mine={"kind": "folder"}))
    with pytest.raises(ConfigError, match=exactly("datasets.mine: 'kind' is required")):
        validated(lambda c: c["datasets"].update(mine={"path": "audio"}))


def test_unknown_dataset_option_names_the_kind_and_its_options():
    folder_keys = "kind, probe_targets, probe_split_columns, on_bad_audio, min_duration_s, min_sample_rate, models, sae, " \
                  "path, labels, file_column, " \
                  "label_columns, required_labels, group_column, test_fraction, valid_fraction, extensions"
    with pytest.raises(ConfigError, match=exactly(
            f"datasets.mine: unknown key 'singers' for kind folder ('singers' is an option of vocalset_synth) "
            f"(known keys: {folder_keys})")):
        validated(lambda c: c["datasets"].update(mine={"kind": "folder", "path": "a", "labels": "l.csv", "singers": ["f1"]}))
    with pytest.raises(ConfigError, match=exactly(
            f"datasets.mine: unknown key 'label' for kind folder; did you mean 'labels'? (known keys: {folder_keys})")):
        validated(lambda c: c["datasets"].update(mine={"kind": "folder", "path": "a", "label": "l.csv"}))


def test_a_wrong_option_of_a_kind_is_named_not_its_siblings():
    # jsonschema also calls every option of the kind 'unevaluated' here; the message is about the wrong one.
    with pytest.raises(ConfigError, match=exactly(r"datasets.vocalset_tiny.singers[0]: 'x1' does not match the pattern ^(f|m)[0-9]+$")):
        validated(lambda c: c["datasets"]["vocalset_tiny"].update(singers=["x1", "f1"]))
    with pytest.raises(ConfigError, match=exactly("datasets.vocalset_tiny.singers: needs at least 2 items, got 1")):
        validated(lambda c: c["datasets"]["vocalset_tiny"].update(singers=["f1"]))
    kinds = ", ".join(repr(k) for k in SCHEMA["properties"]["datasets"]["additionalProperties"]["properties"]["kind"]["enum"])
    with pytest.raises(ConfigError, match=exactly(
            f"datasets.vocalset_tiny.kind: 'vocalset_snth' is not allowed (allowed values: {kinds}); did you mean 'vocalset_synth'?")):
        validated(lambda c: c["datasets"]["vocalset_tiny"].update(kind="vocalset_snth"))


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["sae"].update(steps=-1), "sae.steps: -1 is less than the minimum of 1"),
    (lambda c: c["sae"].update(steps="ten"), "sae.steps: 'ten' is not an integer"),
    (lambda c: c["sae"].update(variants="topk"), "sae.variants: 'topk' is not a list"),
    (lambda c: c["stability"].update(datasets=5), "stability.datasets: 5 is not a list or null"),
    (lambda c: c.update(device="gpu"), "device: 'gpu' is not allowed (allowed values: 'auto', 'cpu', 'cuda')"),
    (lambda c: c["sae"].update(sparsities=[1.0]), "sae.sparsities[0]: 1.0 is greater than or equal to the maximum of 1"),
    (lambda c: c["probing"].update(protocols=["logreg", "logreg"]), "probing.protocols: 'logreg' listed more than once"),
    (lambda c: c.update(datasets={}), "datasets: needs at least 1 entry"),
    (lambda c: c.pop("datasets"), "config: 'datasets' is required"),
    (lambda c: c["datasets"].update(x=5), "datasets.x: 5 is not a mapping"),
    (lambda c: c["sae"].update(layers=[-1]), "sae.layers[0]: -1 is less than the minimum of 0"),
    (lambda c: c["sae"].update(layers="al"), "sae.layers: 'al' is not allowed; expected 'all' or a non-empty list of integers >= 0"),
    (lambda c: c["sae"].update(layers=[]), "sae.layers: [] is not allowed; expected 'all' or a non-empty list of integers >= 0"),
    (lambda c: c["concepts"].update(sparsity=-1),
     "concepts.sparsity: -1 is not allowed; expected a number > 0 or a mapping of names to numbers > 0"),
    (lambda c: c["concepts"].update(sparsity={"vocalset_tiny": 0}),
     "concepts.sparsity.vocalset_tiny: 0 is less than or equal to the minimum of 0"),
    (lambda c: c["eeg"].update(reference=[]), "eeg.reference: [] is not allowed; expected 'average' or a non-empty list of strings"),
], ids=["minimum", "type", "type-list", "type-or-null", "enum", "maximum", "unique", "min-properties", "required",
        "dataset-type", "oneof-item", "oneof-string", "oneof-empty", "oneof-number", "oneof-map-value", "oneof-reference"])
def test_schema_errors_are_one_line_with_the_key(edit, message):
    with pytest.raises(ConfigError, match=exactly(message)):
        validated(edit)


# ------------------------------------------------------------------ legacy keys


def test_legacy_sae_variant_names_its_replacement():
    message = "sae.variant: the single-variant key was replaced by sae.variants (a list), e.g. variants: [topk]"
    assert LEGACY_KEYS == {"sae.variant": "sae.variants (a list), e.g. variants: [topk]"}
    assert legacy_key_message("sae.variant") == message
    with pytest.raises(ConfigError, match=exactly(message)):  # before the schema, which would call it unknown
        validated(lambda c: c["sae"].update(variant="topk"))
    with pytest.raises(ConfigError, match=exactly(message)):
        validated(lambda c: c["sae"].update(variant=None))
    with pytest.raises(ConfigError, match=exactly("datasets.speech_tiny." + message)):
        validated(lambda c: c["datasets"]["speech_tiny"]["sae"].update(variant="relu"))
    # check_config too (a config validated elsewhere); a null filled in by a schema default is not the user's.
    cfg = validated()
    cfg["sae"]["variant"] = "topk"
    with pytest.raises(ConfigError, match=exactly(message)):
        check_config(cfg)
    cfg["sae"]["variant"] = None
    assert legacy_key_error(cfg, ignore_null=True) is None and legacy_key_error(cfg) == message


def test_sae_variants_is_the_list():
    cfg = validated()
    assert sae_variants(cfg) == ["topk"] and sae_variants(cfg, "speech_tiny") == ["batchtopk"]


# ------------------------------------------------------------------ labels CSV of folder datasets


def folder_dataset(tmp_path, columns=("file", "speaker", "split"), **options) -> dict:
    (tmp_path / "audio").mkdir(exist_ok=True)
    (tmp_path / "labels.csv").write_text(",".join(columns) + "\n" + ",".join(["x"] * len(columns)) + "\n")
    return {"kind": "folder", "path": str(tmp_path / "audio"), "labels": str(tmp_path / "labels.csv"), **options}


def test_labels_csv_missing_a_probe_target(tmp_path):
    mine = folder_dataset(tmp_path, probe_targets=["speaker", "emotion"])
    with pytest.raises(ConfigError, match=exactly(
            f"datasets.mine.probe_targets: column 'emotion' is not in {tmp_path / 'labels.csv'} (columns: file, speaker, split)")):
        checked(lambda c: c["datasets"].update(mine=mine))


@pytest.mark.parametrize("options, message", [
    ({"file_column": "path"}, "datasets.mine.file_column: column 'path' is not in {csv} (columns: file, speaker, split)"),
    ({"label_columns": ["mood"]}, "datasets.mine.label_columns: column 'mood' is not in {csv} (columns: file, speaker, split)"),
    ({"required_labels": ["age"]}, "datasets.mine.required_labels: column 'age' is not in {csv} (columns: file, speaker, split)"),
    ({"group_column": "age"}, "datasets.mine.group_column: column 'age' is not in {csv} (columns: file, speaker, split)"),
    ({"label_columns": ["speaker"], "probe_targets": ["split"]},
     "datasets.mine.probe_targets: column 'split' is not among datasets.mine.label_columns (speaker)"),
])
def test_labels_csv_columns_named_by_other_options(tmp_path, options, message):
    mine = folder_dataset(tmp_path, **options)
    with pytest.raises(ConfigError, match=exactly(message.format(csv=tmp_path / "labels.csv"))):
        checked(lambda c: c["datasets"].update(mine=mine))


def test_labels_csv_and_folder_must_exist_and_relative_paths_use_the_working_directory(tmp_path):
    good = folder_dataset(tmp_path, probe_targets=["speaker"], label_columns=["speaker"])
    checked(lambda c: c["datasets"].update(mine=good))
    relative = dict(good, path="audio", labels="labels.csv")
    cfg = checked(lambda c: c["datasets"].update(mine=relative), base_dir=tmp_path)
    with pytest.raises(ConfigError, match=exactly(f"datasets.mine.labels: {tmp_path / 'other' / 'labels.csv'} does not exist")):
        (tmp_path / "other" / "audio").mkdir(parents=True)
        check_labels(cfg, base_dir=tmp_path / "other")
    with pytest.raises(ConfigError, match=exactly(f"datasets.mine.path: {tmp_path / 'nowhere' / 'audio'} is not a folder")):
        check_labels(cfg, base_dir=tmp_path / "nowhere")
    (tmp_path / "labels.csv").write_text("")
    with pytest.raises(ConfigError, match=rf"^datasets.mine.labels: cannot read {re.escape(str(tmp_path / 'labels.csv'))} \("):
        check_labels(cfg, base_dir=tmp_path)


# ------------------------------------------------------------------ paper B: stability, concepts, steering


def test_stability_layer_that_does_not_exist():
    with pytest.raises(ConfigError, match=exactly("stability.layers: layer 9 does not exist in whisper_tiny_en (layers 0..4)")):
        checked(lambda c: c["stability"].update(layers=[2, 9]))
    with pytest.raises(ConfigError, match=exactly("stability.datasets: 'nowhere' is not a configured dataset (vocalset_tiny, speech_tiny)")):
        checked(lambda c: c["stability"].update(datasets=["nowhere"]))
    checked(lambda c: c["stability"].update(enabled=False, layers=[9], datasets=["nowhere"]))  # off: not checked


def test_concepts_sparsity_map_needs_every_analysed_dataset():
    with pytest.raises(ConfigError, match=exactly(
            "concepts.sparsity: no sparsity for speech_tiny (give one number, or one per analysed dataset)")):
        checked(lambda c: c["concepts"].update(datasets=None, sparsity={"vocalset_tiny": 0.9}))
    with pytest.raises(ConfigError, match=exactly("concepts.sparsity: 'nowhere' is not a configured dataset (vocalset_tiny, speech_tiny)")):
        checked(lambda c: c["concepts"].update(sparsity={"vocalset_tiny": 0.9, "nowhere": 0.9}))
    with pytest.raises(ConfigError, match=exactly("concepts.layers: layer 5 does not exist in whisper_tiny_en (layers 0..4)")):
        checked(lambda c: c["concepts"].update(layers=[5]))
    cfg = checked(lambda c: c["concepts"].update(datasets=None, sparsity={"vocalset_tiny": 0.9, "speech_tiny": 0.8}))
    assert concept_datasets(cfg) == ["vocalset_tiny", "speech_tiny"]
    assert concept_sparsity(cfg, "speech_tiny") == 0.8 and concept_sparsity(validated(), "speech_tiny") == 0.9
    checked(lambda c: c["concepts"].update(enabled=False, datasets=None, sparsity={"nowhere": 0.9}))


def test_steering_dataset_without_transcripts():
    with pytest.raises(ConfigError, match=exactly("steering.dataset: 'vocalset_tiny' (vocalset_synth) has no transcripts")):
        checked(lambda c: c["steering"].update(dataset="vocalset_tiny"))
    with pytest.raises(ConfigError, match=exactly("steering.dataset: 'nowhere' is not a configured dataset (vocalset_tiny, speech_tiny)")):
        checked(lambda c: c["steering"].update(dataset="nowhere"))
    with pytest.raises(ConfigError, match=exactly("steering.layers: layer 7 does not exist in whisper_tiny_en (layers 0..4)")):
        checked(lambda c: c["steering"].update(layers=[7]))
    checked(lambda c: c["steering"].update(enabled=False, dataset="vocalset_tiny"))


def test_steering_defaults_to_the_first_speech_and_nonspeech_dataset():
    cfg = checked(lambda c: c["steering"].update(dataset=None))
    assert steering_dataset(cfg) == "speech_tiny"

    def without_mix(c):
        del c["datasets"]["speech_tiny"]
        c["steering"]["dataset"] = None
    with pytest.raises(ConfigError, match=exactly(
            "steering.dataset: no dataset with both speech and non-speech clips is configured; name one")):
        checked(without_mix)


# ------------------------------------------------------------------ eeg, acoustics, archives


def test_eeg_layer_out_of_range():
    with pytest.raises(ConfigError, match=exactly("eeg.layer: layer 5 does not exist in whisper_tiny_en (layers 0..4)")):
        checked(lambda c: c["eeg"].update(layer=5))
    with pytest.raises(ConfigError, match=exactly("eeg.layers: layer 8 does not exist in whisper_tiny_en (layers 0..4)")):
        checked(lambda c: c["eeg"].update(layers=[1, 8]))
    with pytest.raises(ConfigError, match=r"^eeg.model: unknown model 'whisper_xl'; registered models: "):
        checked(lambda c: c["eeg"].update(model="whisper_xl"))
    checked(lambda c: c["eeg"].update(enabled=False, layer=5))


@pytest.mark.parametrize("edit, message", [
    (lambda a: a.update(dataset="nowhere"), "acoustics.dataset: 'nowhere' is not a configured dataset (vocalset_tiny, speech_tiny)"),
    (lambda a: a.update(models=["whisper_xl"]), "acoustics.models: unknown model 'whisper_xl'; registered models: "),
    (lambda a: a.update(steering={"enabled": True, "models": ["encodec_24khz"]}),
     "acoustics.steering.models: 'encodec_24khz' is not among the acoustics models (whisper_tiny_en)"),
    (lambda a: a.update(steering={"enabled": True, "models": ["whisper_tiny_en"], "expansion": 16}),
     "acoustics.steering.expansion: 16 is not one of acoustics.sae.expansions [2]"),
    (lambda a: a.update(generation={"enabled": True, "expansion": 2, "l1": 0.1}),
     "acoustics.generation.l1: 0.1 is not one of acoustics.sae.l1_coefficients [0.03, 0.3]"),
], ids=["dataset", "model", "steering-model", "steering-expansion", "generation-l1"])
def test_acoustics_options_refer_to_configured_things(edit, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        checked(lambda c: edit(c["acoustics"]))


def test_an_archive_shared_by_two_datasets_must_be_configured_alike():
    md5 = "0" * 32

    def two(c):
        c["datasets"]["vs_a"] = {"kind": "vocalset", "test_singers": ["f2"]}
        c["datasets"]["vs_b"] = {"kind": "vocalset", "test_singers": ["f2"], "md5": md5}
    with pytest.raises(ConfigError, match=exactly(
            "datasets.vs_b: VocalSet11.zip is also downloaded by datasets.vs_a with a different md5; configure both alike")):
        checked(two)
    cfg = validated(lambda c: c["datasets"].update(vs_a={"kind": "vocalset"}, vs_b={"kind": "vocalset", "techniques": 17}))
    assert list(archive_sources(cfg)) == ["VocalSet11.zip"]  # one download for both
