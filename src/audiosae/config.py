"""Checks of a schema-validated config that a JSON schema cannot express; each error names the key."""
from __future__ import annotations

from .models.registry import MODELS, check_remote_code, get_model_spec
from .sae.model import k_from_sparsity


class ConfigError(ValueError):
    pass


def sparsity_tag(sparsity: float) -> str:
    """The sparsity as it appears in paths: 0.9 -> '0.9', 0.75 -> '0.75'."""
    return f"{float(sparsity):g}"


def sae_config(config: dict, dataset: str | None = None) -> dict:
    """The sae section, with ``datasets.<dataset>.sae`` (a partial override for that dataset) applied."""
    merged = dict(config["sae"])
    if dataset is not None:
        for key, value in (config["datasets"][dataset].get("sae") or {}).items():
            # Nested options (downstream) override key by key as well.
            merged[key] = {**merged[key], **value} if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def sae_variants(config: dict, dataset: str | None = None) -> list[str]:
    sae = sae_config(config, dataset)
    return [sae["variant"]] if sae.get("variant") else list(sae["variants"])


def sae_layers(config: dict, model: str, dataset: str | None = None) -> list[int]:
    layers = sae_config(config, dataset)["layers"]
    return get_model_spec(model).layers if layers == "all" else sorted(set(layers))


def d_sae_for(config: dict, model: str, layer: int | None = None, dataset: str | None = None) -> int:
    """Dictionary size; with ``layer``, expansion times that layer's width (CNN layers differ in width)."""
    sae = sae_config(config, dataset)
    spec = get_model_spec(model)
    return int(sae["d_sae"] or sae["expansion"] * (spec.dim(layer) if layer is not None else spec.d_model))


def model_options(config: dict, model: str) -> dict:
    """Per-model options (hub revision, trust_remote_code) with their defaults."""
    opts = (config.get("model_options") or {}).get(model) or {}
    return {"revision": opts.get("revision"), "trust_remote_code": bool(opts.get("trust_remote_code", False))}


def _sae_scopes(config: dict) -> list[tuple[str, str | None]]:
    """(config key, dataset) of the sae section and of every dataset that overrides it."""
    return [("sae", None)] + [(f"datasets.{n}.sae", n) for n, ds in config["datasets"].items() if ds.get("sae")]


def _check_sae_overrides(config: dict, sae_schema: dict) -> None:
    """Each dataset's sae override, merged into the sae section, must still satisfy the section's schema."""
    import jsonschema

    for key, dataset in _sae_scopes(config)[1:]:  # the sae section itself was validated with the whole config
        errors = sorted(jsonschema.Draft202012Validator(sae_schema).iter_errors(sae_config(config, dataset)), key=str)
        if errors:
            where = ".".join(str(p) for p in errors[0].absolute_path)
            raise ConfigError(f"{key}{'.' + where if where else ''}: {errors[0].message}")


def check_config(config: dict, sae_schema: dict | None = None) -> None:
    """``sae_schema`` (the schema of the sae section) also checks the per-dataset sae overrides."""
    if sae_schema is not None:
        _check_sae_overrides(config, sae_schema)
    for model in config["models"]:
        if model not in MODELS:
            raise ConfigError(f"models: unknown model {model!r}; registered models: {', '.join(sorted(MODELS))}")
        spec = MODELS[model]
        for key, dataset in _sae_scopes(config):
            for layer in sae_layers(config, model, dataset):
                if layer not in spec.layers:
                    raise ConfigError(f"{key}.layers: layer {layer} does not exist in {model} "
                                      f"(layers {spec.layers[0]}..{spec.layers[-1]})")
                d_sae = d_sae_for(config, model, layer, dataset)
                for s in sae_config(config, dataset)["sparsities"]:
                    try:
                        k_from_sparsity(s, d_sae)
                    except ValueError as exc:
                        raise ConfigError(f"{key}.sparsities: {exc} for model {model} layer {layer}") from None
        try:
            check_remote_code(spec, model_options(config, model)["trust_remote_code"])
        except ValueError as exc:
            raise ConfigError(f"model_options.{model}.trust_remote_code: {exc}") from None
    for model, opts in (config.get("model_options") or {}).items():
        if model not in config["models"]:
            raise ConfigError(f"model_options.{model}: {model!r} is not in models {config['models']}")
        if opts and opts.get("revision") and MODELS[model].source != "hub":
            raise ConfigError(f"model_options.{model}.revision: {model} is not a hub model "
                              f"(its weights come from {MODELS[model].source}); remove the revision")
    for key, dataset in _sae_scopes(config):
        sparsities = sae_config(config, dataset)["sparsities"]
        tags = [sparsity_tag(s) for s in sparsities]
        if len(set(tags)) != len(tags):
            raise ConfigError(f"{key}.sparsities: duplicate values {sparsities}")
    for name, ds in config["datasets"].items():
        if ds["kind"] == "vocalset_synth":
            unknown = set(ds["test_singers"]) - set(ds["singers"])
            if unknown:
                raise ConfigError(f"datasets.{name}.test_singers: {sorted(unknown)} are not among datasets.{name}.singers")
            if set(ds["test_singers"]) == set(ds["singers"]):
                raise ConfigError(f"datasets.{name}.test_singers: every singer is held out; no one is left to train on")
        if ds["kind"] in ("speech_synth", "speech_nonspeech_synth") and ds.get("test_speakers"):
            unknown = set(ds["test_speakers"]) - set(ds["speakers"])
            if unknown:
                raise ConfigError(f"datasets.{name}.test_speakers: {sorted(unknown)} are not among datasets.{name}.speakers")
            if set(ds["test_speakers"]) == set(ds["speakers"]):
                raise ConfigError(f"datasets.{name}.test_speakers: every speaker is held out; no one is left to train on")
        if ds["kind"] == "esc50" and ds["test_fold"] == ds["valid_fold"]:
            raise ConfigError(f"datasets.{name}: test_fold and valid_fold are both {ds['test_fold']}")
        if ds["kind"] == "folder" and "split" not in ds and ds["test_fraction"] + ds["valid_fraction"] >= 1:
            raise ConfigError(f"datasets.{name}: test_fraction + valid_fraction leaves nothing to train on")
