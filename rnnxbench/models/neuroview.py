"""NeuroView-RNN (Barberan et al., FAccT 2022): every step's hidden state feeds the classifier.

For hidden states ``h_t`` (t = 1..T) of a torch nn.RNN / nn.GRU / nn.LSTM (top layer; for
bidirectional, forward and reverse states concatenated per step, n = 2 H)::

    q_t  = ReLU(h_t)                               (paper eq. 8; an nn.ReLU module)
    Q    = [q_1 | ... | q_T]                        (n T, eq. 10)
    f(x) = V Q + b = sum_t V_t q_t + b              (one nn.Linear over Q, eqs. 9, 12)

The classifier's weight read per step, ``step_weights()`` (C, T, n), is the model's own
explanation: the per-sample contribution of step t to class c, ``V_{c,t} . q_t``
(:meth:`NeuroView.step_contributions`), sums over t exactly to the logit minus the bias.
Fixed length only (the paper zero-pads variable-length data to the maximum length): the
classifier is built for ``spec.n_steps`` steps.

Registered as ``nv_rnn`` (tanh or ReLU Elman cell; the paper's sigmoid cell is not offered by
nn.RNN), ``nv_gru`` and ``nv_lstm``, with the options of
:class:`~rnnxbench.models.baselines.RecurrentClassifier` (``hidden``, ``bidirectional``,
``depth`` 1-4, ``nonlinearity`` for ``nv_rnn``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rnnxbench.models.baselines import NONLINEARITIES, RecurrentClassifier
from rnnxbench.registry import ARCHITECTURES
from rnnxbench.tasks.base import InputSpec
from rnnxbench.validate import Options


class NeuroView(RecurrentClassifier):
    """Base class of the NV family (``cell`` set by the registered subclasses)."""

    def __init__(self, spec: InputSpec, **options):
        super().__init__(spec, **options)
        self.n_steps = spec.n_steps
        self.relu = nn.ReLU()
        self.classifier = nn.Linear(self.n_features * self.n_steps, spec.n_classes)

    def _check_x(self, x: torch.Tensor) -> None:
        super()._check_x(x)
        if x.shape[1] != self.n_steps:
            raise ValueError(f"{type(self).__name__} classifies fixed-length sequences of "
                             f"{self.n_steps} steps (zero-pad shorter ones), got "
                             f"{x.shape[1]} steps")

    def head(self, states: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        q = self.relu(states)  # (N, T, n)
        return self.classifier(q.reshape(q.shape[0], -1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``q_t = ReLU(h_t)`` for every step, ``(N, T, n)``: what the classifier sees."""
        return self.relu(self.hidden_states(x))

    def step_weights(self) -> torch.Tensor:
        """The classifier's weight per class and step, ``(C, T, n)`` (``V_{c,t}``)."""
        return self.classifier.weight.detach().view(self.spec.n_classes, self.n_steps,
                                                    self.n_features)

    def step_importance(self) -> torch.Tensor:
        """The paper's time-step ranking: mean weight over the n units per step, ``(C, T)``."""
        return self.step_weights().mean(dim=2)

    def class_similarity(self) -> torch.Tensor:
        """Cosine similarity between the classes' weight vectors, ``(C, C)``."""
        w = F.normalize(self.classifier.weight.detach(), dim=1)
        return w @ w.T

    @torch.no_grad()
    def step_contributions(self, x: torch.Tensor) -> torch.Tensor:
        """Per-sample contribution of each step to each class, ``V_{c,t} . q_t``, shaped
        ``(N, C, T)``. Summed over T it is the logit minus the classifier's bias."""
        return torch.einsum("ntk,ctk->nct", self.features(x), self.step_weights())


@ARCHITECTURES.register("nv_rnn")
class NVRNN(NeuroView):
    """NeuroView on an Elman RNN (torch nn.RNN, tanh or ReLU)."""

    description = "NeuroView-RNN: ReLU of every Elman (nn.RNN) state into one linear classifier"
    cell = "rnn"

    parameter_constraints = {"nonlinearity": [Options(str, NONLINEARITIES)]}

    def __init__(self, spec: InputSpec, *, hidden: int = 64, bidirectional: bool = False,
                 depth: int = 1, nonlinearity: str = "tanh"):
        super().__init__(spec, hidden=hidden, bidirectional=bidirectional, depth=depth,
                         nonlinearity=nonlinearity)


@ARCHITECTURES.register("nv_gru")
class NVGRU(NeuroView):
    """NeuroView on a GRU (torch nn.GRU)."""

    description = "NeuroView-GRU: ReLU of every GRU state into one linear classifier"
    cell = "gru"

    parameter_constraints: dict[str, list] = {}

    def __init__(self, spec: InputSpec, *, hidden: int = 64, bidirectional: bool = False,
                 depth: int = 1):
        super().__init__(spec, hidden=hidden, bidirectional=bidirectional, depth=depth)


@ARCHITECTURES.register("nv_lstm")
class NVLSTM(NeuroView):
    """NeuroView on an LSTM (torch nn.LSTM)."""

    description = "NeuroView-LSTM: ReLU of every LSTM state into one linear classifier"
    cell = "lstm"

    parameter_constraints: dict[str, list] = {}

    def __init__(self, spec: InputSpec, *, hidden: int = 64, bidirectional: bool = False,
                 depth: int = 1):
        super().__init__(spec, hidden=hidden, bidirectional=bidirectional, depth=depth)
