"""The weight-linear map of a layer (:class:`LinearOp`) and the stabiliser of denominators.

A :class:`LinearOp` is what a rule needs of a layer: ``x -> op(x, w)`` for the layer's
weight or one derived from it, its transpose, and the bias as added.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from rnnxbench.relevance import scratch

Tensor = torch.Tensor


def stabilize(z: Tensor, eps: float, out: Tensor | None = None) -> Tensor:
    """``z + eps * sign(z)`` with ``sign(0) = sign(-0) = +1`` (``z + 0.0`` turns -0 into +0),
    bit for bit ``where(z >= 0, z + eps, z - eps)`` in a third of its time, in one new
    tensor or in ``out`` (a buffer of z's shape: on large denominators new memory costs
    more than the arithmetic)."""
    if z.requires_grad and torch.is_grad_enabled():  # differentiable: no out= arguments
        return z + torch.copysign(_constant(eps, z.dtype, z.device), z + 0.0)
    return _signed_eps(z, eps, torch.add(z, 0.0, out=out)).add_(z)


def stabilize_scratch(z: Tensor, eps: float) -> Tensor:
    """:func:`stabilize` into a :mod:`~rnnxbench.relevance.scratch` buffer (a denominator
    used within one backward pass)."""
    return stabilize(z, eps, out=scratch.empty(z.shape, z))


def stabilize_(z: Tensor, eps: float) -> Tensor:
    """:func:`stabilize` in place (the same bits), in slices of ``z``'s first axis that
    share one small scratch buffer (it stays in cache; no new memory of ``z``'s size)."""
    if z.dim() == 0 or not z.numel() or (z.requires_grad and torch.is_grad_enabled()):
        return z.copy_(stabilize(z, eps))
    per = max(1, _SCRATCH_ELEMENTS // max(1, z[0].numel()))
    slice_buf = scratch.empty((min(per, z.shape[0]), *z.shape[1:]), z)
    for part in z.split(per):
        buf = slice_buf[:part.shape[0]]
        part.add_(_signed_eps(part, eps, torch.add(part, 0.0, out=buf)))
    return z


_SCRATCH_ELEMENTS = 1 << 17  # 512 KB of float32: a slice of a large denominator in L2


def _signed_eps(z: Tensor, eps: float, z_plus_0: Tensor) -> Tensor:
    """``eps * sign(z)`` written over ``z_plus_0`` (``z + 0.0``)."""
    return torch.copysign(_constant(eps, z.dtype, z.device), z_plus_0, out=z_plus_0)


@functools.lru_cache(maxsize=64)
def _constant(value: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """A 0-dim tensor of ``value`` (made once: each ``torch.tensor`` is a copy to the
    device); read only."""
    with torch.inference_mode(False):  # usable with and without autograd later
        return torch.tensor(value, dtype=dtype, device=device)


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

    def without_bias(self, out: Tensor, into: Tensor | None = None) -> Tensor:
        """``op(x)`` recovered from the layer's output ``op(x) + bias`` (``into``: a buffer
        of ``out``'s shape to write it into)."""
        if self.bias is None:
            return out if into is None else into.copy_(out)
        shape = [1] * out.dim()
        shape[self.channel_dim] = -1
        return torch.sub(out, self.bias.view(shape), out=into)

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


def dense_into(x: Tensor, w: Tensor, out: Tensor) -> Tensor:
    """``F.linear(x, w)`` (no bias, any leading shape) written into ``out``: the same
    2-D matmul."""
    torch.mm(x.reshape(-1, x.shape[-1]), w.t(), out=out.view(-1, w.shape[0]))
    return out


def _rows_mm(s: Tensor, w: Tensor) -> Tensor:
    """``s @ w`` for ``s`` of any leading shape as one 2-D matmul (``matmul`` of a strided
    3-D ``s`` falls back to a batched matmul over a broadcast copy of ``w``)."""
    if s.dim() <= 2:
        return s @ w
    return (s.reshape(-1, s.shape[-1]) @ w).view(*s.shape[:-1], w.shape[-1])


def linear_op(weight: Tensor, bias: Tensor | None = None) -> LinearOp:
    """The op of a dense layer ``x @ w.T`` (torch's weight layout ``(out, in)``)."""
    return LinearOp(lambda x, w: F.linear(x, w), weight, bias, -1, dense=True)
