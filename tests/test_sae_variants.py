"""The SAE variant as the extension point: a variant is one class in sae/model.py (plus schema and tests);
the trainer (sae/train.py) and the checkpoint format (sae/io.py) need no change."""
import inspect
import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from audiosae.sae import io as sae_io
from audiosae.sae import model as sae_model
from audiosae.sae import train as sae_train
from audiosae.sae.io import load_sae, save_sae
from audiosae.sae.metrics import fvu
from audiosae.sae.model import SAE, build_sae, sparsity_key, variant_class
from audiosae.sae.train import TrainConfig, random_batches, train_sae
from test_sae import planted_dictionary


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def registry(monkeypatch):
    """A copy of the variant registry for one test, so toy variants do not leak into other tests."""
    monkeypatch.setattr(sae_model, "VARIANT_CLASSES", dict(sae_model.VARIANT_CLASSES))
    return sae_model.VARIANT_CLASSES


def define_toy_variants() -> dict[str, type[SAE]]:
    """Two variants unknown to the package, defined as a user would: by subclassing SAE (which registers them)."""

    class PlainL1SAE(SAE):
        """Dense path: ReLU codes with an unweighted L1 penalty."""

        variant = "plainl1"
        sparsity_key = "plain_l1_coefficients"
        architecture = "standard"

        def __init__(self, d_in, d_sae, coef):
            super().__init__(d_in, d_sae)
            self.coef = float(coef)

        @classmethod
        def from_sparsity(cls, d_in, d_sae, sparsity, options=None):
            return cls(d_in, d_sae, sparsity)

        @classmethod
        def from_cfg(cls, cfg):
            return cls(cfg["d_in"], cfg["d_sae"], cfg["plain_l1"])

        def sparsity_cfg(self):
            return {"plain_l1": self.coef}

        def activation(self, pre):
            return F.relu(pre)

        def dense_codes(self, pre, cfg):
            codes = self.activation(pre)
            return codes, self.coef * codes.sum(1).mean()

    class FixedJumpSAE(SAE):
        """Sparse path: a JumpReLU with one fixed threshold, exported as sae-lens's jumprelu."""

        variant = "fixedjump"
        sparsity_key = "fixed_thresholds"
        architecture = "jumprelu"
        sparse_training = True

        def __init__(self, d_in, d_sae, t):
            super().__init__(d_in, d_sae)
            self.t = float(t)
            self.register_buffer("threshold", torch.full((d_sae,), self.t))

        @classmethod
        def from_sparsity(cls, d_in, d_sae, sparsity, options=None):
            return cls(d_in, d_sae, sparsity)

        @classmethod
        def from_cfg(cls, cfg):
            return cls(cfg["d_in"], cfg["d_sae"], cfg["fixed_threshold"])

        def sparsity_cfg(self):
            return {"fixed_threshold": self.t}

        def activation(self, pre):
            return pre * (pre > self.threshold).to(pre.dtype)

        def select_active(self, pre, cfg):
            rows, lat = (pre > self.threshold).nonzero(as_tuple=True)  # row-major, so row-sorted
            return rows, lat, pre[rows, lat]

        def export_tensors(self):
            return {"threshold": self.threshold.detach().cpu().contiguous()}

    return {"plainl1": PlainL1SAE, "fixedjump": FixedJumpSAE}


def test_sparsity_key_and_export_name_of_the_builtin_variants():
    assert {v: sparsity_key(v) for v in ("topk", "batchtopk", "relu", "jumprelu")} == {
        "topk": "sparsities", "batchtopk": "sparsities", "relu": "l1_coefficients", "jumprelu": "target_l0s"}
    assert {v: variant_class(v).architecture for v in ("topk", "batchtopk", "relu", "jumprelu")} == {
        "topk": "topk", "batchtopk": "jumprelu", "relu": "standard", "jumprelu": "jumprelu"}
    assert list(sae_model.VARIANT_CLASSES) == ["topk", "batchtopk", "relu", "jumprelu", "paper_a_topk"]
    assert [variant_class(v).sparse_training for v in ("topk", "batchtopk", "relu", "jumprelu")] == [True, True, False, False]


