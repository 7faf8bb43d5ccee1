# Names and input functions of paper B's stability, concept-ablation and steering branches (rules/stability.smk,
# rules/concepts.smk, rules/steering.smk). The SAEs they read are the main sweep's, taken from the plan
# (audiosae.plan), which also lists those the sweep itself does not train (extra seeds, other layers).
from audiosae.config import concept_datasets, steering_dataset
from audiosae.plan import (
    concept_folders,
    stability_folders as _stability_folders,
    stability_pairs,
    stability_plan_for,
    steering_folders,
    steering_models,
)

STAB = config["stability"]
CONC = config["concepts"]
STEER = config["steering"]


def stability_folders(wildcards):
    """'<layer>_<seed>' (or '<layer>_<seed>_<fraction>', stability.row_fractions) -> SAE folder of every SAE the
    stability table of one dataset x model reads."""
    return _stability_folders(PLAN, wildcards.dataset, wildcards.model)


def stability_inputs(wildcards):
    return [f"{d}/sae_weights.safetensors" for d in stability_folders(wildcards).values()]


def concept_sae_dirs(wildcards):
    return concept_folders(PLAN, wildcards.dataset, wildcards.model)


def steering_sae_dirs(wildcards):
    return steering_folders(PLAN, wildcards.dataset, wildcards.model)


def paper_b_targets():
    targets = []
    for dataset, model in stability_pairs(config):
        targets.append(f"results/tables/stability/{dataset}/{model}.csv")
        targets += figure_paths(dataset, model, "stability")
    if CONC["enabled"]:
        for dataset in concept_datasets(config):
            for model in dataset_models(config, dataset):
                targets.append(f"results/tables/concepts/{dataset}/{model}.csv")
                targets += figure_paths(dataset, model, "concept_ablation")
    for model in steering_models(config):
        targets.append(f"results/tables/steering/{steering_dataset(config)}/{model}.csv")
        targets += figure_paths(steering_dataset(config), model, "steering")
    return targets


TARGET_FUNCTIONS.append(paper_b_targets)
