# Names and input functions of paper B's stability, concept-ablation and steering branches (rules/stability.smk,
# rules/concepts.smk, rules/steering.smk), derived from the config's stability, concepts and steering sections.
from pathlib import Path

from audiosae.analysis.stability import sae_folders_needed, stability_plan
from audiosae.models.registry import get_model_spec

STAB = config["stability"]
CONC = config["concepts"]


def _check_layers(key, layers):
    for model in MODELS:
        model_layers = get_model_spec(model).layers
        for layer in layers:
            if layer not in model_layers:
                raise ValueError(f"{key}: layer {layer} does not exist in {model} (layers {model_layers[0]}..{model_layers[-1]})")


def _check_datasets(key, names):
    for name in names or []:
        if name not in DATASETS:
            raise ValueError(f"{key}: {name!r} is not a configured dataset ({', '.join(DATASETS)})")


if STAB["enabled"]:
    _check_layers("stability.layers", STAB["layers"])
    _check_datasets("stability.datasets", STAB["datasets"])
if CONC["enabled"]:
    _check_layers("concepts.layers", CONC["layers"])
    _check_datasets("concepts.datasets", CONC["datasets"])


def paper_b_sae_dir(dataset, model, layer, sparsity, seed):
    return SAE_DIR.format(dataset=dataset, model=model, layer=layer, variant=sae_variants(config, dataset)[0], sparsity=sparsity_tag(sparsity), seed=seed)


def stability_plan_for(model):
    return stability_plan(STAB["layers"], STAB["seeds"], get_model_spec(model).layers, STAB["neighbours"])


def stability_folders(wildcards):
    """(layer, seed) -> SAE folder of every SAE the stability table of one dataset x model reads."""
    return {
        f"{layer}_{seed}": paper_b_sae_dir(wildcards.dataset, wildcards.model, layer, STAB["sparsity"], seed)
        for layer, seed in sae_folders_needed(stability_plan_for(wildcards.model))
    }


def stability_inputs(wildcards):
    return [f"{d}/sae.safetensors" for d in stability_folders(wildcards).values()]


def concept_datasets():
    names = CONC["datasets"] if CONC["datasets"] is not None else DATASETS
    return [n for n in names if config["datasets"][n].get("probe_targets")]


def concept_sparsity(dataset):
    """concepts.sparsity: one value for every dataset, or one per dataset (so that each corpus can reuse an SAE
    of its own sweep instead of training another)."""
    return CONC["sparsity"][dataset] if isinstance(CONC["sparsity"], dict) else CONC["sparsity"]


if CONC["enabled"] and isinstance(CONC["sparsity"], dict):
    _check_datasets("concepts.sparsity", list(CONC["sparsity"]))
    missing = [n for n in concept_datasets() if n not in CONC["sparsity"]]
    if missing:
        raise ValueError(f"concepts.sparsity: no sparsity for {', '.join(missing)} (give one number, or one per analysed dataset)")


def concept_sae_dirs(wildcards):
    seed = sae_config(config, wildcards.dataset)["seeds"][0]
    return [paper_b_sae_dir(wildcards.dataset, wildcards.model, layer, concept_sparsity(wildcards.dataset), seed) for layer in CONC["layers"]]


def paper_b_targets():
    targets = []
    if STAB["enabled"]:
        for dataset in STAB["datasets"] if STAB["datasets"] is not None else DATASETS:
            for model in MODELS:
                targets.append(f"results/tables/stability/{dataset}/{model}.csv")
                targets += figure_paths(dataset, model, "stability")
    if CONC["enabled"]:
        for dataset in concept_datasets():
            for model in MODELS:
                targets.append(f"results/tables/concepts/{dataset}/{model}.csv")
                targets += figure_paths(dataset, model, "concept_ablation")
    return targets + steering_targets()  # rules/steering.smk


# Steering (rules/steering.smk)
STEER = config["steering"]


def steering_dataset():
    if STEER["dataset"] is not None:
        return STEER["dataset"]
    return next((n for n in DATASETS if DATASET_KINDS[n] == "speech_nonspeech_synth"), None)


def steering_models():
    return [m for m in MODELS if get_model_spec(m).family == "whisper"]


if STEER["enabled"]:
    if steering_dataset() is None:
        raise ValueError("steering.dataset: no dataset with both speech and non-speech clips is configured; name one")
    _check_datasets("steering.dataset", [steering_dataset()])
    if not get_kind(DATASET_KINDS[steering_dataset()]).transcripts:
        raise ValueError(f"steering.dataset: {steering_dataset()!r} ({DATASET_KINDS[steering_dataset()]}) has no transcripts")
    _check_layers("steering.layers", STEER["layers"])


def steering_sae_dirs(wildcards):
    cfg = sae_config(config, wildcards.dataset)
    sparsity = STEER["sparsity"] if STEER["sparsity"] is not None else cfg[SAE_SPARSITY_KEY[sae_variants(config, wildcards.dataset)[0]]][0]
    return {layer: paper_b_sae_dir(wildcards.dataset, wildcards.model, layer, sparsity, cfg["seeds"][0]) for layer in STEER["layers"]}


def steering_targets():
    if not STEER["enabled"]:
        return []
    dataset = steering_dataset()
    targets = []
    for model in steering_models():
        targets.append(f"results/tables/steering/{dataset}/{model}.csv")
        targets += figure_paths(dataset, model, "steering")
    return targets


PLOT_CODE_B = [str(Path(workflow.basedir) / "src" / "audiosae" / "plots" / name) for name in ("style.py", "paper_b.py")]
