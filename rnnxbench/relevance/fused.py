"""One direction of an nn.LSTM or nn.GRU layer as a single autograd function whose
backward is LRP.

The same relevance as the cells built step by step from the functions of
:mod:`rnnxbench.relevance.functions` (the rules are in :mod:`rnnxbench.relevance.cells`'
docstring): one forward of plain tensor operations (no per-step autograd nodes, no copies;
the same operations in the same order, so the same values bit for bit) stores what the
backward loop needs; the backward loop runs the steps in reverse (the GRU's adds its two
shares of ``R(h_{t-1})`` in another order than autograd did: float rounding differs).
Proportional splits use
the stabiliser ``eps`` and spread its share with ``bias_factor`` as the reference's
``lrp_linear`` does.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from rnnxbench.relevance.functions import proportional_split, rule_relevance
from rnnxbench.relevance.rules import LinearOp, Rule

Tensor = torch.Tensor


def step_order(n_steps: int, reverse: bool) -> range:
    """The steps in the order a direction reads them."""
    return range(n_steps - 1, -1, -1) if reverse else range(n_steps)


class LSTMDirection(torch.autograd.Function):
    """``(outputs (T, N, H), h_T, c_T)`` of one direction over time-major ``x``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, h0: Tensor, c0: Tensor, weights: tuple, rule: Rule,
                op_g: LinearOp, eps: float, bias_factor: float, reverse: bool
                ) -> tuple[Tensor, Tensor, Tensor]:
        w_ih, w_hh, b_ih, b_hh = weights
        T = x.shape[0]
        steps = step_order(T, reverse)
        x_proj = F.linear(x, w_ih, b_ih)  # as torch's CPU kernel: all steps first
        h, c = h0, c0
        outs: list[Tensor] = [None] * T  # type: ignore[list-item]
        saved: list[tuple[Tensor, ...]] = [None] * T  # type: ignore[list-item]
        for t in steps:
            gates = F.linear(h, w_hh, b_hh) + x_proj[t]
            i_pre, f_pre, g_val, o_pre = gates.chunk(4, 1)
            i, f, o = torch.sigmoid(i_pre), torch.sigmoid(f_pre), torch.sigmoid(o_pre)
            g = torch.tanh(g_val)
            a, b = f * c, i * g
            c_new = a + b
            h_new = o * torch.tanh(c_new)
            saved[t] = (h, a, b, c_new, g_val)
            h, c = h_new, c_new
            outs[t] = h
        ctx.saved, ctx.steps, ctx.x = saved, steps, x
        ctx.rule, ctx.op_g, ctx.eps, ctx.bias_factor = rule, op_g, eps, bias_factor
        return torch.stack(outs), h, c

    @staticmethod
    def backward(ctx: Any, R_out: Tensor | None, R_hT: Tensor | None, R_cT: Tensor | None
                 ) -> tuple[Any, ...]:
        x, rule, op, eps, bf = ctx.x, ctx.rule, ctx.op_g, ctx.eps, ctx.bias_factor
        n_in = x.shape[2]
        h_shape = ctx.saved[0][0].shape
        R_h = torch.zeros(h_shape, dtype=x.dtype, device=x.device) if R_hT is None else R_hT
        R_c = torch.zeros(h_shape, dtype=x.dtype, device=x.device) if R_cT is None else R_cT
        R_x = torch.empty_like(x)
        for t in reversed(ctx.steps):
            h_prev, a, b, c, g_val = ctx.saved[t]
            if R_out is not None:
                R_h = R_h + R_out[t]
            R_c = R_c + R_h
            R_a, R_b = proportional_split(a, b, c, R_c, eps, bf)
            R_in = rule_relevance(rule, op, torch.cat([x[t], h_prev], dim=1), R_b, g_val)
            R_x[t] = R_in[:, :n_in]
            R_h, R_c = R_in[:, n_in:], R_a
        ctx.saved = None
        return R_x, R_h, R_c, None, None, None, None, None, None


class GRUDirection(torch.autograd.Function):
    """``(outputs (T, N, H), h_T)`` of one GRU direction over time-major ``x``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, h0: Tensor, weights: tuple, rules: tuple, ops: tuple,
                eps: float, bias_factor: float, reverse: bool) -> tuple[Tensor, Tensor]:
        w_ih, w_hh, b_ih, b_hh = weights
        T, H = x.shape[0], w_hh.shape[1]
        steps = step_order(T, reverse)
        x_proj = F.linear(x, w_ih, b_ih)
        h = h0
        outs: list[Tensor] = [None] * T  # type: ignore[list-item]
        saved: list[tuple[Tensor, ...]] = [None] * T  # type: ignore[list-item]
        for t in steps:
            h_proj = F.linear(h, w_hh, b_hh)
            b_val = h_proj[:, 2 * H:].clone()
            # in place on the chunks, as torch's kernel (same rounding of sigmoid)
            r = h_proj[:, :H].add_(x_proj[t, :, :H]).sigmoid_()
            z = h_proj[:, H:2 * H].add_(x_proj[t, :, H:2 * H]).sigmoid_()
            a_val = x_proj[t, :, 2 * H:]
            rb = r * b_val
            n_pre = a_val + rb
            n_val = torch.tanh(n_pre)
            h_val = (h - n_val) * z + n_val  # torch's form of (1 - z) * n + z * h
            saved[t] = (h, a_val, b_val, rb, n_pre, (1 - z) * n_val, z * h, h_val)
            h = h_val
            outs[t] = h
        ctx.saved, ctx.steps, ctx.x = saved, steps, x
        ctx.rules, ctx.ops, ctx.eps, ctx.bias_factor = rules, ops, eps, bias_factor
        return torch.stack(outs), h

    @staticmethod
    def backward(ctx: Any, R_out: Tensor | None, R_hT: Tensor | None) -> tuple[Any, ...]:
        x, eps, bf = ctx.x, ctx.eps, ctx.bias_factor
        (rule_x, rule_h), (op_x, op_h) = ctx.rules, ctx.ops
        h_shape = ctx.saved[0][0].shape
        R_h = torch.zeros(h_shape, dtype=x.dtype, device=x.device) if R_hT is None else R_hT
        R_x = torch.empty_like(x)
        for t in reversed(ctx.steps):
            h_prev, a_val, b_val, rb, n_pre, keep_n, keep_h, h_val = ctx.saved[t]
            if R_out is not None:
                R_h = R_h + R_out[t]
            R_n, R_h_direct = proportional_split(keep_n, keep_h, h_val, R_h, eps, bf)
            R_a, R_b = proportional_split(a_val, rb, n_pre, R_n, eps, bf)
            R_x[t] = rule_relevance(rule_x, op_x, x[t], R_a, a_val)
            R_h = R_h_direct + rule_relevance(rule_h, op_h, h_prev, R_b, b_val)
        ctx.saved = None
        return R_x, R_h, None, None, None, None, None, None
