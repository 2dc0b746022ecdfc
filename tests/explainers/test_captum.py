"""Captum adapters: completeness, hand formulas, seeding, DeepLift's model checks."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch import nn

from rnnxbench.explainers import (
    DeepLift,
    GradientShap,
    InputXGradient,
    IntegratedGradients,
    SmoothGrad,
)
from rnnxbench.explainers.captum import captum_attr, reused_modules
from rnnxbench.explainers.gradient import target_gradient
from rnnxbench.registry import ARCHITECTURES, EXPLAINERS, describe
from rnnxbench.relevance import UnsupportedModel
from rnnxbench.tasks.base import InputSpec

captum = pytest.importorskip("captum.attr")

DT = torch.float64
SMALL = InputSpec(n_steps=4, step_dim=6, step_shape=(6,), n_classes=3, bounds=(-1.0, 1.0))
SIZES = {
    "shallow": {"hidden": 16},
    "deep": {"in_units": 12, "cell_units": 10, "rec_units": 8, "head_units": 6},
}
NAMES = {"ig": IntegratedGradients, "input_x_gradient": InputXGradient,
         "gradient_shap": GradientShap, "smoothgrad": SmoothGrad, "deeplift": DeepLift}


def thesis(name: str) -> nn.Module:
    torch.manual_seed(0)
    return ARCHITECTURES.get(name)(SMALL, **SIZES[name]).to(DT).eval()


def data(n: int = 6, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 4, 6, generator=g, dtype=DT) * 2 - 1,
            torch.randint(0, 3, (n,), generator=g))


class Linear(nn.Module):
    """Logits ``W flatten(x) + b``: every gradient method has a closed form."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(24, 3)).to(DT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def weight(self, target: torch.Tensor) -> torch.Tensor:
        return self.net[1].weight.detach()[target].view(-1, 4, 6)


