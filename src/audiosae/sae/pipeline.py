"""One SAE per (dataset, model, layer, variant, sparsity, seed): load rows, train, measure, save."""
from __future__ import annotations

import logging
from dataclasses import fields, replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..io import write_json
from ..models.extract import Activations
from .io import load_sae, save_sae
from .data import RowStream, sequential_batches
from .metrics import MetricAccumulator, density_histogram
from .model import SAE, build_sae
from .train import TrainConfig, epoch_batches, steps_per_epoch, train_sae

log = logging.getLogger(__name__)
HELD_OUT = ("valid", "test")
UNUSED = "unused"  # training clips left out of a subset (train_subset): neither trained on nor held out


def clip_splits(acts: Activations, clips: pd.DataFrame) -> np.ndarray:
    """The split of each clip in the activation file's order."""
    split_of = dict(zip(clips["id"].astype(str), clips["split"]))
    missing = [c for c in acts.clip_ids if c not in split_of]
    if missing:
        raise ValueError(f"{acts.path}: {len(missing)} clips are not in the clip table, e.g. {missing[:3]}")
    return np.array([split_of[c] for c in acts.clip_ids])


def train_subset(clip_ids, splits: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """The splits with all but about ``fraction`` of the training clips set aside as ``UNUSED``: a seeded choice
    of whole clips (their frames stay together), the valid and test clips untouched.

    The choice depends on the clip ids and ``seed`` only (not on the order of the activation file), and the clips
    of a smaller fraction are among those of a larger one (the first ones of one seeded permutation)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"train fraction {fraction}: must be in (0, 1]")
    splits = np.asarray(splits)
    train = np.flatnonzero(splits == "train")
    if fraction == 1 or not len(train):
        return splits
    ids = np.asarray([str(c) for c in clip_ids])
    train = train[np.argsort(ids[train], kind="stable")]
    chosen = train[np.random.default_rng(seed).permutation(len(train))[: max(1, round(fraction * len(train)))]]
    unused = np.zeros(len(splits), bool)
    unused[train] = True
    unused[chosen] = False
    return np.where(unused, UNUSED, splits)


def row_source(acts: Activations, layer: int, splits: np.ndarray, wanted: tuple[str, ...], unit: str):
    """(source, row ranges): the HDF5 frames and the frame ranges of the wanted clips (streamed), or the
    clip means of the wanted clips (small, in memory)."""
    keep = np.isin(splits, wanted)
    if unit == "clip_means":
        return acts.pooled(layer, "mean")[keep].astype(np.float32), None
    if unit == "frames":
        return acts.frames(layer), [(int(a), int(b)) for (a, b), k in zip(acts.offsets, keep) if k and b > a]
    raise ValueError(f"unknown training unit {unit!r}; use 'clip_means' or 'frames'")


@torch.no_grad()
def evaluate(sae: SAE, batches, device: str | torch.device = "cpu") -> tuple[dict, dict]:
    """Metrics of ``sae`` over an iterable of row batches (or one tensor), in bounded memory."""
    if isinstance(batches, torch.Tensor):
        batches = batches.split(4096)
    acc = MetricAccumulator(sae.d_sae)
    for x in batches:
        x = x.to(device)
        codes = sae.encode(x)
        acc.update(x, sae.reconstruct(codes, x), codes)
    return acc.result(), density_histogram(acc.density())


# Trainer options that are not config keys: the seed comes with the SAE, the others are fixed practice.
NOT_CONFIG = ("seed", "threshold_momentum", "log_every")
# Trainer options that are not sae-section keys either: the project's trainer as TrainConfig defines them, unless
# the variant's training preset (SAE.train_options, e.g. paper_a_topk's) sets them in the planned options.
PRESET_ONLY = ("epochs", "patience", "recon_loss", "normalize_decoder", "scale_inputs")


def train_config(sae_cfg: dict, seed: int, d_sae: int) -> TrainConfig:
    """The trainer's options from a validated sae section (the schema filled in every default: no fallbacks here)."""
    opts = {f.name: sae_cfg[f.name] for f in fields(TrainConfig)
            if f.name not in NOT_CONFIG and (f.name not in PRESET_ONLY or f.name in sae_cfg)}
    return TrainConfig(**{**opts, "aux_k": min(opts["aux_k"], d_sae)}, seed=seed)


def train_layer_sae(
    activations: str | Path,
    clips_csv: str | Path,
    out_dir: str | Path,
    layer: int,
    sparsity: float,
    seed: int,
    sae_cfg: dict,
    meta: dict,
    variant: str,
    device: str | torch.device = "cpu",
    progress: bool = True,
    downstream=None,
) -> dict:
    """Train one SAE of ``variant`` on one layer, save checkpoint + metrics; return the metrics.

    ``sparsity`` has the variant's meaning (see :func:`audiosae.sae.model.build_sae`). Frames are streamed
    from the HDF5 file through a buffer of ``sae_cfg['memory_mb']``; an interrupted run resumes from
    ``out_dir/train_state.safetensors`` when ``checkpoint_every`` is set. ``downstream`` (a function of the saved
    SAE returning a dict, e.g. :func:`audiosae.sae.downstream.whisper_splice_effect` bound to a model and clips)
    adds the model-level cost of splicing the SAE in, under ``metrics['downstream']``.
    """
    unit = sae_cfg["train_on"]
    # Only stability's rows<f> sweep (stability.row_fractions) trains on part of the training clips; its planned
    # options say how much and which (the study seed): every other SAE's options have neither key.
    fraction = float(sae_cfg.get("train_fraction", 1.0))
    memory_mb = sae_cfg["memory_mb"]
    eval_rows = sae_cfg["eval_rows"]
    out_dir = Path(out_dir)
    clips = pd.read_csv(clips_csv)
    with Activations(activations) as acts:
        splits = clip_splits(acts, clips)
        if fraction < 1:
            splits = train_subset(acts.clip_ids, splits, fraction, sae_cfg["train_fraction_seed"])
        train_clips = int((splits == "train").sum())
        train_src, train_ranges = row_source(acts, layer, splits, ("train",), unit)
        held_src, held_ranges = row_source(acts, layer, splits, HELD_OUT, unit)
        d_in = train_src.shape[1]
        d_sae = int(sae_cfg["d_sae"] or sae_cfg["expansion"] * d_in)
        train_cfg = train_config(sae_cfg, seed, d_sae)
        stream = RowStream(train_src, train_ranges, train_cfg.batch_size, seed, memory_mb)
        sae = build_sae(variant, d_in, d_sae, sparsity, options=sae_cfg)
        log.info("layer %d %s: %d train rows of %d clips (fraction %g; buffer %d), d_in=%d d_sae=%d %s", layer, variant,
                 stream.n_rows, train_clips, fraction, stream.buffer_rows, d_in, d_sae, sae.sparsity_cfg())
        init_sample = stream.sample(sae_cfg["init_rows"])
        state = out_dir / "train_state.safetensors"
        by_epoch = {}
        if train_cfg.epochs > 0:  # a preset trained by epochs (paper_a_topk): validation loss on the valid split
            valid_src, valid_ranges = row_source(acts, layer, splits, ("valid",), unit)
            if isinstance(train_src, np.ndarray):  # clip means, in memory: exact epochs, the last batch short
                batches = partial(epoch_batches, torch.from_numpy(train_src), train_cfg.batch_size, seed)
                per_epoch = steps_per_epoch(len(train_src), train_cfg.batch_size)
            else:  # frames, streamed: an epoch is as many full batches as the training rows hold
                batches, per_epoch = stream.batches, max(1, stream.n_rows // stream.batch_size)
            if valid_src is not None and isinstance(valid_src, np.ndarray):
                valid = torch.from_numpy(valid_src) if len(valid_src) else None
            else:
                valid = partial(sequential_batches, valid_src, valid_ranges) if valid_ranges else None
            if valid is None:
                raise ValueError(f"{activations}: no clips in the valid split, which {variant} needs for its validation loss")
            train_cfg = replace(train_cfg, steps=train_cfg.epochs * per_epoch)  # cfg.json says how many steps ran at most
            by_epoch = {"valid": valid, "epoch_steps": per_epoch}
        else:
            batches = stream.batches
        scale, history = train_sae(sae, batches, init_sample, train_cfg, device, progress,
                                   checkpoint=state if train_cfg.checkpoint_every else None, **by_epoch)
        cfg = {**meta, "layer": layer, "sparsity": sparsity, "seed": seed, "train_on": unit, "training": train_cfg.to_dict()}
        if fraction < 1:
            cfg["train_subset"] = {"fraction": fraction, "seed": sae_cfg["train_fraction_seed"], "clips": train_clips}
        # Where the model's weights came from (hub commit, package sha256, or a rehearsal's random stand-in).
        cfg.update({k_: str(v) for k_, v in acts.h5.attrs.items() if str(k_).startswith("weights_")})
        save_sae(sae, out_dir, cfg, scale)
        # Measure the exported checkpoint itself, on raw activations, so the numbers describe the file.
        saved, saved_cfg = load_sae(out_dir, device=str(device))
        metrics, histogram = evaluate(saved, sequential_batches(held_src, held_ranges), device)
        train_metrics, _ = evaluate(saved, sequential_batches(train_src, train_ranges, max_rows=eval_rows), device)
    result = {
        **{k_: cfg[k_] for k_ in ("dataset", "model", "layer", "sparsity", "seed") if k_ in cfg},
        "variant": variant,
        "k": saved_cfg.get("k", round(metrics["l0"], 2)),
        "d_sae": d_sae,
        # every distinct training row (train.n_rows stops at sae.eval_rows), from how many clips, which fraction
        "train_rows": stream.n_rows,
        "train_clips": train_clips,
        "train_fraction": fraction,
        "held_out": metrics,
        "train": train_metrics,
        "density_histogram": histogram,
        "history": history,
    }
    if downstream is not None:
        result["downstream"] = downstream(saved)
        log.info("downstream: %s", {k_: round(v, 4) for k_, v in result["downstream"].items()})
    write_json(result, out_dir / "metrics.json")
    if state.exists():
        state.unlink()
    log.info("layer %d %s %g: held-out FVU %.4f, L0 %.1f", layer, variant, sparsity, metrics["fvu"], metrics["l0"])
    return result
