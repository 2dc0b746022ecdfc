"""Recurrent classifiers on torch's own nn.RNN / nn.GRU / nn.LSTM: the shared base and the
NeuroView paper's baselines (Barberan et al. 2022, eqs. 6-7).

- ``rnn``, ``gru``, ``lstm``: a linear classifier on the last hidden state, ``f = V h_T``.
  Bidirectional: the forward direction's state after step T and the reverse direction's
  state after step 1 (both have read the whole sequence), concatenated as in torch's
  ``h_n``.
- ``rnn_avg``, ``gru_avg``, ``lstm_avg``: a linear classifier on the mean of the top
  layer's hidden states, ``f = V mean_t h_t`` (the paper's average pooling, written as a sum;
  the mean only rescales ``V``). The mean is a :class:`TimeMean` module whose relevance is
  split in proportion to each step's contribution.

Options (every family, see :class:`RecurrentClassifier`): ``hidden`` (H, 64),
``bidirectional`` (False), ``depth`` (stacked layers, 1-4), and for the Elman cell
``nonlinearity`` ("tanh" or "relu"). Relevance propagation runs torch's modules as unrolled
cells (:mod:`rnnxbench.relevance.cells`); the only custom relevance flow is the mean over
time (:class:`TimeMean`), shared with the attention pooling
(:func:`weighted_time_sum`).
"""

from __future__ import annotations

import torch
from torch import nn

from rnnxbench.models.base import Architecture
from rnnxbench.registry import ARCHITECTURES
from rnnxbench.relevance.rules import LinearOp, stabilize
from rnnxbench.tasks.base import InputSpec
from rnnxbench.validate import Interval, Options

CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
DEPTHS = (1, 2, 3, 4)
#: what torch's nn.RNN offers; the NeuroView paper's Elman RNN used a sigmoid, which
#: nn.RNN does not have
NONLINEARITIES = ("tanh", "relu")


def check_recurrent_options(cell: str, hidden: int, bidirectional: bool, depth: int,
                            nonlinearity: str | None) -> str | None:
    """Validate the shared options; returns the Elman non-linearity (None for GRU/LSTM)."""
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
        raise ValueError(f"hidden must be a positive integer (units per direction), "
                         f"got {hidden!r}")
    if not isinstance(bidirectional, bool):
        raise ValueError(f"bidirectional must be true or false, got {bidirectional!r}")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth not in DEPTHS:
        raise ValueError(f"depth must be one of {', '.join(map(str, DEPTHS))} (stacked "
                         f"recurrent layers), got {depth!r}")
    if cell != "rnn":
        if nonlinearity is not None:
            raise ValueError(f"nonlinearity applies to the Elman cell (rnn) only; "
                             f"{cell.upper()} has fixed sigmoid gates and tanh, "
                             f"got nonlinearity={nonlinearity!r}")
        return None
    nonlinearity = "tanh" if nonlinearity is None else nonlinearity
    if nonlinearity not in NONLINEARITIES:
        extra = (" (the NeuroView paper's Elman RNN used a sigmoid, which torch's nn.RNN "
                 "does not offer)" if nonlinearity == "sigmoid" else "")
        raise ValueError(f"nonlinearity must be one of {', '.join(NONLINEARITIES)}, "
                         f"got {nonlinearity!r}{extra}")
    return nonlinearity


