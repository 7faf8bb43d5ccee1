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
    assert list(sae_model.VARIANT_CLASSES) == ["topk", "batchtopk", "relu", "jumprelu"]
    assert [variant_class(v).sparse_training for v in ("topk", "batchtopk", "relu", "jumprelu")] == [True, True, False, False]


def test_unknown_variant_is_a_clear_error(tmp_path):
    message = r"unknown SAE variant 'sparsemax'; known variants: topk, batchtopk, relu, jumprelu$"
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