def test_unknown_variant_is_a_clear_error(tmp_path):
    message = r"unknown SAE variant 'sparsemax'; known variants: topk, batchtopk, relu, jumprelu, paper_a_topk$"
    with pytest.raises(ValueError, match=message):
        variant_class("sparsemax")
    with pytest.raises(ValueError, match=message):
        sparsity_key("sparsemax")
    with pytest.raises(ValueError, match=message):
        build_sae("sparsemax", 4, 8, 0.5)
    # a checkpoint of an unknown variant names its file
    (tmp_path / "cfg.json").write_text(json.dumps({"variant": "sparsemax", "d_in": 4, "d_sae": 8}))
    save_file({"W_enc": torch.zeros(4, 8)}, str(tmp_path / "sae_weights.safetensors"))
    with pytest.raises(ValueError, match=r"cfg.json: unknown SAE variant 'sparsemax'"):
        load_sae(tmp_path)


def test_build_sae_reads_each_variants_sparsity_and_options():
    assert build_sae("topk", 4, 40, 0.9).k == 4  # paper A's s
    assert build_sae("batchtopk", 4, 40, 3).k == 3  # k itself
    relu = build_sae("relu", 4, 8, 0.03, True)  # the pipeline's positional form
    assert (relu.l1_coef, relu.rms_norm_codes) == (0.03, True)
    assert build_sae("relu", 4, 8, 0.03, options={"rms_norm_codes": True}).rms_norm_codes is True
    assert build_sae("relu", 4, 8, 0.03, False, options={"rms_norm_codes": True}).rms_norm_codes is False
    assert build_sae("jumprelu", 4, 8, 2).target_l0 == 2.0


def test_registry_refuses_incomplete_and_clashing_variants(registry):
    with pytest.raises(TypeError, match="'half' .* must set sparsity_key and architecture"):
        class Half(SAE):  # noqa: F841
            variant = "half"
            architecture = "standard"
    with pytest.raises(ValueError, match="'topk' is already defined by TopKSAE"):
        class OtherTopK(SAE):  # noqa: F841
            variant = "topk"
            sparsity_key = "sparsities"
            architecture = "topk"
    assert "half" not in registry and registry["topk"] is sae_model.TopKSAE


@pytest.mark.parametrize(
    "variant, sparsity, l0_range",
    [("plainl1", 0.1, (25, 45)),  # measured: L0 35.6, logged FVU 0.572 -> 0.145
     ("fixedjump", 0.1, (10, 25))],  # measured: L0 16.7, logged FVU 0.531 -> 0.164
)
def test_new_variant_trains_saves_and_reloads_without_touching_trainer_or_io(registry, tmp_path, variant, sparsity, l0_range):
    cls = define_toy_variants()[variant]
    assert variant_class(variant) is cls and sparsity_key(variant) == cls.sparsity_key
    x, _ = planted_dictionary(n=1500)
    x = x * 7.0  # raw scale, folded into the export
    sae = build_sae(variant, 32, 96, sparsity)
    assert type(sae) is cls
    cfg = TrainConfig(steps=80, batch_size=128, lr=3e-3, seed=1, dead_after_rows=1000)
    scale, history = train_sae(sae, lambda s: random_batches(x, 128, 1, s), x, cfg, progress=False)
    with torch.no_grad():
        xs = x * scale
        codes = sae.encode(xs)
        l0 = float((codes > 0).float().sum(1).mean())
        assert fvu(xs, sae.decode(codes)) < 0.25
    assert history[-1]["fvu"] < 0.6 * history[0]["fvu"]
    assert l0_range[0] <= l0 <= l0_range[1]

    save_sae(sae, tmp_path, {"seed": 1, "sparsity": sparsity}, scale)
    on_disk = json.loads((tmp_path / "cfg.json").read_text())
    assert on_disk["variant"] == variant and on_disk["architecture"] == cls.architecture
    assert on_disk[next(iter(sae.sparsity_cfg()))] == sparsity
    state = load_file(str(tmp_path / "sae_weights.safetensors"))
    extra = {"threshold"} if variant == "fixedjump" else set()
    assert set(state) == {"W_enc", "b_enc", "W_dec", "b_dec"} | extra
    loaded, _ = load_sae(tmp_path)
    assert type(loaded) is cls
    with torch.no_grad():
        assert torch.allclose(loaded.encode(x), codes, atol=1e-5)
        assert torch.allclose(loaded(x), sae(xs) / scale, rtol=1e-4, atol=1e-4)
        # sae-lens's inference rule for the exported architecture gives the same codes from the file alone
        pre = (x - state["b_dec"]) @ state["W_enc"] + state["b_enc"]
        ref = pre.relu() * (pre > state["threshold"]) if cls.architecture == "jumprelu" else pre.relu()
        assert torch.allclose(loaded.encode(x), ref, atol=1e-5)
    # a missing exported tensor is reported, whatever the variant
    if extra:
        del state["threshold"]
        save_file(state, str(tmp_path / "sae_weights.safetensors"))
        with pytest.raises(ValueError, match=r"missing tensors \['threshold'\]"):
            load_sae(tmp_path)


