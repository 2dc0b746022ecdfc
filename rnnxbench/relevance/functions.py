"""Autograd functions whose backward pass carries relevance instead of gradient.

In relevance mode, the "gradient" flowing backwards through the graph *is* the relevance.
Each function here is applied per call, so a module reused at every time step is handled
at every step, and relevance flows back through the recurrent state across time.
"""

from __future__ import annotations

import torch

from rnnxbench.relevance import scratch
from rnnxbench.relevance.rules import LinearOp, Rule, stabilize

Tensor = torch.Tensor


def rule_relevance(rule: Rule, op: LinearOp, x: Tensor, R: Tensor, out: Tensor | None
                   ) -> Tensor:
    """``rule`` on ``op`` at input ``x`` (``out``: the layer's output, for rules that
    declare ``uses_output``; read only: it is the module's own output, not a copy)."""
    return rule(op, x, R, out=out) if getattr(rule, "uses_output", False) else rule(op, x, R)


def proportional_split(a: Tensor, b: Tensor, z: Tensor, R: Tensor, eps: float,
                       bias_factor: float, dim: int = -1, stabilized: bool = False
                       ) -> tuple[Tensor, Tensor]:
    """Relevance ``R`` of ``z = a + b`` split in proportion (see :class:`ProportionalSum`);
    ``dim``: the units' axis; ``stabilized``: ``z`` is already ``stabilize(z, eps)``."""
    zs = z if stabilized else stabilize(z, eps)
    s = R / zs
    Ra, Rb = a * s, b * s
    if bias_factor:
        rest = (zs - a - b) * s  # stabiliser's share (and rounding) per unit
        n_units = a.shape[dim] + b.shape[dim]
        spread = bias_factor * rest.sum(dim=dim, keepdim=True) / n_units
        Ra, Rb = Ra + spread, Rb + spread
    return Ra, Rb


class LayerRelevance(torch.autograd.Function):
    """``out`` in the forward pass; backward maps output relevance to ``x`` with ``rule``."""

    @staticmethod
    def forward(ctx, x: Tensor, out: Tensor, rule: Rule, op: LinearOp) -> Tensor:
        out = out.detach()
        # rules that declare ``uses_output`` reuse the forward's output (saves a matmul)
        ctx.uses_output = getattr(rule, "uses_output", False)
        if ctx.uses_output:
            # the module's own output: callers get (and may modify in place) the clone
            # returned below; an in-place change of this one fails autograd's version check
            ctx.save_for_backward(x, out)
        else:
            ctx.save_for_backward(x)
        ctx.rule, ctx.op = rule, op
        return out.clone()

    @staticmethod
    @scratch.scoped
    def backward(ctx, R: Tensor):
        x, out = ctx.saved_tensors if ctx.uses_output else (*ctx.saved_tensors, None)
        return rule_relevance(ctx.rule, ctx.op, x, R, out), None, None, None


class PassThrough(torch.autograd.Function):
    """An element-wise activation (ReLU, tanh, ...): relevance passes unchanged."""

    @staticmethod
    def forward(ctx, x: Tensor, out: Tensor) -> Tensor:
        return out.detach().clone()

    @staticmethod
    def backward(ctx, R: Tensor):
        return R, None


class GateMul(torch.autograd.Function):
    """``gate * signal`` with signal-take-all: all relevance to the signal, none to the gate."""

    @staticmethod
    def forward(ctx, gate: Tensor, signal: Tensor) -> Tensor:
        return gate * signal

    @staticmethod
    def backward(ctx, R: Tensor):
        return None, R


class ProportionalSum(torch.autograd.Function):
    """``a + b`` (two gated summands of H units each) whose relevance splits in proportion.

    The epsilon rule with ``z = a + b`` (or the forward ``value`` when given, e.g. torch's
    own rounding of the sum): ``R_a = a / (z + eps sign z) R``, likewise ``R_b``. The
    stabiliser's share ``(z + eps sign z - a - b) / (z + eps sign z) R`` is absorbed unless
    ``bias_factor`` is set; then, as the reference implementation's ``lrp_linear`` (identity
    weights, ``bias_nb_units = 2 H``), every unit's share is spread evenly over all ``2 H``
    summand units (last axis) of the sample, and ``bias_factor = 1`` conserves relevance
    exactly: ``sum R_a + sum R_b = sum R``.
    """

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, eps: float, bias_factor: float = 0.0,
                value: Tensor | None = None) -> Tensor:
        z = a + b if value is None else value.detach()
        ctx.save_for_backward(a, b, z)
        ctx.eps, ctx.bias_factor = eps, bias_factor
        return z.clone() if value is not None else z

    @staticmethod
    def backward(ctx, R: Tensor):
        a, b, z = ctx.saved_tensors
        return (*proportional_split(a, b, z, R, ctx.eps, ctx.bias_factor), None, None, None)


def gate_mul(gate: Tensor, signal: Tensor) -> Tensor:
    return GateMul.apply(gate.detach(), signal)


def proportional_sum(a: Tensor, b: Tensor, eps: float = 1e-3, bias_factor: float = 0.0,
                     value: Tensor | None = None) -> Tensor:
    """``a + b`` (or ``value``) whose backward splits relevance in proportion to a and b."""
    return ProportionalSum.apply(a, b, eps, bias_factor, value)


def pass_through(x: Tensor, out: Tensor) -> Tensor:
    return PassThrough.apply(x, out)


def layer(x: Tensor, out: Tensor, rule: Rule, op: LinearOp) -> Tensor:
    return LayerRelevance.apply(x, out, rule, op)
