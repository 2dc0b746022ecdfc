"""One direction of an nn.LSTM or nn.GRU layer, or the thesis' ReLU recurrence, as a
single autograd function whose backward is LRP.

The relevance of the cells built step by step from the functions of
:mod:`rnnxbench.relevance.functions` (the rules are in :mod:`rnnxbench.relevance.cells`'
docstring), for one forward and one backward loop: no per-step autograd nodes. The
forward is torch's arithmetic in another layout (feature-major, gates as contiguous row
blocks, ``tanh`` through ``sigmoid``; torch's module to float rounding, see
``test_forward_equals_torch``) and stores what the backward loop needs. Proportional
splits use the stabiliser ``eps`` and spread its share with ``bias_factor`` as the
reference's ``lrp_linear`` does. With the epsilon rule on the recurrent map (the common
case, Arras et al.'s) the backward loop does the rule's arithmetic itself, one matmul per
step; other rules give their :class:`~rnnxbench.relevance.rules.StepForm` (denominators of
all steps at once, one division and one matmul per step), and a rule without one is called
per step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from rnnxbench.relevance import scratch
from rnnxbench.relevance.functions import proportional_split, rule_relevance
from rnnxbench.relevance.ops import stabilize_scratch
from rnnxbench.relevance.rules import Epsilon, LinearOp, Rule

Tensor = torch.Tensor


def step_order(n_steps: int, reverse: bool) -> range:
    """The steps in the order a direction reads them."""
    return range(n_steps - 1, -1, -1) if reverse else range(n_steps)


def _lstm_weights(weights: tuple, H: int) -> Tensor:
    """``[W_ih | W_hh | b_ih + b_hh]`` (zeros without biases) with torch's gate rows
    (i, f, g, o) reordered (i, f, o, g) and ``g``'s rows doubled (exact: a power of two)."""
    w_ih, w_hh, b_ih, b_hh = weights
    b = w_ih.new_zeros(4 * H) if b_ih is None else b_ih + b_hh
    w = torch.cat([w_ih, w_hh, b[:, None]], dim=1)
    return torch.cat([w[:2 * H], w[3 * H:], 2 * w[2 * H:3 * H]])


