# Names and input functions of the offline rehearsal (rules/rehearsal.smk; config/rehearsal.yaml, rehearsal.enabled;
# audiosae.rehearsal): the same rules,
# targets and options, with stand-ins for what an offline machine lacks. Dataset archives: a miniature in the
# real layout, fetched over file:// by download_archive and verified against its sha256. The Broderick EEG: a
# miniature BIDS copy fetched by the eeg_download rules. Hub models: a random-init model of the same class and
# layer count, loaded by prepare_model in place of the hub (provenance.json, cfg.json: random_init).
from audiosae.models.registry import get_model_spec as _spec_of

REHEARSAL = config["rehearsal"]
REHEARSAL_MIRROR = "resources/rehearsal/mirror"
REHEARSAL_HUB = "resources/rehearsal/hub"
REHEARSAL_BIDS = "resources/rehearsal/ds004408"


def rehearsal_download_inputs(wildcards):
    """download_archive's extra inputs in a rehearsal: the miniature archive and its sha256."""
    if not REHEARSAL["enabled"]:
        return {}
    return {"mirror": f"{REHEARSAL_MIRROR}/{wildcards.archive}", "mirror_sha256": f"{REHEARSAL_MIRROR}/{wildcards.archive}.sha256"}


def rehearsal_model_inputs(wildcards):
    """prepare_model's extra input in a rehearsal: the random-init stand-in of a hub model."""
    if not REHEARSAL["enabled"] or _spec_of(wildcards.model).source != "hub":
        return {}
    return {"stand_in": f"{REHEARSAL_HUB}/{wildcards.model}"}


def rehearsal_bids_inputs(wildcards):
    return {"mirror": REHEARSAL_BIDS} if REHEARSAL["enabled"] else {}


def eeg_source_url():
    """Where the eeg_download rules fetch ds004408 from: OpenNeuro, or in a rehearsal the miniature copy."""
    if REHEARSAL["enabled"]:
        return Path(REHEARSAL_BIDS).resolve().as_uri()
    return config["eeg"]["broderick"]["url"]


# One job writes every stand-in of a kind: the rehearsal's cost is mostly start-up per job.
REHEARSAL_ARCHIVES = {dataset_source(n).filename: ds["kind"] for n, ds in STUDY_DATASETS.items() if dataset_source(n) is not None}
REHEARSAL_MODELS = sorted({m for m in [*config["models"], *(config["acoustics"]["models"] or []), config["eeg"]["model"]]
                           if _spec_of(m).source == "hub"})
