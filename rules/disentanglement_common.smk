# Names and input functions of rules/disentanglement.smk (included from there).
DIS_CFG = config["disentanglement"]
DIS_TABLES = ["disentanglement", "dimensions", "regression"]


# Figures of these tables: figure file name -> (table it is drawn from, plotting function in audiosae.plots.figures).
DIS_FIGURES = {
    "disentanglement": ("disentanglement", "dci_vs_layer"),
    "disentanglement_groups": ("disentanglement", "dci_by_factor_group"),
    "true_factors": ("disentanglement", "true_factor_disentanglement"),
    "dimensions_needed": ("dimensions", "dimensions_needed_vs_layer"),
    "layer_profile": ("layer_profile", "layer_profile_figure"),
}


def disentangle_inputs(wildcards):
    inputs = {
        "activations": f"results/activations/{wildcards.dataset}/{wildcards.model}.h5",
        "clips": f"resources/datasets/{wildcards.dataset}/clips.csv",
        "saes": [f"{d}/cfg.json" for d in sae_dirs(wildcards.dataset, wildcards.model, [int(wildcards.layer)])],
    }
    if DIS_CFG["egemaps"]:
        inputs["egemaps"] = f"results/features/{wildcards.dataset}/egemaps.csv"
    return inputs


def layer_tables(name):
    return lambda wildcards: expand(
        f"results/tables/{name}/{{dataset}}/{{model}}/layer{{layer}}.csv",
        dataset=wildcards.dataset,
        model=wildcards.model,
        layer=sae_layers(config, wildcards.model, wildcards.dataset),
    )


def profile_inputs(wildcards):
    inputs = {"regression": f"results/tables/regression/{wildcards.dataset}/{wildcards.model}.csv"}
    if config["datasets"][wildcards.dataset]["probe_targets"]:
        inputs["probing"] = f"results/tables/probing/{wildcards.dataset}/{wildcards.model}.csv"
    return inputs


def disentanglement_targets():
    """Figures (and through them every table) of this file, when the analysis is switched on."""
    if not DIS_CFG["enabled"]:
        return []
    datasets = DIS_CFG["datasets"] if DIS_CFG["datasets"] is not None else DATASETS
    return [p for dataset in datasets for model in dataset_models(config, dataset) for name in DIS_FIGURES for p in figure_paths(dataset, model, name)]


TARGET_FUNCTIONS.append(disentanglement_targets)
