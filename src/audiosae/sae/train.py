"""SAE training with the practice of the leading SAE libraries: inputs scaled to unit mean squared norm,
b_dec started at the geometric median (or mean) of a sample, Adam with warm-up and a final linear decay,
unit-norm decoder atoms, gradient clipping, an auxiliary loss (AuxK) reviving dead latents, bf16 autocast on
CUDA, and checkpoints from which an interrupted run resumes to the same final weights.

The loop names no variant: each SAE class supplies its hooks (see :class:`audiosae.sae.model.SAE`).
Variants with ``sparse_training`` (TopK, BatchTopK) take the fast path: one dense pre-activation GEMM
without autograd, the variant's ``select_active``, then :func:`audiosae.sae.sparse.sparse_decode`, whose
backward touches only the active latents. The others (ReLU with L1, JumpReLU) train densely through
``dense_codes``, which also gives their sparsity loss.

The same loop runs a variant's training preset (paper_a_topk: ``SAE.train_options``) through the options below
that the sae section does not list: ``epochs`` (> 0: whole passes over the training rows, the validation loss
measured after each and the best epoch's weights kept, ``patience`` epochs without improvement ending the run),
``recon_loss`` (sum of squares per row, or paper A's mean squared error), ``normalize_decoder`` and
``scale_inputs``.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from ..io import atomic_path
from .model import SAE
from .sparse import sparse_decode

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """The trainer's options. The workflow builds it from the validated config (sae.pipeline.train_config), every
    value given; the defaults here are for library use and equal config/schema.yaml's (tests/test_plan.py)."""

    steps: int = 1000
    batch_size: int = 256
    lr: float = 1e-3
    warmup_frac: float = 0.05
    decay_frac: float = 0.2
    grad_clip: float = 1.0
    aux_k: int = 256
    aux_coef: float = 1.0 / 32
    dead_after_rows: int = 50_000
    seed: int = 0
    b_dec_init: str = "geometric_median"  # geometric_median | mean | zeros
    # read by the variants' training hooks:
    l0_coef: float = 1.0  # JumpReLU: weight of (L0 / target - 1)^2
    threshold_momentum: float = 0.99  # BatchTopK: running mean of the smallest kept activation
    autocast: bool = True  # bf16 autocast of the encoder GEMM on CUDA
    checkpoint_every: int = 0  # steps between training-state checkpoints (0: none)
    log_every: int = 50
    # not sae-section keys: the project's trainer as below; a variant's preset (SAE.train_options) may set them
    epochs: int = 0  # 0: train `steps` steps; n > 0: n epochs with validation after each, best epoch kept
    patience: int = 0  # with epochs: stop after this many epochs without a better validation loss (0: never)
    recon_loss: str = "sum"  # sum: squared error summed over dimensions, mean over rows; mse: mean over both
    normalize_decoder: bool = True  # unit-norm decoder rows (gradient projected, rows renormalised each step)
    scale_inputs: bool = True  # train on rows scaled to unit mean squared norm (folded into the export)

    def to_dict(self) -> dict:
        return asdict(self)


def lr_factor(step: int, cfg: TrainConfig) -> float:
    warmup = max(1, int(cfg.warmup_frac * cfg.steps))
    decay_start = int((1.0 - cfg.decay_frac) * cfg.steps)
    if step < warmup:
        return (step + 1) / warmup
    if step >= decay_start and cfg.decay_frac > 0:
        return max(0.0, (cfg.steps - step) / (cfg.steps - decay_start))
    return 1.0


def epoch_batches(data: torch.Tensor, batch_size: int, seed: int, start_step: int = 0) -> Iterator[torch.Tensor]:
    """Endless epochs over the rows of an in-memory tensor, reshuffled each epoch, the last batch of an epoch
    short when the rows do not divide (a DataLoader with shuffle=True); ``steps_per_epoch`` batches per epoch."""
    return random_batches(data, batch_size, seed, start_step, keep_last=True)


def steps_per_epoch(n_rows: int, batch_size: int) -> int:
    return max(1, math.ceil(n_rows / batch_size))


def recon_error(x_hat: torch.Tensor, x: torch.Tensor, kind: str) -> torch.Tensor:
    """The reconstruction loss: ``sum`` (squared error summed over dimensions, mean over rows) or ``mse``."""
    if kind == "sum":
        return (x_hat - x).pow(2).sum(-1).mean()
    if kind == "mse":
        return (x_hat - x).pow(2).mean()
    raise ValueError(f"unknown recon_loss {kind!r}; use 'sum' or 'mse'")


