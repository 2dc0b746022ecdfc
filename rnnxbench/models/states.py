"""Hidden states and expected predictions per step (Garcia, Munz, Weiskopf 2021).

:func:`hidden_states` gives the recurrent state of every step, ``(N, T, H)``;
:func:`expected_predictions` the class probabilities the model would output if step t were
the last one, ``(N, T, C)``. Both run in eval mode without gradients and restore every
module's train/eval flag. The model-specific handling lives here, not in the models: a
registry from class to a pair of functions, looked up along the MRO; plugins add theirs with
:func:`register_states`.

Per architecture (hidden state h_t; expected prediction EP_t; "bidir": bidirectional=True):

- shallow: h_t = r_t = rec_act(rec_layer(ha_t)), the recurrent state step t+1 receives
  (r_T, which the model never computes, with the model's own modules);
  EP_t = softmax(out_layer(ha_t)), ha_t the state the head reads (r_t is a function of it).
- deep, deep_sd, deep_v2, convdeep, conv_plus_deep: h_t = r_t, the recurrent layer's output,
  as for shallow; EP_t = softmax(out_layer(head(ha_t))), ha_t the cell layer's output.
- rlstm, rlstm_sd, convrlstm, convrlstm_sd, conv_plus_rlstm_sd: h_t of the R-LSTM cell, its
  modules (gates, g_layer, g_act, h_drop) called step by step on the traced inputs;
  EP_t = softmax(out_layer(h_t)).
- rnn, gru, lstm: the top layer's h_t (LSTM: h, not c); bidir: [forward_t | reverse_t] as in
  torch's output. EP_t = softmax(classifier(h_t)); bidir: softmax(model(x[:, :t])), the
  model rerun on the prefix (a reverse state at t has read steps t..T; O(T^2) steps).
- rnn_avg, gru_avg, lstm_avg: states as rnn; EP_t = softmax(classifier(mean_{s<=t} h_s));
  bidir: the prefix rerun.
- nv_rnn, nv_gru, nv_lstm: states as rnn; EP_t = softmax(sum_{s<=t} V_s q_s + b), the running
  sum of ``step_contributions`` plus the bias. Bidir too: the classifier is fixed-length, so
  no prefix rerun (q_t's reverse half has read steps t..T).
- attn_gru: states as rnn; EP_t: attention over steps 1..t only (softmax of the scores
  e_1..e_t from the model's pool.proj / pool.score, an (N, T, T) masked softmax), the
  weighted sum of h_1..h_t, then the classifier; bidir: the prefix rerun.

Except for NV, EP_t equals ``softmax(model(x[:, :t]))`` (the model run on the prefix); for
every architecture EP_T is ``softmax(model(x))`` up to rounding. Conv+ models' conv feedback
maps are also carried between steps but are not part of the returned state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from rnnxbench.models.attention import AttentionRNN
from rnnxbench.models.baselines import LastState, MeanState, RecurrentClassifier
from rnnxbench.models.neuroview import NeuroView
from rnnxbench.models.rlstm import RLSTM
from rnnxbench.models.thesis import Deep, Shallow

Tensor = torch.Tensor
StatesFn = Callable[[nn.Module, Tensor], Tensor]

#: class -> (hidden states function, expected predictions function), see register_states
STATES: dict[type, tuple[StatesFn, StatesFn]] = {}


def register_states(cls: type, *, hidden: StatesFn, expected: StatesFn) -> None:
    """Register how to get ``cls``'s hidden states ``(N, T, H)`` and expected predictions
    ``(N, T, C)`` (probabilities); both are called as ``fn(model, x)`` in eval mode under
    ``torch.no_grad()``. Subclasses of ``cls`` use them unless they have their own."""
    if not isinstance(cls, type):
        raise TypeError(f"register_states needs a class, got {cls!r}")
    STATES[cls] = (hidden, expected)


def lookup(model: nn.Module) -> tuple[StatesFn, StatesFn]:
    """The registered functions of the first class along ``type(model)``'s MRO."""
    for cls in type(model).__mro__:
        if cls in STATES:
            return STATES[cls]
    supported = ", ".join(sorted(c.__name__ for c in STATES))
    raise TypeError(f"no hidden-state handling registered for {type(model).__name__}; "
                    f"supported (and their subclasses): {supported}; add one with "
                    f"register_states(cls, hidden=..., expected=...)")


@contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode and no grad inside; every module's training flag restored after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, mode in modes:
            m.training = mode


def hidden_states(model: nn.Module, x: Tensor) -> Tensor:
    """The recurrent state of every step, ``(N, T, H)``, in eval mode without gradients.

    Stacked torch RNNs: the top layer; bidirectional: forward and reverse states of step t
    concatenated (torch's output order). Thesis models: the state carried to the next step
    (Shallow/Deep: the recurrent layer's output r_t; R-LSTM: h_t). See the module docstring.
    """
    fn = lookup(model)[0]
    with evaluating(model):
        return fn(model, x)


def expected_predictions(model: nn.Module, x: Tensor) -> Tensor:
    """Class probabilities ``(N, T, C)`` the model would output if step t were the last
    (the module docstring says how per architecture); the last step is
    ``softmax(model(x))``."""
    fn = lookup(model)[1]
    with evaluating(model):
        return fn(model, x)


