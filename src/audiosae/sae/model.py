"""Sparse autoencoder variants of the three studies. Parameter names and shapes follow the common SAE tools
(W_enc: d_in x d_sae, b_enc: d_sae, W_dec: d_sae x d_in, b_dec: d_in, threshold: d_sae) so checkpoints load
there.

- ``topk``      (paper A): TopK(ReLU((x - b_dec) W_enc + b_enc)), k per row.
- ``batchtopk`` (paper B): the top k * batch activations of a whole batch in training; a per-latent-free
  global threshold (running estimate) replaces the batch at inference, i.e. a JumpReLU with one threshold.
- ``relu``      (paper C): ReLU codes with an L1 penalty weighted by decoder norms; optionally the penalty
  is taken on codes divided by their per-row RMS (``rms_norm_codes``), a scale-free sparsity measure, and/or
  the input rows are RMS-normalised before encoding (``rms_norm_input``, paper C's RMSNorm): codes do not
  depend on a row's scale, and the reconstruction is scaled back by the row's RMS.
- ``paper_a_topk`` (paper A's own trainer, github theomariotte/sae_audio_ssl): TopK(ReLU(x W_enc + b_enc)),
  no pre-encoder bias, no decoder bias, nn.Linear's initialisation; its training options are a preset
  (:data:`PAPER_A_TRAINING`, see :meth:`PaperATopKSAE.train_options`).
- ``jumprelu``  (Rajamanoharan et al. 2024): codes = pre * H(pre - threshold), per-latent learned
  thresholds trained with straight-through estimators towards a target L0.

Every variant has ``encode(x) -> dense codes``, ``decode(codes)``, ``forward(x)`` and ``sparse_codes(x)``
(row-sorted COO: rows, latents, values), and carries everything the trainer (sae/train.py) and the checkpoint
format (sae/io.py) need, so that neither names a class: see :class:`SAE`. A variant whose encoder normalises
its input (``normalize_input``) reconstructs in that normalised space; ``reconstruct(codes, x)`` maps codes back
to the scale of ``x`` (``forward`` does it), and every caller that decodes edited codes uses it.

Adding a variant: subclass :class:`SAE`; set ``variant`` (the name in configs and cfg.json), ``sparsity_key``
(the config key listing its swept sparsity values) and ``architecture`` (sae-lens's export name); implement
``activation``, ``from_sparsity``, ``from_cfg``, ``sparsity_cfg`` and the training hook (``dense_codes``, or
``select_active`` with ``sparse_training = True``), plus ``export_tensors`` / ``state_from_export`` if it has
a threshold. Defining the class registers it. Then add the name to config/schema.yaml's ``variants`` enum and
its sparsity list key to the schema's sae section.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

ENCODER_INIT_SCALE = 1.0 / math.sqrt(3.0)  # encoder columns at init, relative to the unit decoder rows


def k_from_sparsity(sparsity: float, d_sae: int) -> int:
    """Paper A's definition: s is the fraction of latents forced to zero, k = int((1 - s) * d_sae)."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    k = int(round((1.0 - sparsity) * d_sae, 6))  # round first: (1 - .9) * 2048 is 204.79999...
    if k < 1:
        raise ValueError(f"sparsity {sparsity} leaves no active latent with d_sae={d_sae}")
    return k


VARIANT_CLASSES: dict[str, type["SAE"]] = {}  # variant name -> class, filled as the classes are defined


