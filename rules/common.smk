# Names, wildcards and target lists derived from the validated config.
import re
from pathlib import Path

import yaml

from audiosae.config import check_config, sae_config, sae_layers, sae_variants, sparsity_tag
from audiosae.data.kinds import get_kind
from audiosae.models.registry import get_model_spec

with open(Path(workflow.basedir) / "config" / "schema.yaml") as _f:
    check_config(config, sae_schema=yaml.safe_load(_f)["properties"]["sae"])

DATASETS = list(config["datasets"])
MODELS = config["models"]
SAE_DIR = "results/sae/{dataset}/{model}/layer{layer}/{variant}-s{sparsity}-seed{seed}"


wildcard_constraints:
    dataset="[A-Za-z0-9_]+",
    model="[A-Za-z0-9_]+",
    layer="[0-9]+",
    variant="[a-z]+",
    sparsity="[0-9.]+",
    seed="[0-9]+",


def dataset_root(wildcards):
    return f"resources/datasets/{wildcards.dataset}"


# Each variant sweeps its own sparsity parameter: s (topk, batchtopk), L1 weight (relu), target L0 (jumprelu).
SAE_SPARSITY_KEY = {"topk": "sparsities", "batchtopk": "sparsities", "relu": "l1_coefficients", "jumprelu": "target_l0s"}


def sae_dirs(dataset, model, layers=None):
    """Every SAE folder of one dataset x model (optionally restricted to some layers)."""
    cfg = sae_config(config, dataset)
    return [
        SAE_DIR.format(dataset=dataset, model=model, layer=layer, variant=variant, sparsity=sparsity_tag(s), seed=seed)
        for layer in (layers if layers is not None else sae_layers(config, model, dataset))
        for variant in sae_variants(config, dataset)
        for s in cfg[SAE_SPARSITY_KEY[variant]]
        for seed in cfg["seeds"]
    ]


def downstream_inputs(wildcards):
    """The model folder, when the SAE's metrics include Whisper's splice cost (sae.downstream): sweep SAEs
    (not paper B's extra seeds) of Whisper models, trained on frames, on datasets with transcripts."""
    cfg = sae_config(config, wildcards.dataset)
    wanted = (
        cfg["downstream"]["enabled"]
        and cfg["train_on"] == "frames"
        and get_model_spec(wildcards.model).family == "whisper"
        and get_kind(DATASET_KINDS[wildcards.dataset]).transcripts
        and SAE_DIR.format(**dict(wildcards.items())) in sae_dirs(wildcards.dataset, wildcards.model)
    )
    return {"model": f"resources/models/{wildcards.model}"} if wanted else {}


def figure_paths(dataset, model, name):
    return [f"results/figures/{dataset}/{model}/{name}.{ext}" for ext in config["figures"]["formats"]]


def all_targets():
    targets = []
    for dataset in DATASETS:
        for model in MODELS:
            if config["datasets"][dataset]["probe_targets"]:  # datasets without labels to probe skip probing
                targets += figure_paths(dataset, model, "probing")
            targets += figure_paths(dataset, model, "reconstruction")
            targets += disentanglement_targets(dataset, model)  # rules/disentanglement.smk
            for name in ("sparsity_statistics", "feature_density", "training_curves"):
                targets += figure_paths(dataset, model, name)
    if config["browser"]["enabled"]:
        targets.append("results/browser/index.html")
    targets += eeg_targets()  # rules/eeg.smk
    targets += acoustics_targets()  # rules/acoustics.smk
    return targets


# Datasets: kinds, audio folders, archives to download (audiosae.data.kinds).
DATASET_KINDS = {name: ds["kind"] for name, ds in config["datasets"].items()}


def datasets_of_kind(kind):
    """Wildcard regex matching exactly the configured datasets of one kind."""
    return "|".join(re.escape(n) for n, k in sorted(DATASET_KINDS.items()) if k == kind)


def dataset_audio(wildcards):
    """The audio folder of a dataset (extraction and the clip table read it)."""
    return f"resources/datasets/{wildcards.dataset}/{get_kind(DATASET_KINDS[wildcards.dataset]).audio_dir}"


def dataset_source(name):
    return get_kind(DATASET_KINDS[name]).source(config["datasets"][name])


def archive_sources():
    """Archive file name -> Source, for every dataset that downloads one (shared between datasets)."""
    sources = {}
    for name in DATASET_KINDS:
        source = dataset_source(name)
        if source is None:
            continue
        if source.filename in sources and sources[source.filename] != source:
            raise ValueError(f"datasets.{name}: {source.filename} is configured twice with different url or checksum")
        sources[source.filename] = source
    return sources


ARCHIVES = archive_sources()


def prepare_inputs(wildcards):
    ds = config["datasets"][wildcards.dataset]
    inputs = {}
    source = dataset_source(wildcards.dataset)
    if source is not None:
        inputs["archive"] = f"resources/downloads/{source.filename}"
    if ds["kind"] == "folder":
        inputs["labels"] = ds["labels"]
    return inputs


# Feature browser (rules/browser.smk): one folder per SAE, beside the SAE's own path.
BROWSER_DIR = SAE_DIR.replace("results/sae/", "results/browser/", 1)


def browser_pages():
    """The index.html of every SAE's browser folder."""
    return [
        str(Path(d.replace("results/sae/", "results/browser/", 1)) / "index.html")
        for dataset in DATASETS
        for model in MODELS
        for d in sae_dirs(dataset, model)
    ]


def browser_association_tables(wildcards):
    """Hooks: per-feature association tables (e.g. eGeMAPS or EEG correlations) shown on the feature pages."""
    return {
        f"assoc_{name}": pattern.format(dataset=wildcards.dataset, model=wildcards.model)
        for name, pattern in config["browser"]["association_tables"].items()
    }
