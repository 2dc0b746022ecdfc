"""Relevance rules for layers that are linear in their input (dense, conv, pooling).

A rule maps the relevance ``R`` of a layer's outputs to its inputs, given the layer's
input ``x`` and a :class:`LinearOp` (the layer's weight-linear map ``x -> op(x, w)``, its
transpose, and its bias). Biases are ignored (their share is absorbed) unless a rule says
otherwise. Rules are small stateless objects; propagation applies them at every call of a
module, so a layer reused at every time step gets its rule at every step.
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
            return s @ w
        with torch.enable_grad():
            xd = torch.zeros_like(x).requires_grad_(True)
            (g,) = torch.autograd.grad(self(xd, w), xd, s)
        return g

    def transpose_sum(self, ss: Sequence[Tensor], x: Tensor, weights: Sequence[Tensor],
                      key: Any) -> Tensor:
        """``sum_k transpose(ss[k], x, weights[k])`` (one stacked matmul for dense ops)."""
        if self.dense and len(weights) > 1:
            stacked = self.derived(("bwd", key), lambda: torch.cat(list(weights), dim=0))
            return torch.cat(list(ss), dim=-1) @ stacked
        return sum(self.transpose(s, x, w) for s, w in zip(ss, weights, strict=True))

    def transpose_pair(self, s: Tensor, x: Tensor, w_a: Tensor, w_b: Tensor,
                       key: Any) -> tuple[Tensor, Tensor]:
        """``(transpose(s, x, w_a), transpose(s, x, w_b))`` (one matmul for dense ops)."""
        if self.dense:
            stacked = self.derived(("pair", key), lambda: torch.cat([w_a, w_b], dim=-1))
            a, b = (s @ stacked).split(w_a.shape[-1], dim=-1)
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


def linear_op(weight: Tensor, bias: Tensor | None = None) -> LinearOp:
    """The op of a dense layer ``x @ w.T`` (torch's weight layout ``(out, in)``)."""
    return LinearOp(lambda x, w: F.linear(x, w), weight, bias, -1, dense=True)


def _feature_mask(x: Tensor, channel_dim: int, n: int) -> Tensor:
    """1 for the first ``n`` features along ``channel_dim``, shaped to broadcast with x."""
    shape = [1] * x.dim()
    shape[channel_dim] = x.shape[channel_dim]
    return (torch.arange(x.shape[channel_dim], device=x.device) < n).to(x.dtype).view(shape)


class Rule:
    """Base class: ``rule(op, x, R) -> R_in`` shaped like ``x``."""

    def __call__(self, op: LinearOp, x: Tensor, R: Tensor) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Epsilon(Rule):
    """LRP-epsilon: ``R_i = sum_j x_i w_ij / (z_j + eps sign z_j) R_j``, z with bias.

    The bias' and stabiliser's share is absorbed; ``bias_factor=1`` spreads it evenly over
    the inputs of each output, which makes the rule conserve relevance exactly.
    """

    def __init__(self, epsilon: float = 1e-3, bias_factor: float = 0.0):
        self.epsilon, self.bias_factor = epsilon, bias_factor

    uses_output = True  # z is the layer's output (bias included) from the forward pass

    def __call__(self, op: LinearOp, x: Tensor, R: Tensor, out: Tensor | None = None
                 ) -> Tensor:
        if out is None:
            wx = op(x)
            z = wx if op.bias is None else op.add_bias(wx)
        else:
            z = out
            wx = op.without_bias(out) if self.bias_factor else None
        zs = stabilize(z, self.epsilon)
        s = R / zs
        out = x * op.transpose(s, x)
        if self.bias_factor:
            # bias + stabiliser share of each output, spread evenly over the inputs that
            # feed it (for convs, zero padding is not an input: border outputs have fewer)
            rest = (zs - wx) * s / op.n_inputs(x)
            ones = op.derived("ones", lambda: torch.ones_like(op.weight))
            out = out + self.bias_factor * op.transpose(rest, x, ones)
        return out


class AlphaBeta(Rule):
    """LRP-alpha-beta: positive contributions weighted alpha, negative ones beta.

    ``R_i = sum_j (alpha (x_i w_ij)^+ / z^+_j - beta (x_i w_ij)^- / z^-_j) R_j`` with
    ``alpha - beta = 1``; biases ignored; stabiliser in the denominators. Signed inputs are
    split as in zennit (positive part: x+ w+ and x- w-). For non-negative inputs (after a
    ReLU), alpha=1, beta=0 is deep Taylor's z+ rule.
    """

    def __init__(self, alpha: float = 1.5, beta: float = 0.5, stabilizer: float = 1e-9):
        if alpha < 0 or beta < 0 or abs(alpha - beta - 1.0) > 1e-12:
            raise ValueError(f"alpha-beta needs alpha, beta >= 0 and alpha - beta = 1; "
                             f"got alpha={alpha}, beta={beta}")
        self.alpha, self.beta, self.stabilizer = alpha, beta, stabilizer

    uses_output = True

    def __call__(self, op: LinearOp, x: Tensor, R: Tensor, out: Tensor | None = None
                 ) -> Tensor:
        a, b, eps = self.alpha, self.beta, self.stabilizer
        wp, wn = op.pos, op.neg
        if not (x.numel() and bool(x.amin() < 0)):  # inputs after a ReLU: only x+ terms
            # z+ = x w+ >= +0, so z+ + eps is stabilize(z+, eps) (one pass, the same bits)
            if not b:
                s = R / op(x, wp).add_(eps)
                c = op.transpose(s, x, wp)
                return x * c if a == 1 else a * x * c
            if out is not None:  # z- = (x w) - z+, with x w from the forward pass
                zp = op(x, wp)
                zn = op.without_bias(out) - zp
            else:
                zp, zn = op.forward_many(x, [wp, wn], "pos,neg")
            sp, sn = R / (zp + eps), R / stabilize(zn, eps)
            key = ("ab", a, b)
            weights = op.derived(("ab-weights", a, b), lambda: torch.stack([a * wp, -b * wn]))
            return x * op.transpose_sum([sp, sn], x, list(weights.unbind(0)), key)
        xp, xn = x.clamp(min=0), x.clamp(max=0)

        def part(w_a: Tensor, w_b: Tensor) -> Tensor:
            z = op(xp, w_a) + op(xn, w_b)
            s = R / stabilize(z, eps)
            return xp * op.transpose(s, x, w_a) + xn * op.transpose(s, x, w_b)

        out = a * part(wp, wn)
        return out - b * part(wn, wp) if b else out


class ZPlus(AlphaBeta):
    """Deep Taylor's z+ rule (= alpha 1, beta 0) for layers after a ReLU."""

    def __init__(self, stabilizer: float = 1e-9):
        super().__init__(1.0, 0.0, stabilizer)


class ZBox(Rule):
    """z-beta (ZBox) for inputs bounded by ``low <= x <= high`` (pixels):

    ``R_i = sum_j (x_i w_ij - l w+_ij - h w-_ij) / z_j R_j``,
    ``z_j = sum_i (x_i w_ij - l w+_ij - h w-_ij)``. Conserves relevance.
    """

    def __init__(self, low: float = -1.0, high: float = 1.0, stabilizer: float = 1e-9):
        self.low, self.high, self.stabilizer = low, high, stabilizer

    uses_output = True  # W x from the layer's output (minus its bias)

    def __call__(self, op: LinearOp, x: Tensor, R: Tensor, out: Tensor | None = None
                 ) -> Tensor:
        # l w+ + h w- folded into one weight: its op on ones is the constant root term
        w_box = op.derived(("box", self.low, self.high),
                           lambda: self.low * op.pos + self.high * op.neg)
        wx = op(x) if out is None else op.without_bias(out)
        z = wx - op.on_ones(x, w_box, ("box", self.low, self.high))
        s = R / stabilize(z, self.stabilizer)
        c, c_box = op.transpose_pair(s, x, op.weight, w_box, ("zbox", self.low, self.high))
        return x * c - c_box


class Mixed(Rule):
    """The thesis' rule for a layer that sees bounded inputs and ReLU states together.

    The first ``n_bounded`` features (along the op's feature axis) are pixels b in
    ``[low, high]``, the rest states p (non-negative after a ReLU; negative states, as in
    tanh cells, contribute positively through w-, as in zennit's signed alpha-beta).
    With one denominator
    ``z_j = alpha sum p w+ - beta sum p w- + sum (b w - l w+ - h w-)``:
    ``R_p = p ((alpha w+ - beta w-) s)``, ``R_b = b (W s) - l (W+ s) - h (W- s)``,
    ``s = R / z``. Conserves relevance.
    """

    def __init__(self, n_bounded: int, alpha: float = 1.0, beta: float = 0.0,
                 low: float = -1.0, high: float = 1.0, stabilizer: float = 1e-9):
        self.n_bounded, self.alpha, self.beta = n_bounded, alpha, beta
        self.low, self.high, self.stabilizer = low, high, stabilizer

    def __call__(self, op: LinearOp, x: Tensor, R: Tensor) -> Tensor:
        key = ("mixed", self.n_bounded, self.alpha, self.beta, self.low, self.high)
        # column-wise weights: W on pixel inputs, alpha w+ - beta w- on state inputs
        w_mix, w_box = op.derived(key, lambda: self._weights(op, x))
        if op.dense:
            return self._dense(op, x, R, key, w_mix, w_box)
        pixels = _feature_mask(x, op.channel_dim, self.n_bounded)
        p_neg = (x * (1 - pixels)).clamp(max=0)
        if not bool(p_neg.any()):  # non-negative states (after a ReLU): the thesis' rule
            z = op(x, w_mix) - op.on_ones(x, w_box, key)
            s = R / stabilize(z, self.stabilizer)
            c, c_box = op.transpose_pair(s, x, w_mix, w_box, key)
            return x * c - c_box
        # signed states (tanh cells): a negative state's positive contributions are p- w-
        w_neg = op.derived(("mixed-neg", *key), lambda: (1 - _feature_mask(
            op.weight, -1 if op.dense else 1, self.n_bounded)) * (
            self.alpha * op.neg - self.beta * op.pos))
        x_rest = x - p_neg
        z = op(x_rest, w_mix) + op(p_neg, w_neg) - op.on_ones(x, w_box, key)
        s = R / stabilize(z, self.stabilizer)
        c, c_box = op.transpose_pair(s, x, w_mix, w_box, key)
        return x_rest * c + p_neg * op.transpose(s, x, w_neg) - c_box

    def _dense(self, op: LinearOp, x: Tensor, R: Tensor, key: tuple, w_mix: Tensor,
               w_box: Tensor) -> Tensor:
        """The same for dense ops, with the box term's matmul over the pixel columns only
        and the negative states' over the state columns only."""
        n = self.n_bounded
        box = op.derived(("mixed-box-pixels", *key), lambda: w_box[:, :n].contiguous())
        z = op(x, w_mix) - op.on_ones(x, w_box, key)
        p_neg = x[..., n:].clamp(max=0)
        signed = bool(p_neg.any())
        if signed:  # x_rest w_mix + p- w_neg = x w_mix + p- (w_neg - w_mix) on the states
            w_d = op.derived(("mixed-neg-states", *key), lambda: (
                self.alpha * op.neg - self.beta * op.pos)[:, n:] - w_mix[:, n:])
            z = z + F.linear(p_neg, w_d)
        s = R / stabilize(z, self.stabilizer)
        out = x * (s @ w_mix)
        out[..., :n] -= s @ box
        if signed:
            out[..., n:] += p_neg * (s @ w_d)
        return out

    def _weights(self, op: LinearOp, x: Tensor) -> Tensor:
        w = op.weight
        # the weight's input axis: last for dense (out, in), 1 for conv (out, in, ...)
        axis = -1 if op.dense else 1
        mask = _feature_mask(w, axis, self.n_bounded)
        w_ab = self.alpha * op.pos - self.beta * op.neg
        w_mix = mask * w + (1 - mask) * w_ab
        w_box = mask * (self.low * op.pos + self.high * op.neg)
        return torch.stack([w_mix, w_box])


class WSquare(Rule):
    """The w^2 rule: ``R_i = sum_j w_ij^2 / sum_i' w_i'j^2 R_j`` (independent of x)."""

    def __init__(self, stabilizer: float = 1e-9):
        self.stabilizer = stabilizer

    def __call__(self, op: LinearOp, x: Tensor, R: Tensor) -> Tensor:
        w2 = op.derived("w2", lambda: op.weight**2)
        s = R / stabilize(op.on_ones(x, w2, "w2"), self.stabilizer)
        return op.transpose(s, x, w2).expand_as(x).clone()


class Proportional(Rule):
    """Redistribute in proportion to each input's contribution (average pooling, means):
    ``R_in = x * (d f / d x)^T (R / (f(x) + eps))``.

    The stabiliser's share, and all relevance reaching a zero output (an all-zero window),
    is absorbed; ``bias_factor`` spreads it over each output's inputs in proportion to
    their weights ``d f / d x`` (evenly within an average-pooling window), so that
    ``bias_factor=1`` conserves relevance exactly (as LRP-epsilon's bias factor does).
    """

    def __init__(self, stabilizer: float = 1e-9, bias_factor: float = 0.0):
        self.stabilizer, self.bias_factor = stabilizer, bias_factor

    def __call__(self, op: LinearOp, x: Tensor, R: Tensor) -> Tensor:
        z = op(x)
        zs = stabilize(z, self.stabilizer)
        s = R / zs
        out = x * op.transpose(s, x)
        if self.bias_factor:
            weight_sum = op(torch.ones_like(x[:1]))  # sum_i d f_j / d x_i
            rest = (zs - z) * s / torch.where(weight_sum == 0, 1.0, weight_sum)
            out = out + self.bias_factor * op.transpose(rest, x)
        return out
