"""Relevance rules for layers that are linear in their input (dense, conv, pooling).

A rule maps the relevance ``R`` of a layer's outputs to its inputs, given the layer's
input ``x`` and a :class:`LinearOp` (the layer's weight-linear map ``x -> op(x, w)``, its
transpose, and its bias). Biases are ignored (their share is absorbed) unless a rule says
otherwise. Rules are small stateless objects; propagation applies them at every call of a
module, so a layer reused at every time step gets its rule at every step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from rnnxbench.relevance import scratch
from rnnxbench.relevance.ops import (
    LinearOp,
    dense_into,
    linear_op,
    stabilize,
    stabilize_,
    stabilize_scratch,
)

__all__ = ["AlphaBeta", "Epsilon", "LinearOp", "Mixed", "Proportional", "Rule", "StepForm",
           "WSquare", "ZBox", "ZPlus", "linear_op", "stabilize"]

Tensor = torch.Tensor


def _feature_mask(x: Tensor, channel_dim: int, n: int) -> Tensor:
    """1 for the first ``n`` features along ``channel_dim``, shaped to broadcast with x."""
    shape = [1] * x.dim()
    shape[channel_dim] = x.shape[channel_dim]
    return (torch.arange(x.shape[channel_dim], device=x.device) < n).to(x.dtype).view(shape)


@dataclass
class StepForm:
    """A rule on a dense layer at every step of a recurrence, its denominators computed
    for all steps at once: at step ``t``, ``s = R / den[t]`` (``k`` denominators per
    output, ``den``: ``(T, N, k, O)``, ``s`` their concatenation ``(N, k O)``) and
    ``R_in = combine(x, s @ weight)``: one division and one matmul per step. With
    ``inputs`` ``(T, N, 2 F)`` instead of ``combine``: ``p = inputs[t] * (s @ weight)`` and
    ``R_in = p[:, :F] + p[:, F:]`` (two input-side terms, e.g. ``x+`` and ``x-``)."""

    den: Tensor
    weight: Tensor
    combine: Callable[[Tensor, Tensor], Tensor] | None = None
    inputs: Tensor | None = None
    # per-step views, made once
    dens: tuple[Tensor, ...] = field(init=False, repr=False)
    step_inputs: tuple[Tensor, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.single = self.den.shape[2] == 1
        self.dens = (self.den.squeeze(2) if self.single else self.den).unbind(0)
        self.step_inputs = () if self.inputs is None else self.inputs.unbind(0)

    def __call__(self, t: int, x: Tensor, R: Tensor) -> Tensor:
        den = self.dens[t]
        s = R / den if self.single else (R.unsqueeze(1) / den).flatten(1)
        if self.combine is not None:
            return self.combine(x, s @ self.weight)
        p = self.step_inputs[t] * (s @ self.weight)
        n = p.shape[-1] // 2
        return p[:, :n] + p[:, n:]


def _times(x: Tensor, c: Tensor) -> Tensor:
    return x * c


def _rows_of(x: Tensor) -> Tensor:
    """A 2-D ``(rows, features)`` view of ``x``'s first rows (for ``on_ones``' shape)."""
    return x[(0,) * (x.dim() - 2)] if x.dim() > 2 else x


class Rule:
    """Base class: ``rule(op, x, R) -> R_in`` shaped like ``x``."""

    def __call__(self, op: LinearOp, x: Tensor, R: Tensor) -> Tensor:
        raise NotImplementedError

    def step_form(self, op: LinearOp, X: Tensor, Z: Tensor) -> StepForm | None:
        """The rule on dense ``op`` at inputs ``X`` ``(T, N, F)`` with outputs ``Z``
        ``(T, N, O)`` (bias included) as a :class:`StepForm` (the same values as calling
        it at each step), or None where it has none (then it is called per step)."""
        return None

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
        zs = stabilize_scratch(z, self.epsilon)
        s = R / zs
        out = x * op.transpose(s, x)
        if self.bias_factor:
            # bias + stabiliser share of each output, spread evenly over the inputs that
            # feed it (for convs, zero padding is not an input: border outputs have fewer)
            rest = (zs - wx) * s / op.n_inputs(x)
            ones = op.derived("ones", lambda: torch.ones_like(op.weight))
            out = out + self.bias_factor * op.transpose(rest, x, ones)
        return out

    def step_form(self, op: LinearOp, X: Tensor, Z: Tensor) -> StepForm | None:
        if self.bias_factor or not op.dense:
            return None
        return StepForm(stabilize_scratch(Z, self.epsilon).unsqueeze(2), op.weight, _times)


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

    def step_form(self, op: LinearOp, X: Tensor, Z: Tensor) -> StepForm | None:
        if not op.dense:
            return None
        if X.numel() and bool(X.amin() < 0):
            return self._signed_form(op, X)
        a, b, eps = self.alpha, self.beta, self.stabilizer
        zp = dense_into(X, op.pos, scratch.empty((*X.shape[:-1], op.weight.shape[0]), X))
        if not b:
            return StepForm(zp.add_(eps).unsqueeze(2), op.pos,
                            _times if a == 1 else lambda x, c: a * x * c)
        # [zp + eps, stabilize(Z - bias - zp)] written in place (new memory is slow)
        den = scratch.empty((*zp.shape[:-1], 2, zp.shape[-1]), zp)
        zn = op.without_bias(Z, into=den[..., 1, :]).sub_(zp)
        torch.add(zp, eps, out=den[..., 0, :])
        stabilize_(zn, eps)
        stacked = op.derived(("ab-stacked", a, b), lambda: torch.cat([a * op.pos,
                                                                      -b * op.neg]))
        return StepForm(den, stacked, _times)

    def _signed_form(self, op: LinearOp, X: Tensor) -> StepForm:
        """Signed inputs: the two parts' denominators ``x+ w+ + x- w-`` and
        ``x+ w- + x- w+`` in one matmul over all steps, both transposes in one per step."""
        a, b, wp, wn = self.alpha, self.beta, op.pos, op.neg
        w_z = op.derived("ab-signed-z", lambda: torch.cat([torch.cat([wp, wn], dim=1),
                                                           torch.cat([wn, wp], dim=1)]))
        F_ = X.shape[-1]
        X_pn = scratch.empty((*X.shape[:-1], 2 * F_), X)
        torch.clamp(X, min=0, out=X_pn[..., :F_])
        torch.clamp(X, max=0, out=X_pn[..., F_:])
        z = dense_into(X_pn, w_z, scratch.empty((*X.shape[:-1], w_z.shape[0]), X))
        den = stabilize_(z, self.stabilizer).unflatten(-1, (2, -1))
        w_t = op.derived(("ab-signed-t", a, b), lambda: torch.cat([
            torch.cat([a * wp, a * wn], dim=1), torch.cat([-b * wn, -b * wp], dim=1)]))
        return StepForm(den, w_t, inputs=X_pn)


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
        # z and s in one buffer of their own (scratch: new memory costs more than this)
        z = op(x) if out is None else op.without_bias(out, into=scratch.empty(out.shape, out))
        z.sub_(op.on_ones(x, w_box, ("box", self.low, self.high)))
        zs = stabilize_(z, self.stabilizer)
        s = R / zs if zs.requires_grad else torch.div(R, zs, out=zs)
        c, c_box = op.transpose_pair(s, x, op.weight, w_box, ("zbox", self.low, self.high))
        return x * c - c_box

    def step_form(self, op: LinearOp, X: Tensor, Z: Tensor) -> StepForm | None:
        if not op.dense:
            return None
        key = ("box", self.low, self.high)
        w_box = op.derived(key, lambda: self.low * op.pos + self.high * op.neg)
        z = op.without_bias(Z, into=scratch.empty(Z.shape, Z)).sub_(
            op.on_ones(_rows_of(X), w_box, key))
        n = X.shape[-1]
        stacked = op.derived(("box-stacked", *key),
                             lambda: torch.cat([op.weight, w_box], dim=-1))
        return StepForm(stabilize_(z, self.stabilizer).unsqueeze(2), stacked,
                        lambda x, c: x * c[..., :n] - c[..., n:])


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
        z, box, w_d = self._dense_terms(op, x, key, w_mix, w_box)
        s = R / stabilize(z, self.stabilizer)
        out = x * (s @ w_mix)
        out[..., :self.n_bounded] -= s @ box
        if w_d is not None:
            out[..., self.n_bounded:] += x[..., self.n_bounded:].clamp(max=0) * (s @ w_d)
        return out

    def _dense_terms(self, op: LinearOp, x: Tensor, key: tuple, w_mix: Tensor,
                     w_box: Tensor, out: Tensor | None = None
                     ) -> tuple[Tensor, Tensor, Tensor | None]:
        """``z``, the box weights of the pixel columns and, where a state in ``x`` is
        negative, the states' extra weights ``w_d`` (else None). With the layer's output
        ``out``, ``x w_mix = x W + x_states (w_mix - W)_states``: a matmul over the states
        only."""
        n = self.n_bounded
        box = op.derived(("mixed-box-pixels", *key), lambda: w_box[:, :n].contiguous())
        if out is None:
            z = op(x, w_mix)
        else:  # in place: new memory costs more than the arithmetic on large inputs
            w_st = op.derived(("mixed-states-extra", *key),
                              lambda: (w_mix - op.weight)[:, n:].contiguous())
            states_w = dense_into(x[..., n:], w_st, scratch.empty(out.shape, out))
            z = op.without_bias(out, into=scratch.empty(out.shape, out)).add_(states_w)
        z.sub_(op.on_ones(_rows_of(x), w_box, key))
        states = x[..., n:]
        if not states.numel() or bool(states.amin() >= 0):  # (NaN: as negative)
            return z, box, None
        # x_rest w_mix + p- w_neg = x w_mix + p- (w_neg - w_mix) on the states
        w_d = op.derived(("mixed-neg-states", *key), lambda: (
            self.alpha * op.neg - self.beta * op.pos)[:, n:] - w_mix[:, n:])
        return z.add_(F.linear(states.clamp(max=0), w_d)), box, w_d

    def step_form(self, op: LinearOp, X: Tensor, Z: Tensor) -> StepForm | None:
        if not op.dense:
            return None
        key = ("mixed", self.n_bounded, self.alpha, self.beta, self.low, self.high)
        w_mix, w_box = op.derived(key, lambda: self._weights(op, X))
        z, box, w_d = self._dense_terms(op, X, key, w_mix, w_box, out=Z)
        n, F_ = self.n_bounded, X.shape[-1]
        den = stabilize_(z, self.stabilizer).unsqueeze(2)  # z is the form's own
        if w_d is not None:  # x w_mix, -1 w_box on the pixels, p- w_d on the states
            inputs = scratch.empty((*X.shape[:-1], 2 * F_), X)  # [x | -1 | p-]
            inputs[..., :F_].copy_(X)
            inputs[..., F_:F_ + n].fill_(-1.0)
            torch.clamp(X[..., n:], max=0, out=inputs[..., F_ + n:])
            weight = op.derived(("mixed-signed-stacked", *key),
                                lambda: torch.cat([w_mix, box, w_d], dim=-1))
            return StepForm(den, weight, inputs=inputs)

        def combine(x: Tensor, c: Tensor) -> Tensor:
            out = x * c[..., :F_]
            out[..., :n] -= c[..., F_:]
            return out

        weight = op.derived(("mixed-stacked", *key), lambda: torch.cat([w_mix, box], dim=-1))
        return StepForm(den, weight, combine)

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
