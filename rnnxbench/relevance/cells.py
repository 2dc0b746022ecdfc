"""torch's nn.RNN / nn.GRU / nn.LSTM as unrolled cells that carry relevance.

The forward values of the torch modules in eval mode (nn.RNN: the same operations in the
same order as torch's CPU kernel, bit for bit; nn.LSTM / nn.GRU: each direction one function
of :mod:`rnnxbench.relevance.fused`, equal to torch's kernel to float rounding), with
relevance: the linear maps get the composite's rule, gates are constants (signal-take-all),
gated sums split relevance in proportion (Arras et al. 2017;
../shared/spec/recurrent-lrp.md).

Relevance per step (LSTM, ``c_t = f*c_{t-1} + i*g``, ``h_t = o*tanh(c_t)``):

- ``R(c_t) += R(h_t)`` (``o`` a constant gate, ``tanh`` passes relevance unchanged);
- ``R(c_t)`` splits between ``f*c_{t-1}`` and ``i*g`` in proportion (epsilon rule with
  ``z = c_t``); the gates' shares go to ``c_{t-1}`` and ``g``;
- ``R(g)`` passes ``tanh`` and goes through the rule over ``[x_t | h_{t-1}]`` (one linear
  map, weights ``[W_ig | W_hg]``, bias ``b_ig + b_hg``);
- the gates ``i, f, o`` get none.

GRU (``n = tanh(W_in x + b_in + r*(W_hn h + b_hn))``, ``h_t = (1-z)*n + z*h_{t-1}``):
``R(h_t)`` splits in proportion between ``(1-z)*n`` and ``z*h_{t-1}``; ``R(n)`` passes
``tanh`` and splits in proportion between ``W_in x + b_in`` and ``r*(W_hn h + b_hn)``, each
of which goes through the rule of its linear map; ``r`` and ``z`` get none.
RNN: ``h_t = act(W [x_t | h_{t-1}] + b)``, the rule over ``[x_t | h_{t-1}]``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnxbench.relevance import functions as rf
from rnnxbench.relevance.base import Composite, UnsupportedModel
from rnnxbench.relevance.fused import GRUDirection, LSTMDirection, step_order
from rnnxbench.relevance.rules import linear_op

Tensor = torch.Tensor


def _params(module: nn.Module, layer: int, reverse: bool) -> tuple[Tensor, ...]:
    sfx = f"_l{layer}" + ("_reverse" if reverse else "")
    w_ih, w_hh = getattr(module, "weight_ih" + sfx), getattr(module, "weight_hh" + sfx)
    if module.bias:
        b_ih, b_hh = getattr(module, "bias_ih" + sfx), getattr(module, "bias_hh" + sfx)
    else:
        b_ih = b_hh = None
    return w_ih, w_hh, b_ih, b_hh


def _add(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    return None if a is None else a + b


def _rows(b: Tensor | None, lo: int, hi: int) -> Tensor | None:
    return None if b is None else b[lo:hi]


def _gates(composite: Composite) -> tuple[float, float]:
    """The stabiliser and bias factor of the proportional split in gated sums."""
    return composite.gate_epsilon, getattr(composite, "gate_bias_factor", 0.0)


def _direction(module: nn.Module, x: Tensor, h0: Tensor, c0: Tensor | None, layer: int,
               reverse: bool, composite: Composite, mixed: bool
               ) -> tuple[Tensor, Tensor, Tensor]:
    """One layer, one direction over time-major ``x`` (T, N, F): outputs (T, N, H), h, c."""
    w_ih, w_hh, b_ih, b_hh = _params(module, layer, reverse)
    n_in, H = w_ih.shape[1], w_hh.shape[1]
    eps, bias_factor = _gates(composite)
    if isinstance(module, nn.LSTM):
        # rows i, f, g, o; only the candidate g carries relevance, over [x_t | h_{t-1}]:
        # the whole direction is one function (one forward, one backward loop)
        rule = composite.rule("mixed" if mixed else "hidden", n_in)
        rows = slice(2 * H, 3 * H)
        op_g = linear_op(torch.cat([w_ih[rows], w_hh[rows]], dim=1),
                         _add(_rows(b_ih, 2 * H, 3 * H), _rows(b_hh, 2 * H, 3 * H)))
        return LSTMDirection.apply(x, h0, c0, (w_ih, w_hh, b_ih, b_hh), rule, op_g, eps,
                                   bias_factor, reverse)
    if isinstance(module, nn.GRU):
        # rows r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), one function
        op_x = linear_op(w_ih[2 * H:], _rows(b_ih, 2 * H, 3 * H))
        op_h = linear_op(w_hh[2 * H:], _rows(b_hh, 2 * H, 3 * H))
        rules = (composite.rule("input" if mixed else "hidden"), composite.rule("hidden"))
        out, h = GRUDirection.apply(x, h0, (w_ih, w_hh, b_ih, b_hh), rules, (op_x, op_h),
                                    eps, bias_factor, reverse)
        return out, h, None
    # RNN, tanh or relu: per-step functions
    x_proj = F.linear(x.detach(), w_ih, b_ih)  # torch's CPU kernels project all steps first
    h = h0
    outs: list[Tensor] = [None] * x.shape[0]  # type: ignore[list-item]
    rule = composite.rule("mixed" if mixed else "hidden", n_in)
    op = linear_op(torch.cat([w_ih, w_hh], dim=1), _add(b_ih, b_hh))
    act = torch.tanh if module.nonlinearity == "tanh" else torch.relu
    for t in step_order(x.shape[0], reverse):
        pre_val = F.linear(h.detach(), w_hh, b_hh) + x_proj[t]
        pre = rf.layer(torch.cat([x[t], h], dim=1), pre_val, rule, op)
        h = rf.pass_through(pre, act(pre_val))
        outs[t] = h
    return torch.stack(outs), h, c0


def _as_state(hx: Tensor, name: str, shape: tuple[int, ...], unbatched: bool) -> Tensor:
    expected_dim = 2 if unbatched else 3
    if hx.dim() != expected_dim:
        raise ValueError(f"{name}: expected a {expected_dim}-D state for "
                         f"{'unbatched' if unbatched else 'batched'} input, got "
                         f"{tuple(hx.shape)}")
    h = hx.unsqueeze(1) if unbatched else hx
    if tuple(h.shape) != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {tuple(h.shape)}")
    return h


def recurrent_forward(module: nn.Module, input: Tensor, hx: Any, composite: Composite,
                      bounded_first: bool = False) -> tuple[Tensor, Any]:
    """The forward of ``module`` (nn.RNN/GRU/LSTM, eval mode) in relevance mode.

    Same signature and return values as ``module(input, hx)``: batched (batch_first or
    not) or unbatched input, optional initial state, uni- or bidirectional, stacked.
    Subclasses of the torch modules are run by the cell of the class they extend.
    """
    kind = type(module).__name__
    if isinstance(input, nn.utils.rnn.PackedSequence):
        raise UnsupportedModel(
            f"{kind} received a PackedSequence: relevance propagation needs padded tensors "
            "(pass the padded batch, e.g. pad_packed_sequence(...)[0], or explain "
            "sequences of different lengths one at a time)")
    if getattr(module, "proj_size", 0):
        raise UnsupportedModel(f"{kind} with proj_size is not supported")
    if input.dim() not in (2, 3):
        raise ValueError(f"{kind}: expected 2-D (unbatched) or 3-D input, got "
                         f"{tuple(input.shape)}")
    unbatched = input.dim() == 2
    if unbatched:
        x = input.unsqueeze(1)  # (T, 1, F)
    else:
        x = input.transpose(0, 1) if module.batch_first else input  # time-major view
    N, D, L, H = x.shape[1], 2 if module.bidirectional else 1, module.num_layers, \
        module.hidden_size
    is_lstm = isinstance(module, nn.LSTM)
    if hx is None:
        h0 = x.new_zeros(L * D, N, H)
        c0 = h0 if is_lstm else None
    else:
        h_given, c_given = hx if is_lstm else (hx, None)
        h0 = _as_state(h_given, f"{kind} h_0", (L * D, N, H), unbatched)
        c0 = _as_state(c_given, f"{kind} c_0", (L * D, N, H), unbatched) if is_lstm \
            else None
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
        # the directions' outputs are views of their state buffers: one copy here
        layer_in = torch.cat(outs, dim=2) if D == 2 else outs[0].contiguous()
    h_n = torch.stack(hs)
    c_n = torch.stack(cs) if is_lstm else None
    if unbatched:
        output = layer_in.squeeze(1)
        h_n = h_n.squeeze(1)
        c_n = c_n.squeeze(1) if is_lstm else None
    else:
        output = layer_in.transpose(0, 1) if module.batch_first else layer_in
    return (output, (h_n, c_n)) if is_lstm else (output, h_n)
