"""ThesisLinear / ThesisConv2d: init, bias conventions, SAME padding."""

from __future__ import annotations

import math

import pytest
import torch

from rnnxbench.models.layers import SOFTPLUS_BIAS_INIT, ThesisConv2d, ThesisLinear


def truncated_std_factor(cut: float = 2.0) -> float:
    """Std of a standard normal truncated at +-cut (by hand from the normal pdf/cdf)."""
    pdf = math.exp(-cut * cut / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(cut / math.sqrt(2))
    return math.sqrt(1 - 2 * cut * pdf / mass)


def check_init(weight: torch.Tensor, fan_in: int) -> None:
    std = 1 / math.sqrt(fan_in)
    w = weight.detach()
    assert w.abs().max().item() <= 2 * std + 1e-7
    assert abs(w.mean().item()) < 0.03 * std
    assert w.std().item() == pytest.approx(truncated_std_factor() * std, rel=0.03)
    # plenty of mass near the cut: it is a truncated normal, not a uniform or tiny normal
    assert (w.abs() > 1.5 * std).float().mean().item() > 0.05


def test_truncated_std_factor_hand_value():
    assert truncated_std_factor() == pytest.approx(0.8796, abs=1e-4)


def test_linear_init_statistics():
    torch.manual_seed(0)
    layer = ThesisLinear(2000, 300)
    assert layer.weight.shape == (300, 2000)
    check_init(layer.weight, 2000)


def test_conv_init_statistics_fan_in_is_kh_kw_cin():
    torch.manual_seed(0)
    conv = ThesisConv2d(16, 64, 5)
    assert conv.weight.shape == (64, 16, 5, 5)
    check_init(conv.weight, 5 * 5 * 16)


def test_softplus_bias_initial_value():
    assert SOFTPLUS_BIAS_INIT == pytest.approx(-4.6002, abs=1e-4)
    layer = ThesisLinear(3, 4)
    assert torch.allclose(layer.raw_bias, torch.full((4,), SOFTPLUS_BIAS_INIT))
    assert torch.allclose(layer.effective_bias, torch.full((4,), -0.01), atol=1e-7)
    x = torch.randn(5, 3)
    assert torch.allclose(layer(x), x @ layer.weight.T - 0.01, atol=1e-6)


def test_softplus_bias_is_trainable_and_stays_nonpositive():
    layer = ThesisLinear(3, 2)
    layer(torch.randn(4, 3)).sum().backward()
    assert layer.raw_bias.grad is not None and layer.raw_bias.grad.abs().sum() > 0
    with torch.no_grad():
        layer.raw_bias.fill_(10.0)
    assert (layer.effective_bias <= 0).all()


def test_no_bias_option():
    layer = ThesisLinear(3, 2, bias="none")
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    assert layer.effective_bias is None
    x = torch.randn(4, 3)
    assert torch.allclose(layer(x), x @ layer.weight.T)
    conv = ThesisConv2d(2, 3, 3, bias="none")
    assert [n for n, _ in conv.named_parameters()] == ["weight"]


def test_invalid_bias_rejected():
    with pytest.raises(ValueError, match="bias"):
        ThesisLinear(3, 2, bias="zero")
    with pytest.raises(ValueError, match="bias"):
        ThesisConv2d(1, 2, 3, bias="plain")


@pytest.mark.parametrize("k", [3, 5, (5, 3)])
def test_conv_same_padding_keeps_shape(k):
    conv = ThesisConv2d(1, 24, k)
    assert conv(torch.randn(2, 1, 28, 7)).shape == (2, 24, 28, 7)


def test_conv_even_kernel_pads_bottom_right_by_hand():
    conv = ThesisConv2d(1, 1, 2, bias="none")
    with torch.no_grad():
        conv.weight.fill_(1.0)
    x = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    expected = torch.tensor([[12.0, 16.0, 9.0], [24.0, 28.0, 15.0], [15.0, 17.0, 9.0]])
    assert torch.equal(conv(x)[0, 0], expected)


def test_conv_bias_and_cross_correlation_by_hand():
    conv = ThesisConv2d(1, 1, 3)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0, 2] = 1.0  # top-right tap: out[i, j] = x[i-1, j+1]
    x = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    expected = torch.tensor([[0.0, 0.0, 0.0], [2.0, 3.0, 0.0], [5.0, 6.0, 0.0]]) - 0.01
    assert torch.allclose(conv(x)[0, 0], expected, atol=1e-6)