class RecurrentClassifier(Architecture):
    """Base class: a (stacked, optionally bidirectional) torch recurrent module ``self.rnn``
    over ``(N, T, D)`` inputs (``batch_first``, zero initial state), and a head.

    Subclasses set ``cell`` ("rnn", "gru" or "lstm") and implement :meth:`head` on the
    recurrent module's outputs. ``n_features`` is the size of one step's state,
    ``hidden * (2 if bidirectional else 1)``.
    """

    cell = "gru"

    parameter_constraints = {"hidden": [Interval(int, 1, None)], "bidirectional": [bool],
                             "depth": [Options(int, DEPTHS)]}

    def __init__(self, spec: InputSpec, *, hidden: int = 64, bidirectional: bool = False,
                 depth: int = 1, nonlinearity: str | None = None, **extra):
        nonlinearity = check_recurrent_options(self.cell, hidden, bidirectional, depth,
                                               nonlinearity)
        options = {"hidden": hidden, "bidirectional": bidirectional, "depth": depth}
        if nonlinearity is not None:
            options["nonlinearity"] = nonlinearity
        super().__init__(spec, **options, **extra)
        self.hidden, self.bidirectional, self.depth = hidden, bidirectional, depth
        self.nonlinearity = nonlinearity
        self.n_directions = 2 if bidirectional else 1
        self.n_features = hidden * self.n_directions
        kwargs = {"nonlinearity": nonlinearity} if nonlinearity is not None else {}
        self.rnn = CELLS[self.cell](spec.step_dim, hidden, num_layers=depth, batch_first=True,
                                    bidirectional=bidirectional, **kwargs)

    def instance_properties(self) -> frozenset[str]:
        """``relu`` for a ReLU Elman cell (every non-linearity a ReLU), otherwise none."""
        props = set(self.properties)
        if self.nonlinearity == "relu":
            props.add("relu")
        return frozenset(props)

    def _check_x(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[1] < 1 or x.shape[2] != self.spec.step_dim:
            raise ValueError(f"expected (N, T, {self.spec.step_dim}) inputs with T >= 1, "
                             f"got {tuple(x.shape)}")

    def recurrent(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The top layer's states ``(N, T, n_features)`` and its final states
        ``(N, n_features)`` (torch's ``h_n`` of the top layer: for bidirectional, the forward
        state after step T and the reverse state after step 1)."""
        self._check_x(x)
        out, h_n = self.rnn(x)
        if isinstance(h_n, tuple):  # LSTM: (h_n, c_n)
            h_n = h_n[0]
        last = h_n[-self.n_directions:]  # (directions, N, H) of the top layer
        return out, torch.cat(list(last), dim=1)

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """The top layer's hidden state at every step, ``(N, T, n_features)``."""
        return self.recurrent(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, T, D)`` inputs -> ``(N, n_classes)`` logits."""
        return self.head(*self.recurrent(x))

    def head(self, states: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class WeightedTimeSum(torch.autograd.Function):
    """``c = sum_t a_t h_t`` over dim 1 whose backward is relevance, with the weights ``a``
    constant gates (signal-take-all: all relevance to the states, none to ``a``).

    ``R(h_t) = a_t h_t / (c + eps sign c) R(c)`` per unit. With ``bias_factor``, the
    stabiliser's share (and rounding) of every unit is spread evenly over all ``T n`` summand
    values of the sample, as :class:`rnnxbench.relevance.functions.ProportionalSum` does over
    its ``2 H``; ``bias_factor = 1`` conserves exactly: ``sum R(h) = sum R(c)``.
    ``a`` is ``(N, T)`` or ``(1, T)``; ``value`` (optional) is the forward's own result
    (e.g. ``h.mean(1)``), so relevance mode returns exactly the forward values.
    """

    @staticmethod
    def forward(ctx, a: torch.Tensor, h: torch.Tensor, eps: float, bias_factor: float,
                value: torch.Tensor | None = None) -> torch.Tensor:
        terms = a.unsqueeze(-1) * h  # (N, T, n)
        c = terms.sum(dim=1) if value is None else value.detach()
        ctx.save_for_backward(terms, c)
        ctx.eps, ctx.bias_factor = eps, bias_factor
        return c.clone() if value is not None else c

    @staticmethod
    def backward(ctx, R: torch.Tensor):
        terms, c = ctx.saved_tensors
        zs = stabilize(c, ctx.eps)
        s = R / zs  # (N, n)
        Rh = terms * s.unsqueeze(1)
        if ctx.bias_factor:
            rest = (zs - terms.sum(dim=1)) * s  # stabiliser's share per unit
            n_values = terms.shape[1] * terms.shape[2]
            spread = ctx.bias_factor * rest.sum(dim=-1) / n_values  # (N,)
            Rh = Rh + spread[:, None, None]
        return None, Rh, None, None, None


def weighted_time_sum(a: torch.Tensor, h: torch.Tensor, eps: float, bias_factor: float = 0.0,
                      value: torch.Tensor | None = None) -> torch.Tensor:
    """``sum_t a_t h_t`` (or ``value``) whose backward splits relevance in proportion."""
    return WeightedTimeSum.apply(a.detach(), h, eps, bias_factor, value)


class TimeMean(nn.Module):
    """Mean over the time axis (dim 1): ``(N, T, F) -> (N, F)``.

    Relevance is split over the steps in proportion to each step's contribution ``h_t / T``:
    :meth:`relevance_op` gives the proportional rule (as for average pooling) its
    linear map; with LRP-epsilon's ``bias_factor=1`` the stabiliser's share is spread too,
    so relevance is conserved exactly through the mean.
    """

    STABILIZER = 1e-9  # propagation's Proportional() default

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1)

    def relevance_op(self) -> LinearOp:
        """The mean as a linear op, split in proportion (``proportional=True``)."""
        return LinearOp(lambda x, w: x.mean(dim=1), None, proportional=True)


class LastState(RecurrentClassifier):
    """``f = V h_T``: a linear classifier on the last hidden state (paper eq. 6)."""

    def __init__(self, spec: InputSpec, **options):
        super().__init__(spec, **options)
        self.classifier = nn.Linear(self.n_features, spec.n_classes)

    def head(self, states: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        return self.classifier(last)


class MeanState(RecurrentClassifier):
    """``f = V mean_t h_t``: a linear classifier on the mean hidden state (paper eq. 7)."""

    def __init__(self, spec: InputSpec, **options):
        super().__init__(spec, **options)
        self.pool = TimeMean()
        self.classifier = nn.Linear(self.n_features, spec.n_classes)

    def head(self, states: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(states))


@ARCHITECTURES.register("rnn")
class RNNClassifier(LastState):
    """Elman RNN (torch nn.RNN, tanh or ReLU), linear classifier on the last state."""

    description = "Elman RNN (nn.RNN), linear classifier on the last hidden state"
    cell = "rnn"

    parameter_constraints = {"nonlinearity": [Options(str, NONLINEARITIES)]}

    def __init__(self, spec: InputSpec, *, hidden: int = 64, bidirectional: bool = False,
                 depth: int = 1, nonlinearity: str = "tanh"):
        super().__init__(spec, hidden=hidden, bidirectional=bidirectional, depth=depth,
                         nonlinearity=nonlinearity)


@ARCHITECTURES.register("gru")
class GRUClassifier(LastState):
    """GRU (torch nn.GRU), linear classifier on the last state."""

    description = "GRU (nn.GRU), linear classifier on the last hidden state"
    cell = "gru"

    parameter_constraints: dict[str, list] = {}

    def __init__(self, spec: InputSpec, *, hidden: int = 64, bidirectional: bool = False,
                 depth: int = 1):
        super().__init__(spec, hidden=hidden, bidirectional=bidirectional, depth=depth)


@ARCHITECTURES.register("lstm")
class LSTMClassifier(LastState):
    """LSTM (torch nn.LSTM), linear classifier on the last state."""

    description = "LSTM (nn.LSTM), linear classifier on the last hidden state"
    cell = "lstm"

    parameter_constraints: dict[str, list] = {}

    def __init__(self, spec: InputSpec, *, hidden: int = 64, bidirectional: bool = False,
                 depth: int = 1):
        super().__init__(spec, hidden=hidden, bidirectional=bidirectional, depth=depth)


@ARCHITECTURES.register("rnn_avg")
class RNNAvg(MeanState):
    """Elman RNN (torch nn.RNN, tanh or ReLU), linear classifier on the mean state."""

    description = "Elman RNN (nn.RNN), linear classifier on the mean hidden state (-AVG)"
    cell = "rnn"

    parameter_constraints = {"nonlinearity": [Options(str, NONLINEARITIES)]}

    def __init__(self, spec: InputSpec, *, hidden: int = 64, bidirectional: bool = False,
                 depth: int = 1, nonlinearity: str = "tanh"):
        super().__init__(spec, hidden=hidden, bidirectional=bidirectional, depth=depth,
                         nonlinearity=nonlinearity)


@ARCHITECTURES.register("gru_avg")
class GRUAvg(MeanState):
    """GRU (torch nn.GRU), linear classifier on the mean state."""

    description = "GRU (nn.GRU), linear classifier on the mean hidden state (-AVG)"
    cell = "gru"

    parameter_constraints: dict[str, list] = {}

    def __init__(self, spec: InputSpec, *, hidden: int = 64, bidirectional: bool = False,
                 depth: int = 1):
        super().__init__(spec, hidden=hidden, bidirectional=bidirectional, depth=depth)


@ARCHITECTURES.register("lstm_avg")
class LSTMAvg(MeanState):
    """LSTM (torch nn.LSTM), linear classifier on the mean state."""

    description = "LSTM (nn.LSTM), linear classifier on the mean hidden state (-AVG)"
    cell = "lstm"

    parameter_constraints: dict[str, list] = {}

    def __init__(self, spec: InputSpec, *, hidden: int = 64, bidirectional: bool = False,
                 depth: int = 1):
        super().__init__(spec, hidden=hidden, bidirectional=bidirectional, depth=depth)