def feed_forward() -> nn.Module:
    """A ReLU MLP over the flattened (N, T, D) input, each module used once."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(24, 16), nn.ReLU(), nn.Linear(16, 8),
                         nn.ReLU(), nn.Linear(8, 3)).to(DT).eval()


def class_logit(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).gather(1, target[:, None])[:, 0]


def test_registered_with_descriptions():
    for name, cls in NAMES.items():
        assert EXPLAINERS.get(name) is cls
        assert describe(cls)


def test_missing_captum_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    with pytest.raises(ImportError, match="pip install captum"):
        captum_attr()


@pytest.mark.parametrize("name", ["shallow", "deep"])
def test_ig_completeness_on_thesis_models(name):
    model = thesis(name)
    x, target = data()
    expected = class_logit(model, x, target) - class_logit(model, torch.zeros_like(x), target)
    rel = IntegratedGradients(model, n_steps=256).attribute(x, target)
    assert rel.shape == x.shape and rel.dtype == x.dtype
    torch.testing.assert_close(rel.sum((1, 2)), expected, rtol=0, atol=1e-3)
    coarse = IntegratedGradients(model, n_steps=4).attribute(x, target)
    assert (coarse.sum((1, 2)) - expected).abs().max() > 1e-3  # the steps do matter


def test_ig_and_input_x_gradient_on_a_linear_model():
    model = Linear()
    x, target = data()
    expected = x * model.weight(target)
    torch.testing.assert_close(IntegratedGradients(model, n_steps=2).attribute(x, target),
                               expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(InputXGradient(model).attribute(x, target), expected,
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["shallow", "deep"])
def test_input_x_gradient_equals_x_times_gradient(name):
    model = thesis(name)
    x, target = data()
    rel = InputXGradient(model).attribute(x, target)
    torch.testing.assert_close(rel, x * target_gradient(model, x, target), rtol=1e-12,
                               atol=1e-14)


def test_gradient_shap_draws_from_zero_and_batch_mean():
    """Linear model, no noise: each draw gives ``(x - b) * w`` with b zero or the batch
    mean, so ``x - R / w`` is a multiple k / n_samples of the batch mean."""
    model = Linear()
    x, target = data()
    rel = GradientShap(model, n_samples=8).attribute(x, target)
    offset = x - rel / model.weight(target)
    mean = x.mean(0)
    fraction = (offset * mean).sum((1, 2)) / (mean * mean).sum()
    torch.testing.assert_close(offset, fraction[:, None, None] * mean, rtol=1e-9, atol=1e-12)
    counts = fraction * 8
    torch.testing.assert_close(counts, counts.round(), rtol=0, atol=1e-9)
    assert ((counts >= 0) & (counts <= 8)).all()
    assert len(set(counts.round().tolist())) > 1  # both baselines are drawn


@pytest.mark.parametrize("cls", [GradientShap, SmoothGrad])
def test_seeded_methods_deterministic_and_leave_global_rngs_alone(cls):
    model = thesis("deep")
    x, target = data()
    torch.manual_seed(123)
    np.random.seed(123)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    first = cls(model).attribute(x, target)
    assert torch.equal(first, cls(model).attribute(x, target))
    assert torch.equal(first, cls(model, seed=0).attribute(x, target))
    assert not torch.allclose(first, cls(model, seed=1).attribute(x, target))
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state[1])


def test_smoothgrad():
    linear = Linear()
    x, target = data()
    w = linear.weight(target)
    torch.testing.assert_close(SmoothGrad(linear).attribute(x, target), w.abs())
    torch.testing.assert_close(SmoothGrad(linear, absolute=False).attribute(x, target), w)
    model = thesis("shallow")
    grad = target_gradient(model, x, target)
    tiny = SmoothGrad(model, stdevs=1e-9, nt_samples=3, absolute=False).attribute(x, target)
    torch.testing.assert_close(tiny, grad, rtol=1e-6, atol=1e-9)
    noisy = SmoothGrad(model, absolute=False).attribute(x, target)
    assert not torch.allclose(noisy, grad, rtol=1e-3)
    # default noise: 0.15 of the declared input range (bounds -1..1)
    assert SmoothGrad(model).noise_std(x) == pytest.approx(0.3)
    assert SmoothGrad(feed_forward()).noise_std(x) == pytest.approx(0.15 * float(x.max() - x.min()))


@pytest.mark.filterwarnings("ignore:Setting forward, backward hooks")
def test_deeplift_on_feed_forward_relu_net():
    model = feed_forward()
    x, target = data()
    rel = DeepLift(model).attribute(x, target)
    assert rel.shape == x.shape and rel.dtype == x.dtype
    expected = class_logit(model, x, target) - class_logit(model, torch.zeros_like(x), target)
    torch.testing.assert_close(rel.sum((1, 2)), expected, rtol=1e-9, atol=1e-12)
    theirs = captum.DeepLift(model).attribute(x.clone().requires_grad_(True),
                                              baselines=torch.zeros_like(x), target=target)
    torch.testing.assert_close(rel, theirs.detach(), rtol=1e-12, atol=1e-14)
    assert not torch.allclose(rel, InputXGradient(model).attribute(x, target))
    assert all(not m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("name", ["shallow", "deep"])
def test_deeplift_unsupported_on_reused_modules(name):
    model = thesis(name)
    x, target = data()
    with pytest.raises(UnsupportedModel, match=r"more than once.*'rec_act' x3"):
        DeepLift(model).attribute(x, target)
    assert all(not m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("name", ["gru", "lstm", "attn_gru", "nv_rnn"])
def test_deeplift_unsupported_on_torch_recurrent_modules(name):
    torch.manual_seed(0)
    model = ARCHITECTURES.get(name)(SMALL, hidden=5).to(DT).eval()
    x, target = data()
    with pytest.raises(UnsupportedModel, match=r"captum's DeepLift.*fused recurrent.*'?rnn"):
        DeepLift(model).attribute(x, target)


def test_reused_modules_counts_calls():
    relu = nn.ReLU()
    twice = nn.Sequential(nn.Linear(3, 3), relu, nn.Linear(3, 3), relu)
    assert reused_modules(twice, torch.randn(2, 3)) == {"1": 2}
    assert reused_modules(feed_forward(), torch.randn(2, 4, 6, dtype=DT)) == {}


@pytest.mark.parametrize("name", list(NAMES))
def test_side_effects_and_int_target(name):
    model = feed_forward().train()
    x, _ = data()
    x.requires_grad_(False)
    explainer = EXPLAINERS.get(name)(model)
    rel = explainer.attribute(x, 2)
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    assert not x.requires_grad and x.grad is None and not rel.requires_grad
    torch.testing.assert_close(rel, explainer.attribute(x, torch.full((len(x),), 2)))


def test_recurrent_torch_model_in_eval_mode():
    """A stacked torch GRU: explained in eval mode, never switched to train()."""
    torch.manual_seed(0)
    model = ARCHITECTURES.get("gru")(SMALL, hidden=5, depth=2).to(DT).eval()
    x, target = data()
    rel = IntegratedGradients(model, n_steps=128).attribute(x, target)
    expected = class_logit(model, x, target) - class_logit(model, torch.zeros_like(x), target)
    torch.testing.assert_close(rel.sum((1, 2)), expected, rtol=0, atol=1e-3)
    assert not model.training
