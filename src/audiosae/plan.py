"""The study's plan, derived once from the validated config: every dataset the workflow prepares and every SAE
it trains, each SAE with one folder under one template and its complete training options.

Every branch plugs into the same two rules: ``extract_activations`` (one HDF5 per dataset x model) and
``train_sae`` (one job per planned SAE). Branches do not build SAE paths themselves; they ask the plan:

- sweep ``main``: the ``sae`` section per configured dataset (with ``datasets.<name>.sae`` applied), every
  model x layer x variant x sparsity x seed; plus the SAEs that paper B's analyses read from that sweep and the
  sweep itself does not list (stability's extra seeds and neighbouring layers, concepts' and steering's
  layers and sparsities);
- sweep ``eeg``: the frame-level SAE whose features are tested against the EEG, trained on the EEG stimuli,
  a dataset of kind ``eeg_stimuli`` that the eeg section adds (:func:`study_datasets`);
- sweep ``acoustics``: paper C's grid of ReLU + L1 SAEs (width x L1 weight) on the acoustics dataset;
- sweeps ``rows<fraction>`` (e.g. ``rows0.25``): stability's SAE of the main sweep, first two stability seeds,
  trained on a seeded choice of about that fraction of the training clips (``stability.row_fractions``), all
  other options the main sweep's.

A sweep's options are the ``sae`` section's (schema defaults filled in once, by the validation) with the
sweep's own keys on top, so nothing here or in a script falls back to a default of its own. A variant with a
training preset of its own (``paper_a_topk``: paper A's trainer, d_sae 2048) puts it on top of those
(``SAE.train_options``), so its folder, cfg.json and trainer agree.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .config import (concept_datasets, concept_sparsity, dataset_models, ordered, sae_config, sae_layers, sparsity_tag, stability_datasets,
                     steering_dataset)
from .models.registry import get_model_spec
from .sae.model import sparsity_key, variant_class

SAE_TEMPLATE = "results/sae/{dataset}/{model}/layer{layer}/{sweep}/{variant}-{width}-s{sparsity}-seed{seed}"
ACTIVATIONS = "results/activations/{dataset}/{model}.h5"
SWEEPS = ("main", "eeg", "acoustics")
ROWS_SWEEP = "rows"  # + the fraction of training clips: stability's SAEs on part of the training split (rows0.25)
# The {sweep} wildcard: the named sweeps and every rows<fraction> sweep.
SWEEP_PATTERN = "|".join(SWEEPS) + f"|{ROWS_SWEEP}[0-9.e-]+"
# The axes a sweep iterates over; what remains of its options trains each of its SAEs.
SWEEP_AXES = ("variants", "sparsities", "l1_coefficients", "target_l0s", "seeds", "layers", "downstream")


def rows_sweep(fraction: float) -> str:
    """Name of the sweep of SAEs trained on about ``fraction`` of the training clips: 0.25 -> 'rows0.25'."""
    return f"{ROWS_SWEEP}{float(fraction):g}"


def width_tag(expansion: float, d_sae: int | None) -> str:
    """The dictionary size in paths: x<expansion> (times the layer width), or d<d_sae> when it is fixed."""
    return f"d{int(d_sae)}" if d_sae else f"x{float(expansion):g}"


@dataclass(frozen=True)
class PlannedSAE:
    sweep: str
    dataset: str
    model: str
    layer: int
    variant: str
    sparsity: float  # in the variant's meaning: s (topk, batchtopk), L1 weight (relu), target L0 (jumprelu)
    seed: int
    options: dict = field(compare=False, hash=False, repr=False)  # complete training options of this SAE
    downstream: bool = False  # measure Whisper's splice cost (sae.downstream) in metrics.json
    swept: bool = True  # one of the sweep's own grid (False: only an analysis reads it, e.g. stability's seeds)

    @property
    def width(self) -> str:
        return width_tag(self.options["expansion"], self.options["d_sae"])

    @property
    def path(self) -> str:
        return SAE_TEMPLATE.format(dataset=self.dataset, model=self.model, layer=self.layer, sweep=self.sweep,
                                   variant=self.variant, width=self.width, sparsity=sparsity_tag(self.sparsity),
                                   seed=self.seed)

    @property
    def activations(self) -> str:
        return ACTIVATIONS.format(dataset=self.dataset, model=self.model)

    def cfg_meta(self) -> dict:
        """What the checkpoint's cfg.json records of its place in the study."""
        return {"sweep": self.sweep, "dataset": self.dataset, "model": self.model, "expansion": self.options["expansion"],
                "hook_name": get_model_spec(self.model).hook_name(self.layer)}


