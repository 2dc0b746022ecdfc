"""Sensitivity analysis and guided backprop: batched, recurrence-safe, side-effect free."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnxbench.explainers import GuidedBackprop, SensitivityAnalysis
from rnnxbench.explainers.base import unsupported_reason
from rnnxbench.explainers.gradient import target_gradient
from rnnxbench.models import Deep, Shallow
from rnnxbench.registry import EXPLAINERS
from rnnxbench.tasks.base import InputSpec

captum_attr = pytest.importorskip("captum.attr")
pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU")

SPEC = InputSpec(n_steps=5, step_dim=6, step_shape=(6,), n_classes=4)
SIZES = {
    Shallow: {"hidden": 16},
    Deep: {"in_units": 12, "cell_units": 10, "rec_units": 8, "head_units": 6},
}


def make(cls: type, **options) -> nn.Module:
    torch.manual_seed(0)
    return cls(SPEC, **{**SIZES[cls], **options}).eval()


class FeedForward(nn.Module):
    """A ReLU MLP on (N, 1, D) inputs: the T = 1 case with distinct ReLU modules."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(6, 20), nn.ReLU(), nn.Linear(20, 20), nn.ReLU(),
                                 nn.Linear(20, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x[:, 0])


def data(n: int = 7, n_steps: int = 5, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, n_steps, 6, generator=g), torch.randint(0, 4, (n,), generator=g)


def act_grad(g: torch.Tensor, pre: torch.Tensor, guided: bool) -> torch.Tensor:
    """Backward through a ReLU with pre-activation ``pre``: plain, or guided."""
    return (g.clamp_min(0) if guided else g) * (pre > 0)


def bias(layer) -> torch.Tensor | float:
    return 0.0 if layer.effective_bias is None else layer.effective_bias


def manual_shallow(model: Shallow, x: torch.Tensor, target: torch.Tensor, guided: bool):
    """Gradient of the target logit, unrolled and back-propagated by hand (eval mode)."""
    w_in, w_rec, w_out = (model.in_layer.weight, model.rec_layer.weight, model.out_layer.weight)
    n, n_steps, d = x.shape
    r = torch.zeros(n, model.hidden)
    pre_in, pre_rec = [], []
    for t in range(n_steps):
        pre_in.append(torch.cat([x[:, t], r], 1) @ w_in.T + bias(model.in_layer))
        pre_rec.append(pre_in[-1].clamp_min(0) @ w_rec.T + bias(model.rec_layer))
        r = pre_rec[-1].clamp_min(0)
    grad = torch.zeros_like(x)
    g_ha = w_out[target]
    for t in reversed(range(n_steps)):
        g_xr = act_grad(g_ha, pre_in[t], guided) @ w_in
        grad[:, t] = g_xr[:, :d]
        if t > 0:
            g_ha = act_grad(g_xr[:, d:], pre_rec[t - 1], guided) @ w_rec
    return grad


def manual_deep(model: Deep, x: torch.Tensor, target: torch.Tensor, guided: bool):
    """Gradient of the target logit for Deep, unrolled and back-propagated by hand."""
    w1, wc, wr = model.in_layer.weight, model.cell_layer.weight, model.rec_layer.weight
    wo1, wo2 = model.head_layer.weight, model.out_layer.weight
    n, n_steps, _ = x.shape
    n_a = model.in_units
    pre_a = x @ w1.T + bias(model.in_layer)
    r = torch.zeros(n, model.rec_units)
    pre_c, pre_r = [], []
    for t in range(n_steps):
        pre_c.append(torch.cat([pre_a[:, t].clamp_min(0), r], 1) @ wc.T + bias(model.cell_layer))
        pre_r.append(pre_c[-1].clamp_min(0) @ wr.T + bias(model.rec_layer))
        r = pre_r[-1].clamp_min(0)
    pre_o1 = pre_c[-1].clamp_min(0) @ wo1.T + bias(model.head_layer)
    g_ha = act_grad(wo2[target], pre_o1, guided) @ wo1
    g_a = torch.zeros(n, n_steps, n_a)
    for t in reversed(range(n_steps)):
        g_xr = act_grad(g_ha, pre_c[t], guided) @ wc
        g_a[:, t] = g_xr[:, :n_a]
        if t > 0:
            g_ha = act_grad(g_xr[:, n_a:], pre_r[t - 1], guided) @ wr
    return act_grad(g_a, pre_a, guided) @ w1


MANUAL = {Shallow: manual_shallow, Deep: manual_deep}


