# Names, wildcards and target lists derived from the validated config. Every SAE path and its options come from
# the study's plan (audiosae.plan): branches ask it for their SAE folders and activation files.
import re
from pathlib import Path

from audiosae.cluster import extraction_hours, grow, runtime_min, sae_hours, sae_mem_mb
from audiosae.config import archive_sources, dataset_models, model_options, sae_layers
from audiosae.data.kinds import get_kind
from audiosae.models.registry import get_model_spec
from audiosae.plan import ACTIVATIONS, SAE_TEMPLATE, SWEEP_PATTERN, browser_saes, sae_plan, study_datasets

DATASETS = list(config["datasets"])  # the configured datasets: every dataset-level analysis runs on these
STUDY_DATASETS = study_datasets(config)  # and the corpora a branch adds (the EEG stimuli): prepared and extracted alike
MODELS = config["models"]
PLAN = sae_plan(config)
SAE_DIR = SAE_TEMPLATE
CLIPS = "resources/datasets/{dataset}/clips.csv"


wildcard_constraints:
    dataset="[A-Za-z0-9_]+",
    model="[A-Za-z0-9_]+",
    layer="[0-9]+",
    sweep=SWEEP_PATTERN,
    variant="[a-z_]+",
    width="x[0-9.]+|d[0-9]+",
    sparsity="[0-9.e-]+",
    seed="[0-9]+",


# Each .smk file adds a function returning its targets; `rule all` and `rule figures` (Snakefile) collect them.
TARGET_FUNCTIONS = []


def study_targets():
    return [t for fn in TARGET_FUNCTIONS for t in fn()]


def planned_sae(wildcards):
    """The planned SAE of a train_sae (or browser) job; a folder the plan does not list is an error naming it."""
    return PLAN.at(SAE_DIR.format(**{k: wildcards[k] for k in ("dataset", "model", "layer", "sweep", "variant", "width", "sparsity", "seed")}))


def sae_inputs(wildcards):
    """Inputs of a train_sae job: the activations and clips of its dataset, and the model for Whisper's splice cost."""
    sae = planned_sae(wildcards)
    inputs = {"activations": sae.activations, "clips": CLIPS.format(dataset=sae.dataset)}
    if sae.downstream:
        inputs["model"] = f"resources/models/{sae.model}"
    return inputs


def sae_job_mem_mb(wildcards, attempt):
    """Memory of a train_sae job from its SAE's size (audiosae.cluster), times the attempt."""
    sae = planned_sae(wildcards)
    d_in = get_model_spec(sae.model).dim(sae.layer)
    d_sae = sae.options["d_sae"] or int(sae.options["expansion"] * d_in)
    return sae_mem_mb(d_in, d_sae, sae.options["batch_size"], sae.options["memory_mb"], attempt)


def sae_job_runtime(wildcards, attempt):
    """Runtime limit of a train_sae job from its SAE's size and training length (audiosae.cluster), times the attempt."""
    sae = planned_sae(wildcards)
    d_in = get_model_spec(sae.model).dim(sae.layer)
    d_sae = sae.options["d_sae"] or int(sae.options["expansion"] * d_in)
    steps = sae.options["steps"] if not sae.options.get("epochs") else sae.options["epochs"] * 200  # preset by epochs
    hours = sae_hours(d_in, d_sae, steps, sae.options["batch_size"]) + (0.25 if sae.downstream else 0.0)
    return runtime_min(hours, attempt)


def sae_dirs(dataset, model, layers=None):
    """The main sweep's own SAEs of one dataset x model (optionally restricted to some layers)."""
    return [s.path for s in PLAN.select(sweep="main", dataset=dataset, model=model, swept=True) if layers is None or s.layer in layers]


def dataset_root(wildcards):
    return f"resources/datasets/{wildcards.dataset}"


def figure_paths(dataset, model, name):
    return [f"results/figures/{dataset}/{model}/{name}.{ext}" for ext in config["figures"]["formats"]]


def dataset_targets():
    targets = []
    for dataset in DATASETS:
        for model in dataset_models(config, dataset):
            if config["datasets"][dataset]["probe_targets"]:  # datasets without labels to probe skip probing
                targets += figure_paths(dataset, model, "probing")
            targets += figure_paths(dataset, model, "reconstruction")
            for name in ("sparsity_statistics", "feature_density", "training_curves"):
                targets += figure_paths(dataset, model, name)
    return targets


TARGET_FUNCTIONS.append(dataset_targets)


# Datasets: kinds, audio folders, archives to download (audiosae.data.kinds).
DATASET_KINDS = {name: ds["kind"] for name, ds in STUDY_DATASETS.items()}


def datasets_of_kind(kind):
    """Wildcard regex matching exactly the study's datasets of one kind."""
    return "|".join(re.escape(n) for n, k in sorted(DATASET_KINDS.items()) if k == kind)


def dataset_audio(wildcards):
    """The audio folder of a dataset (extraction and the clip table read it)."""
    return f"resources/datasets/{wildcards.dataset}/{get_kind(DATASET_KINDS[wildcards.dataset]).audio_dir}"


def dataset_source(name):
    return get_kind(DATASET_KINDS[name]).source(STUDY_DATASETS[name])


ARCHIVES = archive_sources(config, STUDY_DATASETS)
# Datasets made of registry recordings (their clip tables carry licence and attribution).
PACKAGE_DATASETS = [name for name, ds in sorted(STUDY_DATASETS.items()) if get_kind(ds["kind"]).packages(ds)]


def prepare_inputs(wildcards):
    ds = STUDY_DATASETS[wildcards.dataset]
    inputs = dict(get_kind(ds["kind"]).inputs(ds))
    source = dataset_source(wildcards.dataset)
    if source is not None:
        inputs["archive"] = f"resources/downloads/{source.filename}"
    packages = get_kind(ds["kind"]).packages(ds)
    if packages:
        inputs["packages"] = [f"resources/downloads/{p.filename}" for p in packages]
    return inputs


# Feature browser (rules/browser.smk): one folder per SAE, beside the SAE's own path.
BROWSER_DIR = SAE_DIR.replace("results/sae/", "results/browser/", 1)


def browser_pages():
    """The index.html of the browser folder of every SAE that gets a page (audiosae.plan.browser_saes)."""
    return [f"{s.path.replace('results/sae/', 'results/browser/', 1)}/index.html" for dataset in DATASETS
            for model in dataset_models(config, dataset) for s in browser_saes(PLAN, dataset, model)]


def browser_association_tables(wildcards):
    """Hooks: per-feature association tables (e.g. eGeMAPS or EEG correlations) shown on the feature pages."""
    return {
        f"assoc_{name}": pattern.format(dataset=wildcards.dataset, model=wildcards.model)
        for name, pattern in config["browser"]["association_tables"].items()
    }


def plot_code(*modules):
    """The plotting code (the style and the given modules) as inputs of a figure: a style change redraws it."""
    return [str(Path(workflow.basedir) / "src" / "audiosae" / "plots" / name) for name in ("style.py", *modules)]


# Stored artefacts (rules/verify.smk): every activation store and every planned SAE's files.
STORED_ACTIVATIONS = sorted({s.activations for s in PLAN} | {ACTIVATIONS.format(dataset=d, model=m) for d in DATASETS for m in dataset_models(config, d)})
STORED_SAE_FILES = [f"{s.path}/{name}" for s in PLAN for name in ("sae_weights.safetensors", "cfg.json", "metrics.json")]