# ------------------------------------------------------------------------------------------------- datasets


def eeg_dataset(config: dict) -> str | None:
    """Name of the EEG stimuli dataset the eeg section adds (None when the branch is off)."""
    return f"eeg_{config['eeg']['source']}" if config["eeg"]["enabled"] else None


def eeg_bids_root(config: dict) -> str:
    return config["eeg"]["broderick"]["root"] or "resources/eeg/broderick/ds004408"


def study_datasets(config: dict) -> dict[str, dict]:
    """Every dataset the workflow prepares: the configured ones, and the EEG stimuli (kind ``eeg_stimuli``) when
    the eeg section is on. Only the configured ones are analysed by the dataset-level analyses."""
    datasets = dict(config["datasets"])
    name = eeg_dataset(config)
    if name is not None:
        eeg = config["eeg"]
        datasets[name] = {
            "kind": "eeg_stimuli", "source": eeg["source"], "seed": eeg["seed"], "chunk_s": eeg["chunk_s"],
            "simulation": eeg["simulation"], "bids_root": eeg_bids_root(config), "runs": eeg_runs(config),
            "probe_targets": [], "on_bad_audio": "error", "min_duration_s": 0.1, "min_sample_rate": 8000,
        }
    return datasets


def eeg_runs(config: dict) -> list[int]:
    eeg = config["eeg"]
    if eeg["source"] == "simulated":
        return list(range(1, eeg["simulation"]["runs"] + 1))
    return sorted(eeg["broderick"]["runs"])


# ------------------------------------------------------------------------------------------------- sweeps


def sweep_options(config: dict, sweep: str, dataset: str, model: str | None = None) -> dict:
    """The complete options of one sweep on one dataset: the sae section, the sweep's own keys on top."""
    if sweep == "main":
        return sae_config(config, dataset)
    base = dict(config["sae"])
    if sweep == "eeg":
        eeg = config["eeg"]
        own = {k: v for k, v in eeg["sae"].items() if k not in ("path", "sparsity")}
        return {**base, **own, "variants": ["topk"], "train_on": "frames", "d_sae": None, "layers": [eeg["layer"]],
                "sparsities": [eeg["sae"]["sparsity"]], "seeds": [eeg["seed"]]}
    if sweep == "acoustics":
        ac = config["acoustics"]
        own = {k: v for k, v in ac["sae"].items() if k != "expansions"}
        return {**base, **own, "variants": ["relu"], "train_on": "frames", "d_sae": None,
                "layers": acoustic_layers(config, model) if model else ac["layers"],
                "l1_coefficients": list(ac["sae"]["l1_coefficients"]), "seeds": [config["seed"]]}
    if sweep.startswith(ROWS_SWEEP):
        fraction = next((f for f in config["stability"]["row_fractions"] if rows_sweep(f) == sweep), None)
        if fraction is None:
            raise ValueError(f"unknown SAE sweep {sweep!r}: no such fraction in stability.row_fractions "
                             f"({config['stability']['row_fractions']})")
        # The main sweep's options; the trainer keeps about this fraction of the training clips, chosen by the
        # study seed (the same clips for every SAE seed: a pair differs by its seed only).
        return {**sae_config(config, dataset), "train_fraction": float(fraction), "train_fraction_seed": config["seed"]}
    raise ValueError(f"unknown SAE sweep {sweep!r}; sweeps: {', '.join(SWEEPS)}, {ROWS_SWEEP}<fraction>")


def acoustic_dataset(config: dict) -> str:
    return config["acoustics"]["dataset"] or next(iter(config["datasets"]))


def acoustic_models(config: dict) -> list[str]:
    return config["acoustics"]["models"] or config["models"]


def acoustic_layers(config: dict, model: str) -> list[int]:
    """The configured acoustic layers the model has (a codec latent has only layer 0)."""
    have = get_model_spec(model).layers
    return [layer for layer in config["acoustics"]["layers"] if layer in have] or have[:1]


