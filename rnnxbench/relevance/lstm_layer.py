"""One direction of an nn.LSTM layer as a single autograd function whose backward is LRP.

The same relevance as the LSTM cell built step by step from the functions of
:mod:`rnnxbench.relevance.functions` (see :mod:`rnnxbench.relevance.cells`): per step,
``R(c_t) += R(h_t)``; ``R(c_t)`` splits between ``f*c_{t-1}`` and ``i*g`` in proportion
(stabiliser ``eps``, ``bias_factor`` spreading its share as the reference's ``lrp_linear``);
``R(g)`` goes through the composite's rule over ``[x_t | h_{t-1}]``. One forward of plain
tensor operations (no per-step autograd nodes, no copies) stores what the backward loop
needs; the backward loop runs the steps in reverse.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from rnnxbench.relevance.rules import LinearOp, Rule, stabilize

Tensor = torch.Tensor


class LSTMDirection(torch.autograd.Function):
    """``(outputs (T, N, H), h_T, c_T)`` of one direction over time-major ``x``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, h0: Tensor, c0: Tensor, weights: tuple, rule: Rule,
                op_g: LinearOp, eps: float, bias_factor: float, reverse: bool
                ) -> tuple[Tensor, Tensor, Tensor]:
        w_ih, w_hh, b_ih, b_hh = weights
        T = x.shape[0]
        steps = range(T - 1, -1, -1) if reverse else range(T)
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
        uses_output = getattr(rule, "uses_output", False)
        for t in reversed(ctx.steps):
            h_prev, a, b, c, g_val = ctx.saved[t]
            if R_out is not None:
                R_h = R_h + R_out[t]
            R_c = R_c + R_h
            zs = stabilize(c, eps)
            s = R_c / zs
            R_a, R_b = a * s, b * s
            if bf:
                spread = bf * ((zs - a - b) * s).sum(dim=-1, keepdim=True) / (2 * a.shape[-1])
                R_a, R_b = R_a + spread, R_b + spread
            xh = torch.cat([x[t], h_prev], dim=1)
            R_in = rule(op, xh, R_b, out=g_val) if uses_output else rule(op, xh, R_b)
            R_x[t] = R_in[:, :n_in]
            R_h, R_c = R_in[:, n_in:], R_a
        ctx.saved = None
        return R_x, R_h, R_c, None, None, None, None, None, None