class LSTMDirection(torch.autograd.Function):
    """``(outputs (T, N, H), h_T, c_T)`` of one direction over time-major ``x``.

    Inside, the states are feature-major: step ``t`` reads the column block
    ``[h_{t-1} | 1]`` of one buffer for all steps (which the forward fills with each new
    state) and ``x_t`` where it lies (BLAS reads it transposed, no copy); its gates are
    ``W_x x_t + [W_h | b] [h_{t-1} | 1]`` and every gate is a contiguous block of rows, so
    that every element-wise operation runs on contiguous memory.
    ``tanh(u) = 2 sigmoid(2 u) - 1`` (one sigmoid for all four gates; twice as fast as
    torch's tanh on the CPU, 1.7e-7 from it in float32), so the cell carries ``2 c``,
    ``2 f c`` and ``2 i g`` and the g rows' pre-activation doubled; the relevance pass
    divides by ``2 c + 2 eps sign(c)``, which gives exactly the same shares (scaling by two
    is exact). With the epsilon rule the denominators are the forward's pre-activations of
    ``g`` and the backward loop gives the relevance of ``h_{t-1}`` (feature-major) and of
    ``x_t`` (sample-major, where the input lies) with one matmul each; other rules through
    :func:`step_form`.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, h0: Tensor, c0: Tensor, weights: tuple, rule: Rule,
                op_g: LinearOp, eps: float, bias_factor: float, reverse: bool
                ) -> tuple[Tensor, Tensor, Tensor]:
        T, N, E = x.shape
        H = weights[1].shape[1]
        w = _lstm_weights(weights, H)
        w_x, w_h = w[:, :E].contiguous(), w[:, E:].contiguous()
        steps = step_order(T, reverse)
        kw = {"dtype": x.dtype, "device": x.device}
        # rows of [h_{t-1} | 1]: step t reads row t + off, writes h_t to row t + 1 - off
        off = int(reverse)
        hb = torch.empty(T + 1, H + 1, N, **kw)
        hb[:, H] = 1.0
        hb[steps[0] + off, :H] = h0.t()
        gates = torch.empty(4 * H, N, **kw)  # sigmoid(i, f, o, 2 g_pre)
        g2_pre = torch.empty(T, H, N, **kw)  # 2 g_pre: the rule's denominators
        a2, b2, c2 = (torch.empty(T, H, N, **kw) for _ in range(3))  # 2 f c, 2 i g, 2 c
        u = torch.empty(H, N, **kw)
        c = 2 * c0.t()
        # per-step views made once (indexing in the loop costs a dispatch each)
        i, f, o, s_g = gates.split(H)
        xs, rows, hs = x.unbind(0), hb.unbind(0), hb[:, :H].unbind(0)
        gs, as_, bs, cs = (v.unbind(0) for v in (g2_pre, a2, b2, c2))
        for t in steps:
            torch.mm(w_x, xs[t].t(), out=gates).addmm_(w_h, rows[t + off])
            gs[t].copy_(s_g)
            gates.sigmoid_()
            torch.mul(f, c, out=as_[t])
            torch.mul(i, torch.mul(s_g, 4, out=u).sub_(2), out=bs[t])  # 2 i tanh(g)
            c = torch.add(as_[t], bs[t], out=cs[t])
            torch.mul(o, torch.sigmoid(c, out=u).mul_(2).sub_(1), out=hs[t + 1 - off])
        ctx.save_for_backward(x, hb, g2_pre, a2, b2, c2)
        ctx.steps, ctx.off, ctx.rule, ctx.op_g = steps, off, rule, op_g
        ctx.eps, ctx.bias_factor = eps, bias_factor
        outs = _outputs(hb, off, T, H)
        return outs, outs[steps[-1]].contiguous(), (0.5 * c).t().contiguous()

    @staticmethod
    @scratch.scoped
    def backward(ctx: Any, R_out: Tensor | None, R_hT: Tensor | None, R_cT: Tensor | None
                 ) -> tuple[Any, ...]:
        x, hb, g2_pre, a2, b2, c2 = ctx.saved_tensors
        steps, off, rule, op = ctx.steps, ctx.off, ctx.rule, ctx.op_g
        eps, bf = ctx.eps, ctx.bias_factor
        T, H, N = c2.shape
        E = x.shape[2]
        zeros = c2.new_zeros(H, N)
        R_h = zeros if R_hT is None else R_hT.t()
        R_c = zeros if R_cT is None else R_cT.t()
        R_out_T = _by_step(R_out, T)
        R_x = x.new_empty(T, N, E)  # sample-major, as x lies
        fast = type(rule) is Epsilon
        if fast:  # R(g) / (2 z + 2 eps sign z) with 2 W: the rule's s = R(g) / (z + ...)
            w_x, w_ht = 2 * op.weight[:, :E], (2 * op.weight[:, E:]).t().contiguous()
            s_g = c2.new_empty(H, N)
        else:  # [x_t | h_{t-1}] and g's pre-activation of every step, sample-major
            X = torch.cat([x, hb[off:off + T, :H].transpose(1, 2)], dim=2,
                          out=scratch.empty((T, N, E + H), x))
            form = step_form(rule, op, X, 0.5 * g2_pre.transpose(1, 2))
        # the denominators of all steps at once (three operations, not three per step)
        zcs = stabilize_scratch(c2, 2 * eps).unbind(0)
        zgs = stabilize_scratch(g2_pre, 2 * rule.epsilon).unbind(0) if fast else None
        xs, hs, R_xs = x.unbind(0), hb[:, :H].unbind(0), R_x.unbind(0)
        gs, as_, bs = (v.unbind(0) for v in (g2_pre, a2, b2))
        for t in reversed(steps):
            if R_out_T[t] is not None:
                R_h = R_h + R_out_T[t]
            R_c = R_c + R_h
            R_a, R_b = proportional_split(as_[t], bs[t], zcs[t], R_c, eps, bf, dim=0,
                                          stabilized=True)
            if fast:
                zs = zgs[t]
                torch.div(R_b, zs, out=s_g)
                torch.mm(s_g.t(), w_x, out=R_xs[t]).mul_(xs[t])
                R_h = torch.mm(w_ht, s_g).mul_(hs[t + off])
                if rule.bias_factor:
                    spread = _bias_spread(rule, s_g, zs, gs[t], op)
                    R_xs[t].add_(spread.t())
                    R_h += spread
            else:
                R_in = form(t, X[t], R_b.t())
                R_xs[t].copy_(R_in[:, :E])
                R_h = R_in[:, E:].t()
            R_c = R_a
        return R_x, R_h.t(), R_c.t(), None, None, None, None, None, None


def _bias_spread(rule: Epsilon, s2: Tensor, zs2: Tensor, z2: Tensor, op: LinearOp) -> Tensor:
    """The epsilon rule's bias and stabiliser share of one step spread evenly over the
    inputs, ``bias_factor * sum_j (zs_j - (W x)_j) s_j / n_inputs`` (``(1, N)``), from the
    doubled pre-activations ``z2``, their stabilised ``zs2`` and ``s2 = R / zs2``."""
    wx2 = z2 if op.bias is None else z2 - 2 * op.bias[:, None]
    return rule.bias_factor * ((zs2 - wx2) * s2).sum(dim=0, keepdim=True) / op.fan_in()


def _with_bias(w: Tensor, b: Tensor | None, H: int) -> Tensor:
    """``[w | b]`` (a bias column for a constant-1 input row) with the n rows doubled."""
    w = w if b is None else torch.cat([w, b[:, None]], dim=1)
    return torch.cat([w[:2 * H], 2 * w[2 * H:]])


class GRUDirection(torch.autograd.Function):
    """``(outputs (T, N, H), h_T)`` of one GRU direction over time-major ``x``.

    Feature-major states as :class:`LSTMDirection`: per step one matmul for ``x_t`` (read
    where it lies) plus its bias and one for ``[h_{t-1} | 1]``, gates as contiguous row
    blocks, ``tanh(u) = 2 sigmoid(2 u) - 1`` with the n rows' pre-activations doubled (the
    proportional splits divide by the doubled totals: the same shares).
    ``h_t = (1 - z) n + z h_{t-1}`` is the sum of its two shares. With the epsilon rule on
    both halves the backward loop gives the relevance of ``x_t`` (sample-major) with one
    matmul; otherwise the input half of the rule runs once over all steps after the loop.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, h0: Tensor, weights: tuple, rules: tuple, ops: tuple,
                eps: float, bias_factor: float, reverse: bool) -> tuple[Tensor, Tensor]:
        w_ih, w_hh, b_ih, b_hh = weights
        T, N, E = x.shape
        H = w_hh.shape[1]
        w_x = _with_bias(w_ih, None, H)
        b_x = None if b_ih is None else _with_bias(b_ih[:, None], None, H)
        w_h = _with_bias(w_hh, b_hh, H)
        steps = step_order(T, reverse)
        kw = {"dtype": x.dtype, "device": x.device}
        off = int(reverse)  # step t reads h row t + off and writes h_t to row t + 1 - off
        hb = torch.ones(T + 1, w_h.shape[1], N, **kw)
        hb[steps[0] + off, :H] = h0.t()
        xg, hg = torch.empty(3 * H, N, **kw), torch.empty(3 * H, N, **kw)
        u = torch.empty(H, N, **kw)
        # 2 a = 2 (W_in x + b_in), 2 b = 2 (W_hn h + b_hn), 2 r b, 2 n_pre, (1 - z) n, z h
        a2, b2, rb2, n2, keep_n, keep_h = (torch.empty(T, H, N, **kw) for _ in range(6))
        # per-step views made once (indexing in the loop costs a dispatch each)
        rz, r, z, xn = xg[:2 * H], xg[:H], xg[H:2 * H], xg[2 * H:]
        hrz, hn = hg[:2 * H], hg[2 * H:]
        xs, rows, hs = x.unbind(0), hb.unbind(0), hb[:, :H].unbind(0)
        as_, bs, rbs, ns, kns, khs = (v.unbind(0) for v in (a2, b2, rb2, n2, keep_n, keep_h))
        for t in steps:
            if b_x is None:
                torch.mm(w_x, xs[t].t(), out=xg)
            else:
                torch.addmm(b_x, w_x, xs[t].t(), out=xg)
            torch.mm(w_h, rows[t + off], out=hg)
            rz.add_(hrz).sigmoid_()
            as_[t].copy_(xn)
            bs[t].copy_(hn)
            torch.mul(r, hn, out=rbs[t])
            torch.add(xn, rbs[t], out=ns[t])
            n = torch.sigmoid(ns[t], out=u).mul_(2).sub_(1)
            torch.mul(torch.rsub(z, 1), n, out=kns[t])
            torch.mul(z, hs[t + off], out=khs[t])
            torch.add(kns[t], khs[t], out=hs[t + 1 - off])
        ctx.save_for_backward(x, hb, a2, b2, rb2, n2, keep_n, keep_h)
        ctx.steps, ctx.off, ctx.rules, ctx.ops = steps, off, rules, ops
        ctx.eps, ctx.bias_factor = eps, bias_factor
        outs = _outputs(hb, off, T, H)
        return outs, outs[steps[-1]].contiguous()

    @staticmethod
    @scratch.scoped
    def backward(ctx: Any, R_out: Tensor | None, R_hT: Tensor | None) -> tuple[Any, ...]:
        x, hb, a2, b2, rb2, n2, keep_n, keep_h = ctx.saved_tensors
        steps, off, eps, bf = ctx.steps, ctx.off, ctx.eps, ctx.bias_factor
        (rule_x, rule_h), (op_x, op_h) = ctx.rules, ctx.ops
        T, H, N = a2.shape
        R_h = a2.new_zeros(H, N) if R_hT is None else R_hT.t()
        R_out_T = _by_step(R_out, T)
        fast = type(rule_h) is Epsilon
        fast_x = type(rule_x) is Epsilon
        if fast:
            w_t = 2 * op_h.weight.t()
        else:  # h_{t-1} and W_hn h + b_hn of every step, sample-major
            h_rows = hb[off:off + T, :H].transpose(1, 2)
            form = step_form(rule_h, op_h, h_rows, 0.5 * b2.transpose(1, 2))
        if fast_x:  # the input half in the loop, sample-major
            R_x, w_x = x.new_empty(x.shape), 2 * op_x.weight
        else:  # relevance of W_in x_t + b_in, for the input half after the loop
            R_a = torch.empty_like(a2)
        xs, hs = x.unbind(0), hb[:, :H].unbind(0)
        R_xs = R_x.unbind(0) if fast_x else R_a.unbind(0)
        as_, bs, rbs, kns, khs = (v.unbind(0) for v in (a2, b2, rb2, keep_n, keep_h))
        # the denominators of all steps at once (three operations, not three per step)
        zhs = stabilize_scratch(_outputs(hb, off, T, H).transpose(1, 2), eps).unbind(0)
        zns = stabilize_scratch(n2, 2 * eps).unbind(0)
        zas = stabilize_scratch(a2, 2 * rule_x.epsilon).unbind(0) if fast_x else None
        zbs = stabilize_scratch(b2, 2 * rule_h.epsilon).unbind(0) if fast else None
        for t in reversed(steps):
            h_prev = hs[t + off]
            if R_out_T[t] is not None:
                R_h = R_h + R_out_T[t]
            R_n, R_h_direct = proportional_split(kns[t], khs[t], zhs[t], R_h, eps, bf,
                                                 dim=0, stabilized=True)
            R_at, R_b = proportional_split(as_[t], rbs[t], zns[t], R_n, eps, bf, dim=0,
                                           stabilized=True)
            if fast_x:
                zs = zas[t]
                s = R_at / zs
                torch.mm(s.t(), w_x, out=R_xs[t]).mul_(xs[t])
                if rule_x.bias_factor:
                    R_xs[t].add_(_bias_spread(rule_x, s, zs, as_[t], op_x).t())
            else:
                R_xs[t].copy_(R_at)
            if fast:
                zs = zbs[t]
                s = R_b / zs
                R_h = torch.addcmul(R_h_direct, h_prev, torch.mm(w_t, s))
                if rule_h.bias_factor:
                    R_h += _bias_spread(rule_h, s, zs, bs[t], op_h)
            else:
                R_h = R_h_direct + form(t, h_rows[t], R_b.t()).t()
        if not fast_x:  # the rule of W_in x + b_in over all steps at once
            R_x = rule_relevance(rule_x, op_x, x.reshape(T * N, -1), _rows(R_a),
                                 _rows(0.5 * a2)).view(x.shape)
        return R_x, R_h.t(), None, None, None, None, None, None


