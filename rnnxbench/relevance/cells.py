"""torch's nn.RNN / nn.GRU / nn.LSTM as unrolled cells that carry relevance.

Same forward values as the fused modules (eval mode), built from relevance functions:
the linear maps get the composite's rule, gates are constants (signal-take-all), gated sums
split relevance in proportion (Arras et al. 2017; ../shared/spec/recurrent-lrp.md).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnxbench.relevance import functions as rf
from rnnxbench.relevance.rules import linear_op

Tensor = torch.Tensor


def _params(module: nn.Module, layer: int, reverse: bool) -> tuple[Tensor, ...]:
    sfx = f"_l{layer}" + ("_reverse" if reverse else "")
    w_ih, w_hh = getattr(module, "weight_ih" + sfx), getattr(module, "weight_hh" + sfx)
    if module.bias:
        b_ih, b_hh = getattr(module, "bias_ih" + sfx), getattr(module, "bias_hh" + sfx)
    else:
        b_ih = b_hh = torch.zeros(w_ih.shape[0], dtype=w_ih.dtype, device=w_ih.device)
    return w_ih, w_hh, b_ih, b_hh


def _direction(module: nn.Module, x: Tensor, h0: Tensor, c0: Tensor | None, layer: int,
               reverse: bool, composite: Any, mixed: bool) -> tuple[Tensor, Tensor, Tensor]:
    """One layer, one direction over ``x`` (N, T, F): outputs (N, T, H), h_T, c_T."""
    w_ih, w_hh, b_ih, b_hh = _params(module, layer, reverse)
    n_in, H = w_ih.shape[1], w_hh.shape[1]
    rule = composite.rule("mixed" if mixed else "hidden", n_in)
    steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
    h, c = h0, c0
    outs: list[Tensor] = [None] * x.shape[1]  # type: ignore[list-item]
    kind = type(module).__name__
    if kind == "LSTM":
        # rows: i, f, g, o; only the candidate g carries relevance
        W = torch.cat([w_ih, w_hh], dim=1)
        b = b_ih + b_hh
        W_g, b_g = W[2 * H:3 * H], b[2 * H:3 * H]
        op_g = linear_op(W_g, b_g)
        for t in steps:
            xh = torch.cat([x[:, t], h], dim=1)
            z = F.linear(xh.detach(), W, b)
            i, f, o = (torch.sigmoid(z[:, k * H:(k + 1) * H]) for k in (0, 1, 3))
            g_pre = rf.layer(xh, F.linear(xh, W_g, b_g), rule, op_g)
            g = rf.pass_through(g_pre, torch.tanh(g_pre))
            c = rf.proportional_sum(rf.gate_mul(f, c), rf.gate_mul(i, g),
                                    composite.gate_epsilon)
            h = rf.gate_mul(o, rf.pass_through(c, torch.tanh(c)))
            outs[t] = h
    elif kind == "GRU":
        # rows: r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        W_in, b_in = w_ih[2 * H:], b_ih[2 * H:]
        W_hn, b_hn = w_hh[2 * H:], b_hh[2 * H:]
        op_x, op_h = linear_op(W_in, b_in), linear_op(W_hn, b_hn)
        rule_h = composite.rule("hidden")
        for t in steps:
            xt = x[:, t]
            gx = F.linear(xt.detach(), w_ih[:2 * H], b_ih[:2 * H])
            gh = F.linear(h.detach(), w_hh[:2 * H], b_hh[:2 * H])
            r = torch.sigmoid(gx[:, :H] + gh[:, :H])
            zg = torch.sigmoid(gx[:, H:] + gh[:, H:])
            a = rf.layer(xt, F.linear(xt, W_in, b_in), composite.rule(
                "input" if mixed else "hidden"), op_x)
            bh = rf.layer(h, F.linear(h, W_hn, b_hn), rule_h, op_h) if h.requires_grad \
                else F.linear(h, W_hn, b_hn)
            n_pre = rf.proportional_sum(a, rf.gate_mul(r, bh), composite.gate_epsilon)
            n = rf.pass_through(n_pre, torch.tanh(n_pre))
            h = rf.proportional_sum(rf.gate_mul(1 - zg, n), rf.gate_mul(zg, h),
                                    composite.gate_epsilon)
            outs[t] = h
    else:  # RNN, tanh or relu
        W = torch.cat([w_ih, w_hh], dim=1)
        b = b_ih + b_hh
        op = linear_op(W, b)
        act = torch.tanh if module.nonlinearity == "tanh" else torch.relu
        for t in steps:
            xh = torch.cat([x[:, t], h], dim=1)
            pre = rf.layer(xh, F.linear(xh, W, b), rule, op)
            h = rf.pass_through(pre, act(pre))
            outs[t] = h
    return torch.stack(outs, dim=1), h, c


def recurrent_forward(module: nn.Module, input: Tensor, hx: Any, composite: Any,
                      bounded_first: bool = False) -> tuple[Tensor, Any]:
    """The forward of ``module`` (nn.RNN/GRU/LSTM, eval mode) in relevance mode."""
    if isinstance(input, nn.utils.rnn.PackedSequence):
        raise ValueError("relevance for PackedSequence inputs is not supported; pad instead")
    x = input if module.batch_first else input.transpose(0, 1)
    unbatched = x.dim() == 2
    if unbatched:
        x = x.unsqueeze(0)
    N, D, L, H = x.shape[0], 2 if module.bidirectional else 1, module.num_layers, \
        module.hidden_size
    is_lstm = isinstance(module, nn.LSTM)
    if hx is None:
        zeros = x.new_zeros(L * D, N, H)
        h0, c0 = zeros, (zeros if is_lstm else None)
    elif is_lstm:
        h0, c0 = hx
    else:
        h0, c0 = hx, None
    if unbatched and hx is not None:
        h0 = h0.unsqueeze(1)
        c0 = c0.unsqueeze(1) if c0 is not None else None
    hs, cs = [], []
    layer_in = x
    for layer in range(L):
        outs = []
        for d in range(D):
            k = layer * D + d
            out, h, c = _direction(module, layer_in, h0[k], None if c0 is None else c0[k],
                                   layer, d == 1, composite, bounded_first and layer == 0)
            outs.append(out)
            hs.append(h)
            cs.append(c)
        layer_in = torch.cat(outs, dim=2) if D == 2 else outs[0]
    output = layer_in if module.batch_first else layer_in.transpose(0, 1)
    h_n = torch.stack(hs)
    if unbatched:
        output, h_n = output.squeeze(0 if module.batch_first else 1), h_n.squeeze(1)
    if is_lstm:
        c_n = torch.stack(cs)
        return output, (h_n, c_n.squeeze(1) if unbatched else c_n)
    return output, h_n
