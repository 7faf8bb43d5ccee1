# Names and input functions of the EEG branch (rules/eeg.smk), derived from the config's eeg section. The stimuli are
# a dataset of kind eeg_stimuli (audiosae.plan.study_datasets): prepared, extracted and given their SAE by the study's
# common rules.
from audiosae.data import eeg_bids
from audiosae.models.registry import get_model_spec
from audiosae.plan import eeg_bids_root, eeg_dataset, eeg_runs, eeg_sae_folder

EEG = config["eeg"]
EEG_SRC = EEG["source"]
EEG_MODEL = EEG["model"]
EEG_DATASET = eeg_dataset(config)
EEG_STIM = f"resources/datasets/{EEG_DATASET}"
EEG_ACTIVATIONS = ACTIVATIONS.format(dataset=EEG_DATASET, model=EEG_MODEL)
EEG_RES = f"results/eeg/{EEG_SRC}/{EEG_MODEL}"
EEG_SIM = "resources/eeg/simulated/recordings"
EEG_BIDS = eeg_bids_root(config)
EEG_SAE = eeg_sae_folder(PLAN) if EEG["enabled"] else None
EEG_LAYERS = get_model_spec(EEG_MODEL).layers if EEG["layers"] == "all" else sorted(set(EEG["layers"]))
EEG_RUNS = eeg_runs(config)
if EEG_SRC == "simulated":
    EEG_LISTENERS = [f"sub-{i:02d}" for i in range(1, EEG["simulation"]["listeners"] + 1)]
else:
    EEG_LISTENERS = [eeg_bids.subject_label(s) for s in EEG["broderick"]["subjects"]]
EEG_TABLES = ["channels", "features", "layers", "trfs"]
EEG_FIGURES = ["topomaps", "layers", "trfs"]
EEG_STIMULI = {"runs": f"{EEG_STIM}/runs.csv", "clips": f"{EEG_STIM}/clips.csv", "audio": f"{EEG_STIM}/audio"}


def eeg_targets():
    if not EEG["enabled"]:
        return []
    return [f"results/tables/eeg/{EEG_SRC}/{EEG_MODEL}/{t}.csv" for t in EEG_TABLES] + [
        f"results/figures/eeg/{EEG_SRC}/{EEG_MODEL}/{name}.{ext}"
        for name in EEG_FIGURES
        for ext in config["figures"]["formats"]
    ]


TARGET_FUNCTIONS.append(eeg_targets)


def eeg_recordings(wildcards):
    if EEG_SRC == "simulated":
        return {
            "recordings": f"{EEG_SIM}/recordings.csv",
            "fif": [f"{EEG_SIM}/{wildcards.listener}_run-{r:02d}_eeg.fif" for r in EEG_RUNS],
        }
    return {
        "top": [f"{EEG_BIDS}/{f}" for f in eeg_bids.TOP_FILES],
        "bids": [f"{EEG_BIDS}/{p}" for r in EEG_RUNS for p in eeg_bids.run_files(wildcards.listener, r)],
        "stimuli": [f"{EEG_BIDS}/{eeg_bids.stimulus_file(r)}" for r in EEG_RUNS],  # their durations crop the EEG
    }