def test_trainer_and_checkpoint_code_name_no_variant():
    for module in (sae_train, sae_io):
        source = inspect.getsource(module)
        assert "isinstance(" not in source, module.__name__
        for cls in sae_model.VARIANT_CLASSES.values():
            assert cls.__name__ not in source, (module.__name__, cls.__name__)


# ---------------------------------------------------------------- relu + rms_norm_input (paper C's RMSNorm)


def test_rms_norm_input_codes_ignore_a_rows_scale_and_the_checkpoint_round_trips(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(256, 12) * torch.rand(256, 1).mul(5).add(0.1)  # rows of very different scales
    sae = build_sae("relu", 12, 48, 0.01, options={"rms_norm_codes": False, "rms_norm_input": True})
    cfg = TrainConfig(steps=40, batch_size=64, lr=3e-3, seed=0)
    scale, _ = train_sae(sae, lambda s: random_batches(x, 64, 0, s), x, cfg, progress=False)
    assert scale == pytest.approx(1 / 12 ** 0.5, rel=1e-5)  # normalised rows have norm sqrt(d_in): scaled to unit norm
    row = x[:5]
    with torch.no_grad():
        codes = sae.encode(row)
        assert (codes > 0).any()
        for c in (0.01, 3.0, 1000.0):  # a row times a constant: the same codes, the reconstruction times the constant
            assert torch.allclose(sae.encode(c * row), codes, atol=1e-5)
            assert torch.allclose(sae(c * row), c * sae(row), rtol=1e-4, atol=1e-5 * c)
        assert torch.allclose(sae(row), sae.reconstruct(codes, row))
    save_sae(sae, tmp_path, {"layer": 2}, scale)
    loaded, saved_cfg = load_sae(tmp_path)
    assert saved_cfg["rms_norm_input"] is True and saved_cfg["rms_norm_codes"] is False
    assert saved_cfg["normalize_activations"] == "constant_norm_rescale"  # sae-lens: x / rms(x) in, times rms(x) out
    assert isinstance(loaded, sae_model.ReLUSAE) and loaded.rms_norm_input
    with torch.no_grad():
        # the file takes raw rows, like every other checkpoint: the trained SAE on (normalised rows x scale)
        ref = sae.activation(sae.pre_activations(sae.normalize_input(row) * scale))
        ref_hat = sae.decode(ref) / scale * sae_model.rms(row)
        assert torch.allclose(loaded.encode(row), ref, atol=1e-5) and torch.allclose(loaded(row), ref_hat, atol=1e-4)
        for c in (0.01, 3.0, 1000.0):
            assert torch.allclose(loaded.encode(c * row), ref, atol=1e-5)
        # what sae-lens's constant_norm_rescale does: scale to norm sqrt(d_in), standard SAE, scale back
        f = 12 ** 0.5 / row.norm(dim=1, keepdim=True)
        st = load_file(str(tmp_path / "sae_weights.safetensors"))
        pre = (row * f - st["b_dec"]) @ st["W_enc"] + st["b_enc"]
        assert torch.allclose(F.relu(pre), ref, atol=1e-4)
        assert torch.allclose((F.relu(pre) @ st["W_dec"] + st["b_dec"]) / f, ref_hat, atol=1e-4)
    # a checkpoint written before the option existed loads as it was (no input normalisation)
    old = {k: v for k, v in saved_cfg.items() if k != "rms_norm_input"}
    assert sae_model.ReLUSAE.from_cfg(old).rms_norm_input is False


# ---------------------------------------------------------------- paper_a_topk: paper A's own trainer


def test_paper_a_preset_is_paper_as_trainer():
    from audiosae.sae.pipeline import train_config

    sweep = {"d_sae": None, "expansion": 4, "batch_size": 256, "lr": 3e-4, "steps": 1000, "warmup_frac": 0.05,
             "decay_frac": 0.2, "grad_clip": 1.0, "aux_coef": 1 / 32, "aux_k": 256, "dead_after_rows": 50000,
             "b_dec_init": "geometric_median", "l0_coef": 1.0, "autocast": True, "checkpoint_every": 0}
    opts = variant_class("paper_a_topk").train_options(sweep)
    assert variant_class("topk").train_options(sweep) == sweep  # the project's variants keep the sweep's options
    cfg = train_config(opts, seed=0, d_sae=opts["d_sae"])
    assert opts["d_sae"] == 2048 and opts["expansion"] == 4  # d_sae fixed whatever d_in
    assert (cfg.batch_size, cfg.lr, cfg.epochs, cfg.patience) == (16, 1e-3, 100, 0)
    assert (cfg.recon_loss, cfg.normalize_decoder, cfg.scale_inputs, cfg.b_dec_init) == ("mse", False, False, "zeros")
    assert (cfg.aux_coef, cfg.grad_clip, cfg.warmup_frac, cfg.decay_frac) == (0.0, 0.0, 0.0, 0.0)  # MSE only, constant lr
    # the project's trainer is unchanged for the other variants
    project = train_config(sweep, 0, 64)
    assert (project.epochs, project.recon_loss, project.normalize_decoder, project.scale_inputs) == (0, "sum", True, True)
    sae = build_sae("paper_a_topk", 8, opts["d_sae"], 0.9)
    assert sae.k == int(0.1 * 2048) and sae.architecture == "topk" and not sae.b_dec.requires_grad


def test_paper_a_training_mse_adam_no_bias_no_decoder_norm_best_validation_epoch(monkeypatch):
    torch.manual_seed(0)
    d, n = 10, 200
    dictionary = torch.randn(30, d)
    codes = torch.rand(n + 60, 30) * (torch.rand(n + 60, 30) < 0.1)
    data = codes @ dictionary + 3.0  # an offset a b_dec would take; paper A's SAE has none to learn it with
    train, valid = data[:n], data[n:]
    opts = variant_class("paper_a_topk").train_options({"aux_k": 256, "dead_after_rows": 50000, "l0_coef": 1.0})
    cfg = TrainConfig(**{k: v for k, v in opts.items() if k in TrainConfig.__dataclass_fields__ and k != "d_sae"}, seed=0)
    cfg = TrainConfig(**{**cfg.to_dict(), "epochs": 12})
    seen = {}
    make = sae_train._make_optimizer

    def spy(sae, cfg_, device):
        opt = make(sae, cfg_, device)
        seen["opt"] = opt
        return opt

    monkeypatch.setattr(sae_train, "_make_optimizer", spy)
    sae = build_sae("paper_a_topk", d, 64, 0.75)
    per_epoch = sae_train.steps_per_epoch(n, cfg.batch_size)
    assert per_epoch == 13  # 200 rows in batches of 16, the last one short
    scale, history = train_sae(sae, lambda s: sae_train.epoch_batches(train, cfg.batch_size, 0, s), train, cfg,
                               progress=False, valid=valid, epoch_steps=per_epoch)
    opt = seen["opt"]
    assert isinstance(opt, torch.optim.Adam) and opt.param_groups[0]["lr"] == 1e-3
    assert all(p is not sae.b_dec for p in opt.param_groups[0]["params"])
    assert scale == 1.0  # raw inputs
    assert torch.equal(sae.b_dec, torch.zeros(d))  # no pre-encoder bias, no decoder bias
    with torch.no_grad():  # the encoder is TopK(ReLU(x W_enc + b_enc)): nothing subtracted before it
        pre = train[:4] @ sae.W_enc + sae.b_enc
        expected = torch.zeros_like(pre).scatter_(1, pre.topk(sae.k, 1).indices, pre.topk(sae.k, 1).values.clamp_min(0))
        assert torch.allclose(sae.encode(train[:4]), expected, atol=1e-5)
    norms = sae.W_dec.norm(dim=1)
    assert (norms - 1).abs().max() > 0.05  # decoder rows not normalised (nn.Linear init: norms ~ sqrt(d / 3 d_sae))
    epochs = [h for h in history if "epoch" in h]
    assert [h["epoch"] for h in epochs] == list(range(12))
    best = min(epochs, key=lambda h: h["valid_loss"])
    assert epochs[-1]["best_epoch"] == best["epoch"]
    # the weights kept are the best epoch's: their validation MSE is the best one logged
    assert sae_train.validation_loss(sae, valid, 1.0, cfg, "cpu") == pytest.approx(best["valid_loss"], rel=1e-6)
    with torch.no_grad():  # and the validation loss is the plain MSE (mean over rows and dimensions)
        assert sae_train.validation_loss(sae, valid, 1.0, cfg, "cpu") == pytest.approx(float(((sae(valid) - valid) ** 2).mean()), rel=1e-5)


def test_paper_a_patience_stops_after_epochs_without_a_better_validation_loss():
    torch.manual_seed(1)
    train, valid = torch.randn(64, 6), torch.randn(32, 6) * 5 + 10  # validation rows the model cannot learn
    opts = variant_class("paper_a_topk").train_options({"aux_k": 8, "dead_after_rows": 50000, "l0_coef": 1.0})
    cfg = TrainConfig(**{**{k: v for k, v in opts.items() if k in TrainConfig.__dataclass_fields__ and k != "d_sae"},
                         "epochs": 40, "patience": 3, "lr": 0.05})
    sae = build_sae("paper_a_topk", 6, 32, 0.75)
    _, history = train_sae(sae, lambda s: sae_train.epoch_batches(train, 16, 0, s), train, cfg, progress=False,
                           valid=valid, epoch_steps=4)
    epochs = [h for h in history if "epoch" in h]
    assert len(epochs) < 40 and epochs[-1]["epoch"] - epochs[-1]["best_epoch"] == 3
    with pytest.raises(ValueError, match="needs validation rows"):
        train_sae(sae, lambda s: sae_train.epoch_batches(train, 16, 0, s), train, cfg, progress=False)


def test_paper_a_topk_through_the_pipeline_records_what_ran(tmp_path):
    """One planned paper_a_topk SAE end to end on clip means: d_sae 2048, the valid split for its validation loss,
    cfg.json's training options and the metrics' variant say what ran."""
    import h5py
    import numpy as np
    import pandas as pd

    from audiosae.sae.pipeline import train_layer_sae

    rng = np.random.default_rng(0)
    n, d = 60, 8
    means = rng.normal(size=(n, d)).astype(np.float32)
    ids = [f"c{i}" for i in range(n)]
    splits = ["train"] * 36 + ["valid"] * 12 + ["test"] * 12
    pd.DataFrame({"id": ids, "path": [f"{i}.wav" for i in ids], "split": splits}).to_csv(tmp_path / "clips.csv", index=False)
    with h5py.File(tmp_path / "a.h5", "w") as h5:
        h5.create_dataset("layers/0", data=np.repeat(means, 2, axis=0))
        h5.create_dataset("pooled/mean/0", data=means)
        h5.create_dataset("clips/offsets", data=np.array([(2 * i, 2 * i + 2) for i in range(n)]))
        h5.create_dataset("clips/id", data=np.array(ids, dtype=h5py.string_dtype()))
        h5.attrs.update({"frame_rate": 50, "complete": True})
    sweep = {"train_on": "clip_means", "memory_mb": 64, "eval_rows": 1000, "init_rows": 1000, "expansion": 4,
             "d_sae": None, "rms_norm_codes": False, "rms_norm_input": False, "steps": 1000, "batch_size": 256,
             "lr": 3e-4, "warmup_frac": 0.05, "decay_frac": 0.2, "grad_clip": 1.0, "aux_k": 256, "aux_coef": 1 / 32,
             "dead_after_rows": 50000, "b_dec_init": "geometric_median", "l0_coef": 1.0, "autocast": True,
             "checkpoint_every": 0}
    opts = {**variant_class("paper_a_topk").train_options(sweep), "epochs": 3}
    metrics = train_layer_sae(tmp_path / "a.h5", tmp_path / "clips.csv", tmp_path / "sae", 0, 0.99, 0, opts,
                              {"dataset": "toy", "model": "m"}, "paper_a_topk", progress=False)
    assert metrics["variant"] == "paper_a_topk" and metrics["d_sae"] == 2048 and metrics["k"] == 20
    assert [h["epoch"] for h in metrics["history"] if "epoch" in h] == [0, 1, 2]
    cfg = json.loads((tmp_path / "sae" / "cfg.json").read_text())
    assert cfg["variant"] == "paper_a_topk" and cfg["architecture"] == "topk" and cfg["input_scale"] == 1.0
    t = cfg["training"]
    assert (t["batch_size"], t["lr"], t["epochs"], t["steps"], t["recon_loss"], t["normalize_decoder"]) == (16, 0.001, 3, 9, "mse", False)
    loaded, _ = load_sae(tmp_path / "sae")
    assert torch.equal(loaded.b_dec, torch.zeros(d))