def _outputs(hb: Tensor, off: int, T: int, H: int) -> Tensor:
    """The states ``h_t`` by time, ``(T, N, H)``: a view of the feature-major buffer (the
    caller concatenates directions or makes it contiguous: one copy, not two)."""
    return hb[1 - off:1 - off + T, :H].transpose(1, 2)


def _by_step(R_out: Tensor | None, n_steps: int) -> list[Tensor | None]:
    """The relevance of each step's output, feature-major, None where it is all zero (a
    classifier that reads one step gets zeros at every other)."""
    if R_out is None:
        return [None] * n_steps
    # per step: a sum over the strided view is ~6x faster than count_nonzero over all
    steps = R_out.unbind(0)
    nonzero = torch.stack([R.abs().sum() for R in steps]).tolist()
    return [R.t().contiguous() if nz else None for R, nz in zip(steps, nonzero, strict=True)]


def _rows(v: Tensor) -> Tensor:
    """Feature-major ``(T, H, N)`` as ``(T * N, H)`` rows (time-major order)."""
    return v.transpose(1, 2).reshape(-1, v.shape[1])


class ReLURecurrence(torch.autograd.Function):
    """The thesis' ReLU cell over all steps as one function: ``h_t = relu(A [u_t | r_{t-1}]
    + a)``, ``r_t = relu(B h_t + b)`` for ``t < T`` (``r_0 = 0``); returns ``h_T``. The
    forward is the layers' own arithmetic (``F.linear``); the backward loop applies
    ``rule_a`` to A and ``rule_b`` to B at every step (ReLUs pass relevance unchanged).
    ``u``: ``(N, T, F)``; ``r0``: the initial state ``(N, R)`` (zeros; it gets the relevance
    the rule gives it); ``ops``, ``rules``: ``(A, B)``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, r0: Tensor, ops: tuple, rules: tuple) -> Tensor:
        op_a, op_b = ops
        N, T, F_ = u.shape
        H, R = op_a.weight.shape[0], op_b.weight.shape[0]
        xr = u.new_empty(T, N, F_ + R)  # [u_t | r_{t-1}]
        xr[:, :, :F_] = u.transpose(0, 1)
        xr[0, :, F_:] = r0
        pre_a, h = u.new_empty(T, N, H), u.new_empty(T, N, H)
        pre_b = u.new_empty(max(T - 1, 0), N, R)
        xrs, pas, hs, pbs = xr.unbind(0), pre_a.unbind(0), h.unbind(0), pre_b.unbind(0)
        rs = xr[:, :, F_:].unbind(0)
        for t in range(T):
            _linear(xrs[t], op_a, out=pas[t])
            torch.clamp_min(pas[t], 0, out=hs[t])
            if t < T - 1:
                _linear(hs[t], op_b, out=pbs[t])
                torch.clamp_min(pbs[t], 0, out=rs[t + 1])
        ctx.save_for_backward(xr, pre_a, h, pre_b)
        ctx.ops, ctx.rules = ops, rules
        return h[T - 1].clone()

    @staticmethod
    @scratch.scoped
    def backward(ctx: Any, R_h: Tensor) -> tuple[Any, ...]:
        xr, pre_a, h, pre_b = ctx.saved_tensors
        (op_a, op_b), (rule_a, rule_b) = ctx.ops, ctx.rules
        T, N, _ = xr.shape
        F_ = xr.shape[2] - op_b.weight.shape[0]
        R_u = xr.new_empty(T, N, F_)
        form_a = step_form(rule_a, op_a, xr, pre_a)
        form_b = step_form(rule_b, op_b, h[:T - 1], pre_b) if T > 1 else None
        xrs, hs, R_us = xr.unbind(0), h.unbind(0), R_u.unbind(0)
        for t in reversed(range(T)):
            R_xr = form_a(t, xrs[t], R_h)
            R_us[t].copy_(R_xr[:, :F_])
            if t > 0:
                R_h = form_b(t - 1, hs[t - 1], R_xr[:, F_:])
        return R_u.transpose(0, 1), R_xr[:, F_:], None, None


def step_form(rule: Rule, op: LinearOp, X: Tensor, Z: Tensor
              ) -> Callable[[int, Tensor, Tensor], Tensor]:
    """``form(t, x_t, R_t)``: ``rule`` on ``op`` at step ``t`` (``X``: ``(T, N, F)``
    inputs, ``Z``: ``(T, N, O)`` outputs) through its
    :class:`~rnnxbench.relevance.rules.StepForm`, or, for a rule without one (e.g. a
    plugin's), the rule called at that step."""
    make = getattr(rule, "step_form", None)
    form = make(op, X, Z) if callable(make) else None
    if form is not None:
        return form
    outs = Z.unbind(0)
    return lambda t, x, R: rule_relevance(rule, op, x, R, outs[t])


def _linear(x: Tensor, op: LinearOp, out: Tensor) -> Tensor:
    """``F.linear(x, op.weight, op.bias)`` into ``out`` (the same kernel: addmm / mm)."""
    if op.bias is None:
        return torch.mm(x, op.weight.t(), out=out)
    return torch.addmm(op.bias, x, op.weight.t(), out=out)