@torch.no_grad()
def validation_loss(sae: SAE, valid, scale: float, cfg: TrainConfig, device) -> float:
    """The reconstruction loss (``cfg.recon_loss``) over all validation rows, in the training space."""
    batches = valid() if callable(valid) else valid.split(4096)
    total, n = 0.0, 0
    for x in batches:
        x = sae.normalize_input(x.to(device).float()) * scale
        x_hat = sae.decode(sae.activation(sae.pre_activations(x)))
        err = (x_hat - x).pow(2).sum() / (x.shape[1] if cfg.recon_loss == "mse" else 1)
        total, n = total + float(err), n + x.shape[0]
    return total / max(n, 1)


def input_scale(sample: torch.Tensor) -> float:
    """The factor that gives the sample unit mean squared norm."""
    return float(1.0 / sample.pow(2).sum(1).mean().sqrt().clamp_min(1e-12))


@torch.no_grad()
def geometric_median(x: torch.Tensor, iters: int = 100, tol: float = 1e-6) -> torch.Tensor:
    """Weiszfeld's algorithm: the point minimising the sum of Euclidean distances to the rows of x."""
    x = x.double()
    y = x.mean(0)
    for _ in range(iters):
        w = 1.0 / (x - y).norm(dim=1).clamp_min(1e-12)
        y_new = (w[:, None] * x).sum(0) / w.sum()
        if (y_new - y).norm() <= tol * y.norm().clamp_min(1e-12):
            y = y_new
            break
        y = y_new
    return y.float()


def random_batches(data: torch.Tensor, batch_size: int, seed: int, start_step: int = 0,
                   keep_last: bool = False) -> Iterator[torch.Tensor]:
    """Endless shuffled batches of rows of an in-memory tensor, one permutation per epoch; restartable. The
    rows left over at the end of an epoch are dropped, or (``keep_last``) form a short last batch."""
    gen = torch.Generator().manual_seed(seed)
    n = data.shape[0]
    if keep_last:
        per_epoch = steps_per_epoch(n, batch_size)
    else:
        batch_size = min(batch_size, n)
        per_epoch = n // batch_size
    epoch, pos = divmod(start_step, per_epoch)
    for _ in range(epoch):
        torch.randperm(n, generator=gen)
    while True:
        perm = torch.randperm(n, generator=gen)
        for j in range(pos, per_epoch):
            yield data[perm[j * batch_size : (j + 1) * batch_size]]
        pos = 0


def auxk_loss(sae: SAE, x_c: torch.Tensor, residual: torch.Tensor, pre: torch.Tensor, dead: torch.Tensor, aux_k: int) -> torch.Tensor:
    """Reconstruct the residual from the top dead latents (Gao et al. 2024), normalised by its variance."""
    n_dead = int(dead.sum())
    if n_dead == 0:
        return x_c.new_zeros(())
    k = min(aux_k, n_dead)
    with torch.no_grad():
        # Only the dead columns: a B x n_dead gather and top-k instead of a masked copy of all of pre.
        dead_idx = dead.nonzero().squeeze(1)
        values, pos = pre.index_select(1, dead_idx).topk(k, dim=-1, sorted=False)
        indices = dead_idx[pos]
        values = values.clamp_min(0.0)
        rows = torch.arange(x_c.shape[0], device=x_c.device).repeat_interleave(k)
    residual_hat = sparse_decode(x_c, sae.W_enc, sae.b_enc, sae.W_dec, rows, indices.reshape(-1), values.reshape(-1))
    scale = min(n_dead / aux_k, 1.0)
    variance = (residual - residual.mean(0, keepdim=True)).pow(2).sum().clamp_min(1e-12)
    return scale * (residual_hat - residual).pow(2).sum() / variance


# ---------------------------------------------------------------- training state (checkpoint and resume)

def save_train_state(path: str | Path, sae: SAE, opt: torch.optim.Optimizer, step: int, scale: float,
                     rows_since_fired: torch.Tensor, history: list[dict], cfg: TrainConfig) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in sae.state_dict().items()}
    for i, st in opt.state_dict()["state"].items():
        for name, v in st.items():
            tensors[f"opt.{i}.{name}"] = torch.as_tensor(v).detach().cpu().contiguous().clone()
    tensors["rows_since_fired"] = rows_since_fired.cpu().contiguous()
    meta = {"step": step, "scale": scale, "history": history, "cfg": cfg.to_dict(), "variant": sae.variant}
    path = Path(path)
    with atomic_path(path, suffix=".safetensors.tmp") as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt", "state": json.dumps(meta)})