# --- thesis models: the per-step states from forward_steps' trace ---------------------------

def _carried(model: Shallow | Deep, ha: Tensor, r: Tensor) -> Tensor:
    """``[r_1 .. r_{T-1}]`` from the trace plus ``r_T``, the recurrent layer on ``ha_T``."""
    last = model.rec_act(model.rec_layer(model.rec_drop(ha[:, -1])))
    return torch.cat([r, last.unsqueeze(1)], dim=1)


def _shallow_hidden(model: Shallow, x: Tensor) -> Tensor:
    trace = model.forward_steps(x)[1]
    return _carried(model, trace["in_layer"][1], trace["rec_layer"][1])


def _shallow_expected(model: Shallow, x: Tensor) -> Tensor:
    ha = model.forward_steps(x)[1]["in_layer"][1]
    return torch.softmax(model.out_layer(ha), dim=-1)


def _deep_hidden(model: Deep, x: Tensor) -> Tensor:
    trace = model.forward_steps(x)[1]
    return _carried(model, trace["cell_layer"][1], trace["rec_layer"][1])


def _deep_expected(model: Deep, x: Tensor) -> Tensor:
    ha = model.forward_steps(x)[1]["cell_layer"][1]
    o1 = model.head_act(model.head_layer(model.head_drop(ha)))
    return torch.softmax(model.out_layer(o1), dim=-1)


def _rlstm_hidden(model: RLSTM, x: Tensor) -> Tensor:
    """The cell's h_t for every step: its modules called step by step on the traced inputs
    (RLSTMCell.forward returns h_T only)."""
    a = model.in_drop(model.forward_steps(x)[1]["in_layer"][1])  # (N, T, A)
    cell = model.cell
    h = a.new_zeros(a.shape[0], cell.units)
    c = torch.zeros_like(h)
    out = []
    for a_t in a.unbind(1):
        xr = torch.cat([a_t, h], dim=1)
        i, f, o = torch.sigmoid(cell.gates(xr)).split(cell.units, dim=1)
        c = f * c + i * cell.g_act(cell.g_layer(xr))
        h = cell.h_drop(o * c)
        out.append(h)
    return torch.stack(out, dim=1)


def _rlstm_expected(model: RLSTM, x: Tensor) -> Tensor:
    return torch.softmax(model.out_layer(_rlstm_hidden(model, x)), dim=-1)


# --- torch-RNN classifiers --------------------------------------------------------------

def _rnn_hidden(model: RecurrentClassifier, x: Tensor) -> Tensor:
    return model.hidden_states(x)


def _prefix_reruns(model: nn.Module, x: Tensor) -> Tensor:
    """``softmax(model(x[:, :t]))`` for t = 1..T, ``(N, T, C)``."""
    return torch.stack([torch.softmax(model(x[:, :t]), dim=-1)
                        for t in range(1, x.shape[1] + 1)], dim=1)


def _last_state_expected(model: LastState, x: Tensor) -> Tensor:
    if model.bidirectional:
        return _prefix_reruns(model, x)
    return torch.softmax(model.classifier(model.hidden_states(x)), dim=-1)


def _mean_state_expected(model: MeanState, x: Tensor) -> Tensor:
    if model.bidirectional:
        return _prefix_reruns(model, x)
    h = model.hidden_states(x)
    steps = torch.arange(1, h.shape[1] + 1, dtype=h.dtype, device=h.device)
    return torch.softmax(model.classifier(h.cumsum(dim=1) / steps[:, None]), dim=-1)


def _neuroview_expected(model: NeuroView, x: Tensor) -> Tensor:
    running = model.step_contributions(x).cumsum(dim=2).transpose(1, 2)  # (N, T, C)
    bias = model.classifier.bias
    return torch.softmax(running if bias is None else running + bias, dim=-1)


def _attention_expected(model: AttentionRNN, x: Tensor) -> Tensor:
    """Context of step t: softmax of the scores of steps 1..t only (an (N, T, T) masked
    softmax), weighted sum of those states, then the classifier."""
    if model.bidirectional:
        return _prefix_reruns(model, x)
    h = model.hidden_states(x)
    scores = model.pool.score(torch.tanh(model.pool.proj(h))).squeeze(-1)  # (N, T)
    n_steps = h.shape[1]
    future = torch.ones(n_steps, n_steps, dtype=torch.bool, device=h.device).triu(1)
    weights = scores.unsqueeze(1).expand(-1, n_steps, -1).masked_fill(future, -torch.inf)
    context = torch.softmax(weights, dim=-1) @ h  # (N, T, n)
    return torch.softmax(model.classifier(context), dim=-1)


register_states(Shallow, hidden=_shallow_hidden, expected=_shallow_expected)
register_states(Deep, hidden=_deep_hidden, expected=_deep_expected)
register_states(RLSTM, hidden=_rlstm_hidden, expected=_rlstm_expected)
register_states(LastState, hidden=_rnn_hidden, expected=_last_state_expected)
register_states(MeanState, hidden=_rnn_hidden, expected=_mean_state_expected)
register_states(NeuroView, hidden=_rnn_hidden, expected=_neuroview_expected)
register_states(AttentionRNN, hidden=_rnn_hidden, expected=_attention_expected)