class SAEPlan:
    """Every SAE of the study, by folder; built by :func:`sae_plan`."""

    def __init__(self, config: dict):
        self.config = config
        self.by_path: dict[str, PlannedSAE] = {}
        self.frozen = False  # set by sae_plan once every sweep and analysis is listed: later asks only look up

    def add(self, sweep: str, dataset: str, model: str, layer: int, variant: str, sparsity: float, seed: int,
            options: dict, downstream: bool = False, expansion: float | None = None, swept: bool = True) -> PlannedSAE:
        train = {k: v for k, v in options.items() if k not in SWEEP_AXES}
        if expansion is not None:
            train["expansion"] = expansion
        train = variant_class(variant).train_options(train)  # a variant's training preset (paper_a_topk), if any
        if downstream:
            train["downstream"] = options["downstream"]
        sae = PlannedSAE(sweep, dataset, model, int(layer), variant, float(sparsity), int(seed), ordered(train),
                         downstream, swept)
        if self.frozen:  # an analysis asking for an SAE the plan does not list is a bug, not a new job
            return self.at(sae.path)
        return self.by_path.setdefault(sae.path, sae)

    def __iter__(self):
        return iter(self.by_path.values())

    def __len__(self) -> int:
        return len(self.by_path)

    def at(self, path: str) -> PlannedSAE:
        path = path.rstrip("/")
        if path not in self.by_path:
            near = sorted(p for p in self.by_path if p.rsplit("/", 2)[0] == path.rsplit("/", 2)[0])[:6]
            raise KeyError(f"{path}: not an SAE of this study's plan (config sections sae, datasets.<name>.sae, "
                           f"eeg.sae, acoustics.sae)" + (f"; planned here: {', '.join(near)}" if near else ""))
        return self.by_path[path]

    def select(self, **where) -> list[PlannedSAE]:
        """Planned SAEs whose fields equal every given value, e.g. ``select(sweep="main", dataset=d, model=m)``."""
        return [s for s in self if all(getattr(s, k) == v for k, v in where.items())]

    # -- the main sweep as paper B's analyses read it

    def main_sae(self, dataset: str, model: str, layer: int, sparsity: float, seed: int) -> str:
        """Folder of the main sweep's SAE of the dataset's first variant (paper B's analyses use it)."""
        opts = sweep_options(self.config, "main", dataset)
        return self.add("main", dataset, model, layer, opts["variants"][0], sparsity, seed, opts, swept=False).path

    def rows_sae(self, dataset: str, model: str, layer: int, sparsity: float, seed: int, fraction: float) -> str:
        """Folder of :meth:`main_sae`'s SAE trained on about ``fraction`` of the training clips (sweep rows<f>)."""
        sweep = rows_sweep(fraction)
        opts = sweep_options(self.config, sweep, dataset)
        return self.add(sweep, dataset, model, layer, opts["variants"][0], sparsity, seed, opts, swept=False).path


def _downstream(config: dict, dataset: str, model: str, opts: dict, datasets: dict) -> bool:
    """Whisper's splice cost applies to frame SAEs of Whisper models on datasets with transcripts."""
    from .data.kinds import get_kind

    return bool(opts["downstream"]["enabled"] and opts["train_on"] == "frames"
                and get_model_spec(model).family == "whisper" and get_kind(datasets[dataset]["kind"]).transcripts)


def sae_plan(config: dict) -> SAEPlan:
    """Every SAE the configured study trains (see the module docstring for the sweeps)."""
    plan = SAEPlan(config)
    datasets = study_datasets(config)
    # main: the sweep itself
    for dataset in config["datasets"]:
        opts = sweep_options(config, "main", dataset)
        for model in dataset_models(config, dataset):
            downstream = _downstream(config, dataset, model, opts, datasets)
            for layer in sae_layers(config, model, dataset):
                for variant in opts["variants"]:
                    for s in opts[sparsity_key(variant)]:
                        for seed in opts["seeds"]:
                            plan.add("main", dataset, model, layer, variant, s, seed, opts, downstream)
    # main: what paper B's analyses read beyond it
    for dataset, model in stability_pairs(config):
        stability_folders(plan, dataset, model)
    for dataset in concept_datasets(config) if config["concepts"]["enabled"] else []:
        for model in dataset_models(config, dataset):
            concept_folders(plan, dataset, model)
    for model in steering_models(config):
        steering_folders(plan, steering_dataset(config), model)
    # eeg
    if config["eeg"]["enabled"] and not config["eeg"]["sae"]["path"]:
        eeg_sae_folder(plan)
    # acoustics
    ac = config["acoustics"]
    if ac["enabled"]:
        for model in acoustic_models(config):
            for layer in acoustic_layers(config, model):
                acoustic_folders(plan, acoustic_dataset(config), model, layer)
        if ac["steering"]["enabled"]:  # the steered SAE sits on the codec latent, layer 0
            for model in ac["steering"]["models"]:
                acoustic_folder(plan, acoustic_dataset(config), model, 0, ac["steering"]["expansion"], ac["steering"]["l1"])
        gen = ac["generation"]
        if gen["enabled"]:
            acoustic_folder(plan, acoustic_dataset(config), gen["model"] or acoustic_models(config)[0], gen["layer"],
                            gen["expansion"], gen["l1"])
    plan.frozen = True
    return plan


# ------------------------------------------------------------------------------------------------- what branches read