def load_train_state(path: str | Path, sae: SAE, opt: torch.optim.Optimizer, cfg: TrainConfig, device) -> tuple[int, float, torch.Tensor, list[dict]] | None:
    """Restore a checkpoint written by the same configuration; None if there is none or it does not match."""
    path = Path(path)
    if not path.exists():
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["state"])
    if meta["cfg"] != cfg.to_dict() or meta["variant"] != sae.variant:
        log.warning("%s: training state from another configuration; starting afresh", path)
        return None
    tensors = load_file(str(path), device=str(device))
    sae.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state = opt.state_dict()
    for i in range(len(state["param_groups"][0]["params"])):
        names = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"opt.{i}.")}
        if names:
            state["state"][i] = names
    opt.load_state_dict(state)
    return meta["step"], meta["scale"], tensors["rows_since_fired"].to(device), meta["history"]


# ---------------------------------------------------------------- the loop

def _make_optimizer(sae: SAE, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    # frozen parameters (paper_a_topk's b_dec) are not optimised
    return torch.optim.Adam([p for p in sae.parameters() if p.requires_grad], lr=cfg.lr, betas=(0.9, 0.999), foreach=True)


def train_sae(
    sae: SAE,
    batches: Iterator[torch.Tensor] | Callable[[int], Iterator[torch.Tensor]],
    init_sample: torch.Tensor,
    cfg: TrainConfig,
    device: str | torch.device = "cpu",
    progress: bool = True,
    checkpoint: str | Path | None = None,
    stop_after: int | None = None,
    valid=None,
    epoch_steps: int | None = None,
) -> tuple[float, list[dict]]:
    """Train ``sae`` in place on scaled inputs; return (input scale, history of logged steps).

    ``batches`` is an iterator, or (for exact resume) a function step -> iterator starting at that step.
    With ``checkpoint`` the state is saved every ``cfg.checkpoint_every`` steps and a matching saved state
    is resumed. ``stop_after`` ends the run after that many steps of this call (as an interruption would).

    With ``cfg.epochs`` > 0 the run is ``cfg.epochs`` epochs of ``epoch_steps`` batches each; after each epoch the
    loss on ``valid`` (a tensor of raw rows, or a function returning an iterable of batches) is measured, the
    weights of the best epoch are restored at the end, and ``cfg.patience`` epochs without improvement end it
    early. The history then has one ``{"epoch", "valid_loss", "best_epoch"}`` entry per epoch.
    """
    device = torch.device(device)
    torch.manual_seed(cfg.seed)
    if cfg.epochs > 0 and (valid is None or not epoch_steps):
        raise ValueError("training by epochs (cfg.epochs > 0) needs validation rows and epoch_steps")
    if cfg.epochs > 0 and checkpoint is not None and cfg.checkpoint_every > 0:
        raise ValueError("training by epochs keeps the best epoch's weights, which a training-state checkpoint does not "
                         "hold: set checkpoint_every to 0")
    init_sample = sae.normalize_input(init_sample.float())
    scale = input_scale(init_sample) if cfg.scale_inputs else 1.0
    sae.init_weights(torch.Generator().manual_seed(cfg.seed))
    with torch.no_grad():
        sample = init_sample.float() * scale
        if cfg.b_dec_init == "geometric_median":
            sae.b_dec.copy_(geometric_median(sample[:20_000]))
        elif cfg.b_dec_init == "mean":
            sae.b_dec.copy_(sample.mean(0))
        elif cfg.b_dec_init != "zeros":
            raise ValueError(f"unknown b_dec_init {cfg.b_dec_init!r}; use geometric_median, mean or zeros")
        sae.init_from_sample(sample[:20_000])
    sae.to(device)
    opt = _make_optimizer(sae, cfg, device)
    rows_since_fired = torch.zeros(sae.d_sae, dtype=torch.long, device=device)
    history: list[dict] = []
    start = 0
    if checkpoint is not None:
        restored = load_train_state(checkpoint, sae, opt, cfg, device)
        if restored is not None:
            start, scale, rows_since_fired, history = restored
            log.info("resumed from %s at step %d", checkpoint, start)
    stream = batches(start) if callable(batches) else batches
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.autocast and device.type == "cuda")
    fast = sae.sparse_training
    total = cfg.epochs * epoch_steps if cfg.epochs > 0 else cfg.steps
    if cfg.epochs > 0:
        cfg_lr = TrainConfig(**{**cfg.to_dict(), "steps": total})  # the schedule over the run's real length
        best, best_epoch, best_state = math.inf, -1, None
    else:
        cfg_lr = cfg
    end = total if stop_after is None else min(total, start + stop_after)
    bar = tqdm(range(start, end), desc=f"train {sae.variant} SAE", unit="step", disable=not progress, mininterval=2.0)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(step, cfg_lr)
        x = sae.normalize_input(next(stream).to(device, non_blocking=True).float()) * scale
        aux = x.new_zeros(())
        dead = rows_since_fired > cfg.dead_after_rows
        if fast:
            with torch.no_grad(), autocast:
                pre = torch.addmm(sae.b_enc, x - sae.b_dec, sae.W_enc).float()
            with torch.no_grad():
                rows, lat, vals = sae.select_active(pre, cfg)
            x_c = x - sae.b_dec
            x_hat = sparse_decode(x_c, sae.W_enc, sae.b_enc, sae.W_dec, rows, lat, vals) + sae.b_dec
            recon = recon_error(x_hat, x, cfg.recon_loss)
            if cfg.aux_coef > 0:
                aux = auxk_loss(sae, x_c, (x - x_hat).detach(), pre, dead, cfg.aux_k)
            loss = recon + cfg.aux_coef * aux
            fired_lat = lat[vals > 0]
        else:
            with autocast:
                pre = sae.pre_activations(x).float()
            codes, aux = sae.dense_codes(pre, cfg)
            x_hat = sae.decode(codes)
            recon = recon_error(x_hat, x, cfg.recon_loss)
            loss = recon + aux
            fired_lat = (codes > 0).any(0).nonzero().squeeze(1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.normalize_decoder:
            with torch.no_grad():
                # Keep atoms on the unit sphere: drop the gradient component along each atom.
                w, g = sae.W_dec, sae.W_dec.grad
                g.sub_((g * w).sum(1, keepdim=True) * w)
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_([p for p in sae.parameters() if p.requires_grad], cfg.grad_clip, foreach=True)
        opt.step()
        if cfg.normalize_decoder:
            sae.normalize_decoder()
        rows_since_fired += x.shape[0]
        rows_since_fired[fired_lat] = 0
        if step % cfg.log_every == 0 or step == total - 1:
            with torch.no_grad():
                fvu = float((x_hat - x).pow(2).sum() / (x - x.mean(0)).pow(2).sum().clamp_min(1e-12))
                l0 = float(lat.numel() / x.shape[0]) if fast else float((codes > 0).float().sum(1).mean())
            history.append({"step": step, "loss": float(loss.detach()), "fvu": fvu, "aux": float(aux.detach()),
                            "dead": int(dead.sum()), "l0": l0})
            bar.set_postfix(fvu=f"{fvu:.3f}", l0=f"{l0:.1f}", dead=int(dead.sum()))
            if not math.isfinite(float(loss.detach())):
                raise FloatingPointError(f"SAE loss became {float(loss.detach())} at step {step}")
        if cfg.epochs > 0 and (step + 1) % epoch_steps == 0:
            epoch = (step + 1) // epoch_steps - 1
            v = validation_loss(sae, valid, scale, cfg, device)
            if v <= best:  # paper A saves on valid_loss <= best_loss
                best, best_epoch = v, epoch
                best_state = {k: t.detach().clone() for k, t in sae.state_dict().items()}
            history.append({"epoch": epoch, "valid_loss": v, "best_epoch": best_epoch})
            if cfg.patience and epoch - best_epoch >= cfg.patience:
                log.info("no better validation loss for %d epochs: stopping after epoch %d (best %d)", cfg.patience, epoch, best_epoch)
                break
        if checkpoint is not None and cfg.checkpoint_every > 0 and (step + 1) % cfg.checkpoint_every == 0 and step + 1 < total:
            save_train_state(checkpoint, sae, opt, step + 1, scale, rows_since_fired, history, cfg)
    if cfg.epochs > 0 and best_state is not None:
        sae.load_state_dict(best_state)  # the epoch with the best validation loss, as paper A's best_model.pth
    return scale, history


def train_topk(sae: SAE, batches, init_sample, cfg: TrainConfig, device="cpu", progress: bool = True, **kw):
    """Backward-compatible name of :func:`train_sae`."""
    return train_sae(sae, batches, init_sample, cfg, device, progress, **kw)