def captum_gb(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return captum_attr.GuidedBackprop(model).attribute(x.clone().requires_grad_(True),
                                                       target=target).detach()


def test_registered():
    assert EXPLAINERS.get("sa") is SensitivityAnalysis
    assert EXPLAINERS.get("gb") is GuidedBackprop


def test_sa_equals_per_sample_autograd_squared():
    model = make(Deep)
    x, target = data()
    expected = torch.zeros_like(x)
    for i in range(len(x)):
        xi = x[i : i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(model(xi)[0, target[i]], xi)
        expected[i] = g[0] ** 2
    assert torch.allclose(SensitivityAnalysis(model).attribute(x, target), expected, atol=1e-7)


@pytest.mark.parametrize("cls", [Shallow, Deep])
@pytest.mark.parametrize("bias_mode", ["softplus", "none"])
@pytest.mark.parametrize("n_steps", [1, 2, 5])
def test_sa_and_gb_equal_hand_unrolled_backprop(cls, bias_mode, n_steps):
    model = make(cls, bias=bias_mode)
    x, target = data(n_steps=n_steps)
    with torch.no_grad():
        plain = MANUAL[cls](model, x, target, guided=False)
        guided = MANUAL[cls](model, x, target, guided=True)
    assert torch.allclose(SensitivityAnalysis(model).attribute(x, target), plain**2, atol=1e-7)
    assert torch.allclose(GuidedBackprop(model).attribute(x, target), guided**2, atol=1e-7)


def test_gb_equals_captum_on_feed_forward_net():
    model = FeedForward().eval()
    x, target = data(n_steps=1)
    ours = GuidedBackprop(model).attribute(x, target)
    theirs = captum_gb(model, x, target)
    assert torch.allclose(ours, theirs**2, atol=1e-7)
    assert not torch.allclose(ours, SensitivityAnalysis(model).attribute(x, target))


@pytest.mark.parametrize("cls", [Shallow, Deep])
@pytest.mark.parametrize("n_steps", [1, 2, 5])
def test_gb_equals_captum_on_recurrent_models(cls, n_steps):
    """Captum hooks each ReLU call's input tensor, so module reuse over time is handled."""
    model = make(cls)
    x, target = data(n_steps=n_steps)
    ours = GuidedBackprop(model).attribute(x, target)
    theirs = captum_gb(model, x, target)
    assert torch.allclose(ours, theirs**2, atol=1e-7)


@pytest.mark.parametrize("cls", [Shallow, Deep])
def test_gb_differs_from_sa(cls):
    model = make(cls)
    x, target = data()
    gb = GuidedBackprop(model).attribute(x, target)
    sa = SensitivityAnalysis(model).attribute(x, target)
    assert (gb - sa).abs().max() > 1e-3 * sa.abs().max()


def test_hooks_removed_after_attribute():
    model = make(Shallow)
    x, target = data()
    plain = target_gradient(model, x, target)
    GuidedBackprop(model).attribute(x, target)
    assert all(not m._forward_hooks for m in model.modules())
    assert torch.equal(target_gradient(model, x, target), plain)


def test_hooks_removed_on_error():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = nn.ReLU()

        def forward(self, x):
            self.act(x)
            raise RuntimeError("boom")

    model = Broken()
    with pytest.raises(RuntimeError, match="boom"):
        GuidedBackprop(model).attribute(torch.randn(2, 3, 4), 0)
    assert not model.act._forward_hooks


@pytest.mark.parametrize("explainer", [SensitivityAnalysis, GuidedBackprop])
def test_side_effects_and_output_format(explainer):
    model = make(Deep).train()
    x, target = data()
    x.requires_grad_(True)
    relevance = explainer(model).attribute(x, target)
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    assert x.grad is None
    assert relevance.shape == x.shape and relevance.dtype == x.dtype
    assert not relevance.requires_grad
    assert (relevance >= 0).all()


@pytest.mark.parametrize("explainer", [SensitivityAnalysis, GuidedBackprop])
def test_double_precision_and_int_target(explainer):
    model = make(Shallow).double()
    x, _ = data()
    x = x.double()
    relevance = explainer(model).attribute(x, 2)
    assert relevance.dtype == torch.float64
    expected = explainer(model).attribute(x, torch.full((len(x),), 2))
    assert torch.equal(relevance, expected)


def test_batched_equals_single_samples():
    model = make(Shallow)
    x, target = data()
    batched = GuidedBackprop(model).attribute(x, target)
    for i in range(len(x)):
        single = GuidedBackprop(model).attribute(x[i : i + 1], target[i : i + 1])
        assert torch.allclose(single[0], batched[i], atol=1e-7)


def test_requirements():
    assert GuidedBackprop.requires == {"relu"}
    assert unsupported_reason(GuidedBackprop, make(Shallow)) is None
    # plain torch models: "relu" is inferred from their modules
    assert unsupported_reason(GuidedBackprop, FeedForward()) is None
    tanh_net = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    assert "relu" in unsupported_reason(GuidedBackprop, tanh_net)
    assert unsupported_reason(GuidedBackprop, nn.RNN(4, 3)) is not None
    assert unsupported_reason(GuidedBackprop, nn.RNN(4, 3, nonlinearity="relu")) is None
    assert unsupported_reason(SensitivityAnalysis, tanh_net) is None


def test_sa_on_torch_rnn_and_gb_warns_without_relus():
    class TorchRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.RNN(6, 8, batch_first=True)
            self.out = nn.Linear(8, 4)

        def forward(self, x):
            return self.out(self.rnn(x)[0][:, -1])

    torch.manual_seed(0)
    model = TorchRNN()
    x, target = data()
    sa = SensitivityAnalysis(model).attribute(x, target)
    assert sa.shape == x.shape and not model.training
    with pytest.warns(RuntimeWarning, match="no nn.ReLU"):
        gb = GuidedBackprop(model).attribute(x, target)
    assert torch.allclose(gb, sa)
