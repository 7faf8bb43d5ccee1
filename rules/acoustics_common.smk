# Paper C's acoustic-property branch (rules/acoustics.smk): names and target lists from the config's acoustics
# section; its SAE grid (width x L1 weight) is the plan's acoustics sweep, trained by train_sae.
from audiosae.plan import acoustic_dataset, acoustic_folder, acoustic_folders, acoustic_layers, acoustic_models

ACOUSTICS = config["acoustics"]
AC_DATASET = acoustic_dataset(config)
AC_MODELS = acoustic_models(config)
AC_STEER = ACOUSTICS["steering"]
AC_GEN = ACOUSTICS["generation"]
AC_GEN_MODEL = AC_GEN["model"] or AC_MODELS[0]
AC_DIR = "results/acoustics/{dataset}/{model}"


def acoustic_sae_dirs(wildcards):
    """Every SAE of the grid on one layer."""
    return acoustic_folders(PLAN, wildcards.dataset, wildcards.model, int(wildcards.layer))


def acoustic_layer_tables(wildcards, kind):
    return [f"results/acoustics/{wildcards.dataset}/{wildcards.model}/probes/layer{layer}_{kind}.csv"
            for layer in acoustic_layers(config, wildcards.model)]


def acoustics_targets():
    if not ACOUSTICS["enabled"]:
        return []
    targets = []
    for model in AC_MODELS:
        targets += [f"results/tables/acoustics/{AC_DATASET}/{model}_crepe_error.csv",
                    f"results/tables/acoustics/{AC_DATASET}/{model}_probes.csv",
                    f"results/tables/acoustics/{AC_DATASET}/{model}_top_features.csv"]
        targets += figure_paths(AC_DATASET, model, "acoustic_probes")
    steer = ACOUSTICS["steering"]
    if steer["enabled"]:
        for model in steer["models"]:
            targets += [f"results/tables/acoustics/{AC_DATASET}/{model}_steering_summary.csv"]
            targets += figure_paths(AC_DATASET, model, "codec_steering")
    if AC_GEN["enabled"]:
        for name in AC_GEN["trajectories"]:
            targets += [f"results/tables/acoustics/generation/{name}_settling.csv"]
            targets += [f"results/figures/generation/{name}.{ext}" for ext in config["figures"]["formats"]]
    return targets


TARGET_FUNCTIONS.append(acoustics_targets)
