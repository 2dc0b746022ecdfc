"""The thesis' layers: ``y = x W - softplus(b)``, so every bias is <= 0 (as DTD assumes).

Weights are stored in torch's convention (``(out, in)`` for dense, ``(out, in, kh, kw)`` for
conv) and drawn from a normal distribution with std ``1/sqrt(fan_in)`` truncated at 2 std.
``bias="softplus"`` (the thesis text, the default) trains a raw parameter ``raw_bias``
initialised so that ``softplus(raw_bias) = 0.01``; ``bias="none"`` (what the trained code
effectively had) has no bias parameter at all. Both layers give relevance propagation their
map through ``relevance_op()`` (the composite's rule for their role, bias included).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rnnxbench.relevance.rules import LinearOp, linear_op

BIAS_MODES = ("softplus", "none")
#: ``log(e^0.01 - 1)``: the raw bias whose softplus is 0.01 (about -4.600).
SOFTPLUS_BIAS_INIT = math.log(math.expm1(0.01))


def check_bias(bias: str) -> str:
    """``bias`` if it is one of :data:`BIAS_MODES`, else ValueError."""
    if bias not in BIAS_MODES:
        raise ValueError(f"bias must be one of {BIAS_MODES}, got {bias!r}")
    return bias


def thesis_init_(weight: torch.Tensor, fan_in: int) -> torch.Tensor:
    """Truncated normal ``N(0, 1/fan_in)`` cut (re-drawn) beyond 2 std, in place."""
    std = 1.0 / math.sqrt(fan_in)
    return nn.init.trunc_normal_(weight, mean=0.0, std=std, a=-2.0 * std, b=2.0 * std)


class _ThesisBias(nn.Module):
    """Shared bias handling: ``raw_bias`` parameter (or None) and ``effective_bias``."""

    raw_bias: nn.Parameter | None

    def _init_bias(self, n: int, bias: str) -> None:
        self.bias_mode = check_bias(bias)
        if bias == "softplus":
            self.raw_bias = nn.Parameter(torch.full((n,), SOFTPLUS_BIAS_INIT))
        else:
            self.register_parameter("raw_bias", None)

    @property
    def effective_bias(self) -> torch.Tensor | None:
        """The bias actually added, ``-softplus(raw_bias)`` (all <= 0), or None."""
        return None if self.raw_bias is None else -F.softplus(self.raw_bias)


class ThesisLinear(_ThesisBias):
    """Dense layer ``y = x @ W.T - softplus(b)``; ``weight`` has shape ``(out, in)``."""

    def __init__(self, in_features: int, out_features: int, bias: str = "softplus"):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        thesis_init_(self.weight.data, in_features)
        self._init_bias(out_features, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.effective_bias)

    def relevance_op(self) -> LinearOp:
        """``x @ W.T`` with the bias ``-softplus(b)``: the composite's rule for its role."""
        return linear_op(self.weight, self.effective_bias)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, bias={self.bias_mode!r}"


class ThesisConv2d(_ThesisBias):
    """2-D convolution, stride 1, SAME padding (TF's: any extra pad bottom/right).

    ``weight`` has shape ``(out, in, kh, kw)``; fan_in = ``kh * kw * in_channels``.
    Inputs are channels first, ``(N, C, H, W)``; ``same_pad`` is the zero padding applied,
    ``(left, right, top, bottom)`` in ``F.pad`` order.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 bias: str = "softplus"):
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = (kh, kw)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kh, kw))
        thesis_init_(self.weight.data, kh * kw * in_channels)
        self._init_bias(out_channels, bias)
        # TF SAME, stride 1: k - 1 zeros per dim, the odd one after (bottom / right).
        self.same_pad = ((kw - 1) // 2, kw - 1 - (kw - 1) // 2,
                         (kh - 1) // 2, kh - 1 - (kh - 1) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right, top, bottom = self.same_pad
        if left == right and top == bottom:
            return F.conv2d(x, self.weight, self.effective_bias, padding=(top, left))
        return F.conv2d(F.pad(x, self.same_pad), self.weight, self.effective_bias)

    def relevance_op(self) -> LinearOp:
        """The SAME-padded convolution with the bias ``-softplus(b)`` (channels in dim 1):
        the composite's rule for its role."""
        pad = self.same_pad
        return LinearOp(lambda x, w: F.conv2d(F.pad(x, pad), w), self.weight,
                        self.effective_bias, 1)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"bias={self.bias_mode!r}")