class SAE(nn.Module):
    """Shared parameters, initialisation and decoding; subclasses define the activation and the hooks below.

    Training (sae/train.py): ``init_from_sample`` once after b_dec; then per step either ``select_active``
    (``sparse_training``: the active entries feed the sparse decoder) or ``dense_codes`` (autograd through
    dense codes, plus the variant's sparsity loss). Checkpoints (sae/io.py): ``architecture``,
    ``sparsity_cfg``, ``export_tensors`` on save; ``from_cfg`` and ``state_from_export`` on load.
    """

    variant: str = "base"  # name in configs and cfg.json; a subclass that sets it is registered
    sparsity_key: str | None = None  # config key of the swept sparsity values
    architecture: str | None = None  # sae-lens's name for the inference rule of the export
    sparse_training = False  # True: trained through select_active and the sparse decoder

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "variant" not in cls.__dict__:  # an intermediate base class, or a subclass reusing a variant
            return
        if not cls.sparsity_key or not cls.architecture:
            raise TypeError(f"SAE variant {cls.variant!r} ({cls.__name__}) must set sparsity_key and architecture")
        known = VARIANT_CLASSES.get(cls.variant)
        if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"SAE variant {cls.variant!r} is already defined by {known.__qualname__}")
        VARIANT_CLASSES[cls.variant] = cls

    # ---- construction
    @classmethod
    def from_sparsity(cls, d_in: int, d_sae: int, sparsity: float, options: Mapping | None = None) -> "SAE":
        """The SAE for one swept sparsity value (in this variant's meaning); ``options`` is the sae config."""
        raise NotImplementedError(f"{cls.__name__} does not define from_sparsity")

    @classmethod
    def from_cfg(cls, cfg: Mapping) -> "SAE":
        """The (untrained) SAE that a saved cfg.json describes."""
        raise NotImplementedError(f"{cls.__name__} does not define from_cfg")

    @classmethod
    def train_options(cls, options: Mapping) -> dict:
        """The complete training options of this variant from the sweep's (the plan records these, so that the
        folder name, cfg.json's ``training`` and the trainer agree). Default: the sweep's options unchanged; a
        variant with a training preset of its own (paper_a_topk) puts it on top."""
        return dict(options)

    def __init__(self, d_in: int, d_sae: int):
        super().__init__()
        self.d_in, self.d_sae = d_in, d_sae
        self.W_enc = nn.Parameter(torch.empty(d_in, d_sae))
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.W_dec = nn.Parameter(torch.empty(d_sae, d_in))
        self.b_dec = nn.Parameter(torch.zeros(d_in))

    # ---- checkpoint
    def sparsity_cfg(self) -> dict:
        """What cfg.json records besides the tensors (read back by ``from_cfg``)."""
        return {}

    def export_tensors(self) -> dict[str, torch.Tensor]:
        """Exported tensors besides W_enc, b_enc, W_dec, b_dec, on the CPU. They act on pre-activations,
        which folding the input scale leaves unchanged, so they are saved as they are."""
        return {}

    def state_from_export(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The module's state dict from the exported tensors (the inverse of ``export_tensors``)."""
        return state

    # ---- training hooks
    @torch.no_grad()
    def init_from_sample(self, x: torch.Tensor) -> None:
        """Set what depends on the data, once, after the weights and b_dec (``x``: scaled rows)."""

    def select_active(self, pre: torch.Tensor, cfg) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sparse training (run without autograd): row-sorted COO (rows, latents, values) of the entries of
        the pre-activations that the decoder sees. ``cfg`` is the TrainConfig."""
        raise NotImplementedError(f"{type(self).__name__} has no sparse training path")

    def dense_codes(self, pre: torch.Tensor, cfg) -> tuple[torch.Tensor, torch.Tensor]:
        """Dense training: (codes, sparsity loss) from the pre-activations; the loss is added to the
        reconstruction error. ``cfg`` is the TrainConfig. Default: the activation and no loss."""
        return self.activation(pre), pre.new_zeros(())

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator | None = None, encoder_scale: float = ENCODER_INIT_SCALE) -> None:
        """Unit-norm random decoder atoms; the encoder is their transpose times ``encoder_scale``.

        The default 1/sqrt(3) is the expected column norm of torch.nn.Linear's default (Kaiming-uniform)
        encoder, which OpenAI's TopK code and eai-sparsify start from, with the decoder its transpose
        normalised. The exact transpose (scale 1) trains more slowly: Adam's steps have a fixed size, so a
        smaller encoder moves relatively faster. On the TopK benchmark job (Whisper frames, d_sae 3072, k 32,
        lr 2e-4, 300 steps) held-out FVU went 0.230 (scale 1) -> 0.214 (1/sqrt(3)); 0.45 and 0.3 gave 0.214
        and 0.217; BatchTopK on the same job 0.290 -> 0.257.
        """
        w = torch.randn(self.d_sae, self.d_in, generator=generator)
        self.W_dec.copy_(w / w.norm(dim=1, keepdim=True))
        self.W_enc.copy_(self.W_dec.T * encoder_scale)
        self.b_enc.zero_()

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """(x - b_dec) W_enc + b_enc, before any nonlinearity (``x`` already through ``normalize_input``)."""
        return torch.addmm(self.b_enc, x - self.b_dec, self.W_enc)

    def activation(self, pre: torch.Tensor) -> torch.Tensor:  # dense codes from pre-activations
        raise NotImplementedError

    # ---- input normalisation (identity unless the variant normalises its input rows, e.g. relu + rms_norm_input)
    normalizes_input = False  # True: encode(c x) == encode(x) for c > 0; the trainer works on normalize_input(x)

    def normalize_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the encoder sees of raw rows ``x``; the trainer trains on it (times its usual input scale)."""
        return x

    def reconstruct(self, codes: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction of raw rows ``x`` from (possibly edited) codes, on the scale of ``x``."""
        return self.decode(codes)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.pre_activations(self.normalize_input(x)))

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes -> rows in the space the SAE was trained in (that of ``normalize_input``); see ``reconstruct``."""
        return codes @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reconstruct(self.encode(x), x)

    def sparse_codes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Row-sorted COO (rows, latents, values) of the non-zero codes."""
        codes = self.encode(x)
        rows, lat = codes.nonzero(as_tuple=True)
        return rows, lat, codes[rows, lat]

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8))


class _KSAE(SAE):
    """Base of the variants with k active latents per row (exactly, or on average over a batch), trained on
    the sparse path; sparsity is paper A's s."""

    sparsity_key = "sparsities"
    sparse_training = True

    def __init__(self, d_in: int, d_sae: int, k: int):
        super().__init__(d_in, d_sae)
        if not 1 <= k <= d_sae:
            raise ValueError(f"k must be in [1, d_sae={d_sae}], got {k}")
        self.k = k

    @classmethod
    def from_sparsity(cls, d_in, d_sae, sparsity, options=None):
        """Paper A's s (k = int((1 - s) d_sae)), or k itself when sparsity >= 1."""
        return cls(d_in, d_sae, int(sparsity) if sparsity >= 1 else k_from_sparsity(sparsity, d_sae))

    @classmethod
    def from_cfg(cls, cfg):
        return cls(cfg["d_in"], cfg["d_sae"], cfg["k"])

    def sparsity_cfg(self) -> dict:
        return {"k": self.k}


class TopKSAE(_KSAE):
    """x -> TopK(ReLU((x - b_dec) W_enc + b_enc)) -> codes W_dec + b_dec."""

    variant = "topk"
    architecture = "topk"

    def select_active(self, pre, cfg):
        # Raw top-k values: sparse_decode applies the ReLU (and its gradient mask) itself.
        vals, lat = pre.topk(self.k, dim=-1, sorted=False)
        rows = torch.arange(pre.shape[0], device=pre.device).repeat_interleave(self.k)
        return rows, lat.reshape(-1), vals.reshape(-1)

    def encode_sparse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The k largest activations per row (ReLU applied) and their latent indices."""
        values, indices = self.pre_activations(x).topk(self.k, dim=-1, sorted=False)
        return values.clamp_min(0.0), indices

    def decode_sparse(self, values: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        # Summing only the k active decoder rows is k/d_sae of a dense decode.
        return F.embedding_bag(indices, self.W_dec, per_sample_weights=values, mode="sum") + self.b_dec

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        values, indices = pre.topk(self.k, dim=-1, sorted=False)
        return torch.zeros_like(pre).scatter_(1, indices, values.clamp_min(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_sparse(*self.encode_sparse(x))

    def sparse_codes(self, x):
        values, indices = self.encode_sparse(x)
        rows = torch.arange(x.shape[0], device=x.device).repeat_interleave(self.k)
        return rows, indices.reshape(-1), values.reshape(-1)


class BatchTopKSAE(_KSAE):
    """Training: keep the k * batch largest activations of the whole batch (Bussmann et al. 2024).
    Inference: a JumpReLU with one global ``threshold`` (running mean of the smallest kept activation)."""

    variant = "batchtopk"
    architecture = "jumprelu"  # what it is at inference, as sae-lens exports it

    def __init__(self, d_in: int, d_sae: int, k: int):
        super().__init__(d_in, d_sae, k)
        self.register_buffer("threshold", torch.zeros(d_sae))  # one value, stored per latent (sae-lens layout)

    def sparsity_cfg(self) -> dict:
        return {"k": self.k, "threshold": float(self.threshold[0])}

    def export_tensors(self):
        return {"threshold": self.threshold.detach().cpu().float().contiguous()}

    def select_active(self, pre, cfg):
        rows, lat, vals = self.batch_select(pre)
        if vals.numel():
            self.update_threshold(float(vals.min()), cfg.threshold_momentum)
        return rows, lat, vals

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return pre * (pre > self.threshold).to(pre.dtype) * (pre > 0).to(pre.dtype)

    def batch_select(self, pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Row-sorted COO of the top k * batch positive activations of the batch."""
        n = min(self.k * pre.shape[0], pre.numel())
        values, flat = pre.reshape(-1).topk(n, sorted=False)
        keep = values > 0
        flat = flat[keep].sort().values
        rows, lat = flat // self.d_sae, flat % self.d_sae
        return rows, lat, pre.reshape(-1)[flat]

    @torch.no_grad()
    def update_threshold(self, min_kept: float, momentum: float = 0.99) -> None:
        t = float(self.threshold[0])
        self.threshold.fill_(min_kept if t == 0 else momentum * t + (1 - momentum) * min_kept)


def rms(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per-row root mean square, shape (rows, 1)."""
    return x.pow(2).mean(-1, keepdim=True).add(eps).sqrt()


class ReLUSAE(SAE):
    """ReLU codes; trained with an L1 penalty (weight ``l1_coef``) on codes times decoder norms.

    ``rms_norm_input`` (paper C's RMSNorm of the SAE input): the encoder sees x / rms(x), so a row's codes do not
    depend on its scale; the decoder reconstructs that normalised row and ``reconstruct`` / ``forward`` multiply it
    back by rms(x). The training loss is taken in the normalised space: every frame weighs the same whatever its
    loudness, which is what the normalisation is for (a loss on raw rows would weight each frame by its squared
    RMS again); reconstruction metrics are measured on raw rows (de-normalised), like every other variant's. The
    exported file keeps the sae-lens meaning: ``normalize_activations: constant_norm_rescale`` (x scaled to norm
    sqrt(d_in), i.e. RMS 1, and the output scaled back), weights folded as usual. No learned gain: it would be
    absorbed by W_enc and W_dec.
    """

    variant = "relu"
    sparsity_key = "l1_coefficients"
    architecture = "standard"

    def __init__(self, d_in: int, d_sae: int, l1_coef: float, rms_norm_codes: bool = False, rms_norm_input: bool = False):
        super().__init__(d_in, d_sae)
        self.l1_coef, self.rms_norm_codes, self.rms_norm_input = float(l1_coef), bool(rms_norm_codes), bool(rms_norm_input)

    @classmethod
    def from_sparsity(cls, d_in, d_sae, sparsity, options=None):
        """The L1 weight; ``options['rms_norm_codes']`` selects the scale-free penalty, ``options['rms_norm_input']``
        the RMSNorm of the input."""
        options = options or {}
        return cls(d_in, d_sae, sparsity, options.get("rms_norm_codes", False), options.get("rms_norm_input", False))

    @classmethod
    def from_cfg(cls, cfg):
        return cls(cfg["d_in"], cfg["d_sae"], cfg["l1_coefficient"], cfg.get("rms_norm_codes", False),
                   cfg.get("rms_norm_input", False))

    def sparsity_cfg(self) -> dict:
        return {"l1_coefficient": self.l1_coef, "rms_norm_codes": self.rms_norm_codes, "rms_norm_input": self.rms_norm_input}

    @property
    def normalizes_input(self) -> bool:
        return self.rms_norm_input

    def normalize_input(self, x: torch.Tensor) -> torch.Tensor:
        return x / rms(x) if self.rms_norm_input else x

    def reconstruct(self, codes: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        out = self.decode(codes)
        return out * rms(x) if self.rms_norm_input else out

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return F.relu(pre)

    def sparsity_loss(self, codes: torch.Tensor) -> torch.Tensor:
        weighted = codes * self.W_dec.norm(dim=1)
        if self.rms_norm_codes:  # divide by the row's RMS: sum|c| / rms(c), independent of the scale
            weighted = weighted / codes.pow(2).mean(1, keepdim=True).add(1e-12).sqrt() / math.sqrt(self.d_sae)
        return self.l1_coef * weighted.sum(1).mean()

    def dense_codes(self, pre, cfg):
        codes = self.activation(pre)
        return codes, self.sparsity_loss(codes)


class _StepSTE(torch.autograd.Function):
    """Heaviside step H(pre - threshold) with a rectangle-kernel pseudo-derivative for the threshold."""

    @staticmethod
    def forward(ctx, pre, threshold, bandwidth):
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad):
        pre, threshold = ctx.saved_tensors
        eps = ctx.bandwidth
        kernel = ((pre - threshold).abs() < eps / 2).to(pre.dtype) / eps
        return None, (-grad * kernel).sum(0), None


class _JumpSTE(torch.autograd.Function):
    """pre * H(pre - threshold): exact gradient for pre, pseudo-derivative for the threshold."""

    @staticmethod
    def forward(ctx, pre, threshold, bandwidth):
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return pre * (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad):
        pre, threshold = ctx.saved_tensors
        eps = ctx.bandwidth
        active = (pre > threshold).to(pre.dtype)
        kernel = ((pre - threshold).abs() < eps / 2).to(pre.dtype) / eps
        return grad * active, (-threshold * grad * kernel).sum(0), None


class JumpReLUSAE(SAE):
    """codes = pre * H(pre - threshold) with a learned per-latent threshold (stored as log_threshold)."""

    variant = "jumprelu"
    sparsity_key = "target_l0s"
    architecture = "jumprelu"

    def __init__(self, d_in: int, d_sae: int, target_l0: float, bandwidth: float = 0.001, init_threshold: float = 0.001):
        super().__init__(d_in, d_sae)
        if not 0 < target_l0 <= d_sae:
            raise ValueError(f"target L0 must be in (0, d_sae={d_sae}], got {target_l0}")
        self.target_l0, self.bandwidth = float(target_l0), float(bandwidth)
        self.log_threshold = nn.Parameter(torch.full((d_sae,), math.log(init_threshold)))

    @property
    def threshold(self) -> torch.Tensor:
        return self.log_threshold.exp()

    @classmethod
    def from_sparsity(cls, d_in, d_sae, sparsity, options=None):
        """The target L0."""
        return cls(d_in, d_sae, sparsity)

    @classmethod
    def from_cfg(cls, cfg):
        return cls(cfg["d_in"], cfg["d_sae"], cfg["target_l0"])

    def sparsity_cfg(self) -> dict:
        return {"target_l0": self.target_l0}

    def export_tensors(self):
        return {"threshold": self.threshold.detach().cpu().float().contiguous()}

    def state_from_export(self, state):
        state["log_threshold"] = state.pop("threshold").clamp_min(1e-30).log()
        return state

    def init_from_sample(self, x):
        self.init_threshold(x)

    @torch.no_grad()
    def init_threshold(self, x: torch.Tensor) -> None:
        """One threshold for all latents such that about target_l0 latents per row of ``x`` pass it."""
        pre = self.pre_activations(x).flatten()
        q = 1.0 - self.target_l0 / self.d_sae
        ordered = pre.sort().values
        i = min(pre.numel() - 1, int(q * pre.numel()))
        # midway to the next order statistic, so that no sample's pre-activation sits exactly on the threshold
        # (a latent that never moves would then flip on the rounding of a rescaled checkpoint)
        t = (0.5 * (ordered[i] + ordered[min(i + 1, pre.numel() - 1)])).clamp_min(1e-6)
        self.log_threshold.fill_(float(t.log()))

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return F.relu(pre) * (pre > self.threshold).to(pre.dtype)

    def train_codes(self, pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Dense codes and the batch L0, both differentiable w.r.t. the threshold through the STEs."""
        pre = F.relu(pre)
        t = self.threshold
        return _JumpSTE.apply(pre, t, self.bandwidth), _StepSTE.apply(pre, t, self.bandwidth).sum(1).mean()

    def dense_codes(self, pre, cfg):
        codes, l0 = self.train_codes(pre)
        return codes, cfg.l0_coef * (l0 / self.target_l0 - 1.0).pow(2)


# Paper A's trainer (theomariotte/sae_audio_ssl: audxsae/nn/sae.py, src/sae_train_ssl.py and
# config/sae_ssl_cfg_vocalset.py): Adam at 1e-3 (its StepLR halves the rate every 200 epochs, i.e. never in 100),
# batch 16, 100 epochs keeping the epoch of best validation loss, nn.MSELoss (mean over rows and dimensions) only,
# d_sae 2048 whatever the layer width, raw (unscaled) inputs, no decoder normalisation, no gradient clipping, no
# AuxK, no warm-up or decay. Its patience_early_stop (15) is defined but never read: every epoch runs (patience 0).
PAPER_A_TRAINING = {
    "d_sae": 2048, "batch_size": 16, "lr": 1e-3, "epochs": 100, "patience": 0, "steps": 0,
    "recon_loss": "mse", "normalize_decoder": False, "scale_inputs": False, "b_dec_init": "zeros",
    "warmup_frac": 0.0, "decay_frac": 0.0, "grad_clip": 0.0, "aux_coef": 0.0, "autocast": False,
    # Training by epochs keeps the best epoch's weights, which a training-state checkpoint does not hold (found by the
    # full study's rehearsal: a study-wide sae.checkpoint_every made every paper_a_topk job fail).
    "checkpoint_every": 0,
}


class PaperATopKSAE(TopKSAE):
    """Paper A's SAE as its code trains it: codes = TopK(ReLU(x W_enc + b_enc)) with k = int((1 - s) d_sae),
    x_hat = codes W_dec: no pre-encoder (b_dec) bias and no decoder bias (b_dec is kept at zero and frozen, so the
    checkpoint has sae-lens's layout), nn.Linear's default initialisation, decoder rows not normalised.

    Its training options are the preset :data:`PAPER_A_TRAINING` on top of the sweep's (``train_options``; the plan
    records them, so the folder is ``paper_a_topk-d2048-...`` and cfg.json's ``training`` says what ran). What
    cannot apply to the study's rows: paper A draws a random 5 s crop of every file each epoch; the study's rows are
    fixed clip means (of the dataset's stored clips, e.g. vocalset's first ``clip_seconds`` = 5 s) or frames, so
    every epoch sees the same rows, reshuffled. Validation loss is the MSE on the valid split (paper A's
    validation files: 20 % of the training singers' files).
    """

    variant = "paper_a_topk"
    architecture = "topk"

    def __init__(self, d_in: int, d_sae: int, k: int):
        super().__init__(d_in, d_sae, k)
        self.b_dec.requires_grad_(False)  # no pre-encoder bias, no decoder bias: b_dec stays 0

    @classmethod
    def train_options(cls, options):
        return {**options, **PAPER_A_TRAINING}

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator | None = None, encoder_scale: float = ENCODER_INIT_SCALE) -> None:
        """nn.Linear's default: weights and encoder bias uniform in +-1/sqrt(fan_in) (``encoder_scale`` unused)."""
        bound_enc, bound_dec = 1.0 / math.sqrt(self.d_in), 1.0 / math.sqrt(self.d_sae)
        self.W_enc.copy_((torch.rand(self.d_in, self.d_sae, generator=generator) * 2 - 1) * bound_enc)
        self.b_enc.copy_((torch.rand(self.d_sae, generator=generator) * 2 - 1) * bound_enc)
        self.W_dec.copy_((torch.rand(self.d_sae, self.d_in, generator=generator) * 2 - 1) * bound_dec)
        self.b_dec.zero_()


def variant_class(name: str) -> type[SAE]:
    """The SAE class registered under ``name``."""
    try:
        return VARIANT_CLASSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown SAE variant {name!r}; known variants: {', '.join(VARIANT_CLASSES)}") from None


def sparsity_key(variant: str) -> str:
    """The config key listing the swept sparsity values of ``variant`` (e.g. relu -> l1_coefficients)."""
    return variant_class(variant).sparsity_key


def build_sae(variant: str, d_in: int, d_sae: int, sparsity: float, rms_norm_codes: bool | None = None,
              options: Mapping | None = None) -> SAE:
    """The SAE of ``variant`` with its sparsity parameter in that variant's meaning:
    topk / batchtopk: paper A's s (k = int((1 - s) d_sae)), or k itself when sparsity >= 1;
    relu: the L1 weight; jumprelu: the target L0. ``options`` is the sae config (variants read their
    options from it); ``rms_norm_codes``, when given, overrides its entry."""
    options = dict(options or {})
    if rms_norm_codes is not None:
        options["rms_norm_codes"] = rms_norm_codes
    return variant_class(variant).from_sparsity(d_in, d_sae, sparsity, options)
