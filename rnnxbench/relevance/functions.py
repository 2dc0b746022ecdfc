"""Autograd functions whose backward pass carries relevance instead of gradient.

In relevance mode, the "gradient" flowing backwards through the graph *is* the relevance.
Each function here is applied per call, so a module reused at every time step is handled
at every step, and relevance flows back through the recurrent state across time.
"""

from __future__ import annotations

import torch

from rnnxbench.relevance.rules import LinearOp, Rule, stabilize

Tensor = torch.Tensor


class LayerRelevance(torch.autograd.Function):
    """``out`` in the forward pass; backward maps output relevance to ``x`` with ``rule``."""

    @staticmethod
    def forward(ctx, x: Tensor, out: Tensor, rule: Rule, op: LinearOp) -> Tensor:
        ctx.save_for_backward(x)
        ctx.rule, ctx.op = rule, op
        return out.detach().clone()

    @staticmethod
    def backward(ctx, R: Tensor):
        (x,) = ctx.saved_tensors
        return ctx.rule(ctx.op, x, R), None, None, None


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
    """``a + b`` whose relevance splits in proportion: ``R_a = a / (a + b + eps sign) R``."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, eps: float) -> Tensor:
        ctx.save_for_backward(a, b)
        ctx.eps = eps
        return a + b

    @staticmethod
    def backward(ctx, R: Tensor):
        a, b = ctx.saved_tensors
        s = R / stabilize(a + b, ctx.eps)
        return a * s, b * s, None


def gate_mul(gate: Tensor, signal: Tensor) -> Tensor:
    return GateMul.apply(gate.detach(), signal)


def proportional_sum(a: Tensor, b: Tensor, eps: float = 1e-3) -> Tensor:
    return ProportionalSum.apply(a, b, eps)


def pass_through(x: Tensor, out: Tensor) -> Tensor:
    return PassThrough.apply(x, out)


def layer(x: Tensor, out: Tensor, rule: Rule, op: LinearOp) -> Tensor:
    return LayerRelevance.apply(x, out, rule, op)
