"""The weight-linear map of a layer (:class:`LinearOp`) and the stabiliser of denominators.

A :class:`LinearOp` is what a rule needs of a layer: ``x -> op(x, w)`` for the layer's
weight or one derived from it, its transpose, and the bias as added.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def stabilize(z: Tensor, eps: float) -> Tensor:
    """``z + eps * sign(z)`` with ``sign(0) = sign(-0) = +1`` (``z + 0.0`` turns -0 into +0),
    bit for bit ``where(z >= 0, z + eps, z - eps)`` in a third of its time."""
    return z + torch.copysign(torch.tensor(eps, dtype=z.dtype, device=z.device), z + 0.0)


@dataclass
class LinearOp:
    """A map linear in ``x``: ``op(x, w)``, its transpose and the layer's bias.

    ``channel_dim`` is the input axis that holds features. Derived weights (clamped,
    stacked) are memoised per op, so a layer called at every time step derives them once.
    Dense ops (``dense=True``) evaluate several weights in one stacked matmul.
    ``proportional=True`` marks a pooling-like map (an average, a mean over time): its
    layer gets the :class:`Proportional` split, not the composite's rule for its role.
    """

    forward: Callable[[Tensor, Tensor], Tensor]
    weight: Tensor | None
    bias: Tensor | None = None
    channel_dim: int = -1
    dense: bool = False
    proportional: bool = False
    memo: dict[Any, Tensor] = field(default_factory=dict, repr=False)

    def __call__(self, x: Tensor, w: Tensor | None = None) -> Tensor:
        return self.forward(x, self.weight if w is None else w)

    def derived(self, key: Any, make: Callable[[], Tensor]) -> Tensor:
        if key not in self.memo:
            self.memo[key] = make()
        return self.memo[key]

    @property
    def pos(self) -> Tensor:
        return self.derived("pos", lambda: self.weight.clamp(min=0))

    @property
    def neg(self) -> Tensor:
        return self.derived("neg", lambda: self.weight.clamp(max=0))

    def forward_many(self, x: Tensor, weights: Sequence[Tensor], key: Any) -> list[Tensor]:
        """``[op(x, w) for w in weights]`` (one stacked matmul for dense ops)."""
        if self.dense and len(weights) > 1:
            stacked = self.derived(("fwd", key), lambda: torch.cat(list(weights), dim=0))
            return list(F.linear(x, stacked).split(weights[0].shape[0], dim=-1))
        return [self(x, w) for w in weights]

    def transpose(self, s: Tensor, x: Tensor, w: Tensor | None = None) -> Tensor:
        """``(d op(x, w) / dx)^T s`` (independent of ``x``; ``x`` gives the shape)."""
        w = self.weight if w is None else w
        if self.dense:
            return _rows_mm(s, w)
        with torch.enable_grad():
            xd = torch.zeros_like(x).requires_grad_(True)
            (g,) = torch.autograd.grad(self(xd, w), xd, s)
        return g

    def transpose_sum(self, ss: Sequence[Tensor], x: Tensor, weights: Sequence[Tensor],
                      key: Any) -> Tensor:
        """``sum_k transpose(ss[k], x, weights[k])`` (one stacked matmul for dense ops)."""
        if self.dense and len(weights) > 1:
            stacked = self.derived(("bwd", key), lambda: torch.cat(list(weights), dim=0))
            return _rows_mm(torch.cat(list(ss), dim=-1), stacked)
        return sum(self.transpose(s, x, w) for s, w in zip(ss, weights, strict=True))

    def transpose_pair(self, s: Tensor, x: Tensor, w_a: Tensor, w_b: Tensor,
                       key: Any) -> tuple[Tensor, Tensor]:
        """``(transpose(s, x, w_a), transpose(s, x, w_b))`` (one matmul for dense ops)."""
        if self.dense:
            stacked = self.derived(("pair", key), lambda: torch.cat([w_a, w_b], dim=-1))
            a, b = _rows_mm(s, stacked).split(w_a.shape[-1], dim=-1)
            return a, b
        return self.transpose(s, x, w_a), self.transpose(s, x, w_b)

    def without_bias(self, out: Tensor) -> Tensor:
        """``op(x)`` recovered from the layer's output ``op(x) + bias``."""
        if self.bias is None:
            return out
        shape = [1] * out.dim()
        shape[self.channel_dim] = -1
        return out - self.bias.view(shape)

    def z(self, x: Tensor) -> Tensor:
        """The layer's pre-activation, bias included."""
        return self.add_bias(self(x))

    def add_bias(self, out: Tensor) -> Tensor:
        """``out`` (an output of this op) plus the layer's bias, if any."""
        if self.bias is None:
            return out
        shape = [1] * out.dim()
        shape[self.channel_dim] = -1
        return out + self.bias.view(shape)

    def fan_in(self) -> int:
        return self.weight[0].numel()

    def on_ones(self, x: Tensor, w: Tensor, key: Any) -> Tensor:
        """``op(ones, w)`` for one all-ones input shaped like a sample of ``x`` (broadcasts
        over the batch); independent of x's values, so memoised per sample shape."""
        return self.derived(("ones", key, tuple(x.shape[1:])),
                            lambda: self(torch.ones_like(x[:1]), w))

    def n_inputs(self, x: Tensor) -> Tensor | int:
        """How many inputs feed each output: ``fan_in`` for dense ops; for other ops (convs)
        the op of all-ones inputs with all-ones weights, so zero padding does not count."""
        if self.dense:
            return self.fan_in()
        ones = self.derived("ones", lambda: torch.ones_like(self.weight))
        return self.on_ones(x, ones, "n_inputs").clamp(min=1)


def _rows_mm(s: Tensor, w: Tensor) -> Tensor:
    """``s @ w`` for ``s`` of any leading shape as one 2-D matmul (``matmul`` of a strided
    3-D ``s`` falls back to a batched matmul over a broadcast copy of ``w``)."""
    if s.dim() <= 2:
        return s @ w
    return (s.reshape(-1, s.shape[-1]) @ w).view(*s.shape[:-1], w.shape[-1])


def linear_op(weight: Tensor, bias: Tensor | None = None) -> LinearOp:
    """The op of a dense layer ``x @ w.T`` (torch's weight layout ``(out, in)``)."""
    return LinearOp(lambda x, w: F.linear(x, w), weight, bias, -1, dense=True)