def stability_pairs(config: dict) -> list[tuple[str, str]]:
    stab = config["stability"]
    if not stab["enabled"]:
        return []
    return [(d, m) for d in stability_datasets(config) for m in dataset_models(config, d)]


def stability_plan_for(config: dict, model: str) -> list[dict]:
    from .analysis.stability import stability_plan

    stab = config["stability"]
    return stability_plan(stab["layers"], stab["seeds"], get_model_spec(model).layers, stab["neighbours"],
                          stab["row_fractions"])


def stability_folders(plan: SAEPlan, dataset: str, model: str) -> dict[str, str]:
    """'<layer>_<seed>' (every training clip) or '<layer>_<seed>_<fraction>' (stability.row_fractions) -> folder
    of every SAE the stability table of one dataset x model matches."""
    from .analysis.stability import folder_key, sae_folders_needed

    sparsity = plan.config["stability"]["sparsity"]
    folders = {}
    for key in sae_folders_needed(stability_plan_for(plan.config, model)):
        layer, seed, fraction = (*key, 1.0)[:3]
        folders[folder_key(key)] = (plan.main_sae(dataset, model, layer, sparsity, seed) if fraction == 1.0
                                    else plan.rows_sae(dataset, model, layer, sparsity, seed, fraction))
    return folders


def concept_folders(plan: SAEPlan, dataset: str, model: str) -> list[str]:
    seed = sae_config(plan.config, dataset)["seeds"][0]
    sparsity = concept_sparsity(plan.config, dataset)
    return [plan.main_sae(dataset, model, layer, sparsity, seed) for layer in plan.config["concepts"]["layers"]]


def browser_saes(plan: SAEPlan, dataset: str, model: str) -> list[PlannedSAE]:
    """The main-sweep SAEs of one dataset x model that get a feature-browser page: those at the dataset's
    browser.sparsity, or all of them when it is unset; a sparsity the sweep lacks is an error naming both."""
    from .config import browser_sparsity

    saes = plan.select(sweep="main", dataset=dataset, model=model, swept=True)
    wanted = browser_sparsity(plan.config, dataset)
    if wanted is None:
        return saes
    if saes and wanted not in {s.sparsity for s in saes}:
        raise ValueError(f"browser.sparsity {wanted} for {dataset}: not one of its SAEs' sparsities "
                         f"{sorted({s.sparsity for s in saes})}")
    return [s for s in saes if s.sparsity == wanted]


def steering_models(config: dict) -> list[str]:
    if not config["steering"]["enabled"]:
        return []
    dataset = steering_dataset(config)
    models = dataset_models(config, dataset) if dataset else config["models"]
    return [m for m in models if get_model_spec(m).family == "whisper"]


def steering_folders(plan: SAEPlan, dataset: str, model: str) -> dict[int, str]:
    steer = plan.config["steering"]
    opts = sae_config(plan.config, dataset)
    sparsity = steer["sparsity"] if steer["sparsity"] is not None else opts[sparsity_key(opts["variants"][0])][0]
    return {layer: plan.main_sae(dataset, model, layer, sparsity, opts["seeds"][0]) for layer in steer["layers"]}


def eeg_sae_folder(plan: SAEPlan) -> str:
    """The SAE whose features are tested against the EEG: eeg.sae.path, or the eeg sweep's one SAE."""
    eeg = plan.config["eeg"]
    if eeg["sae"]["path"]:
        return eeg["sae"]["path"].rstrip("/")
    opts = sweep_options(plan.config, "eeg", eeg_dataset(plan.config))
    return plan.add("eeg", eeg_dataset(plan.config), eeg["model"], eeg["layer"], "topk", eeg["sae"]["sparsity"],
                    eeg["seed"], opts).path


def acoustic_folders(plan: SAEPlan, dataset: str, model: str, layer: int) -> list[str]:
    """Every SAE of paper C's grid (width x L1 weight) on one layer."""
    opts = sweep_options(plan.config, "acoustics", dataset, model)
    return [plan.add("acoustics", dataset, model, layer, "relu", l1, opts["seeds"][0], opts, expansion=x).path
            for x in plan.config["acoustics"]["sae"]["expansions"] for l1 in opts["l1_coefficients"]]


def acoustic_folder(plan: SAEPlan, dataset: str, model: str, layer: int, expansion: float, l1: float) -> str:
    """The grid's SAE of one width and L1 weight (steering and the generation analysis read it)."""
    opts = sweep_options(plan.config, "acoustics", dataset, model)
    return plan.add("acoustics", dataset, model, layer, "relu", l1, opts["seeds"][0], opts, expansion=expansion).path
