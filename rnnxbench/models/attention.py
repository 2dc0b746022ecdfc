"""An attention RNN: additive (Bahdanau) attention over GRU states, context into a classifier.

For the top layer's hidden states ``h_t`` (t = 1..T, n features per step)::

    e_t   = v^T tanh(W h_t + b)          (score: nn.Linear(n, A), tanh, nn.Linear(A, 1))
    a     = softmax_t(e)                  (N, T)
    c     = sum_t a_t h_t                 (the context vector, n)
    f(x)  = V c + b_V

The attention weights of the latest forward pass are kept in ``last_attention`` (N, T), and
:meth:`AttentionGRU.attention` computes them for given inputs, so attention itself can be
scored as an explanation.

Relevance: the pooling module's ``relevance_forward`` treats the attention weights as
constant gates (signal-take-all, as the LSTM/GRU gates): the context's relevance splits over
the states in proportion to ``a_t h_t`` (epsilon-stabilised with the composite's gate
settings; ``gate_bias_factor=1`` spreads the stabiliser's share and conserves exactly), and
the scoring path receives none.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rnnxbench.models.baselines import RecurrentClassifier, weighted_time_sum
from rnnxbench.registry import ARCHITECTURES
from rnnxbench.tasks.base import InputSpec
from rnnxbench.validate import Interval

Tensor = torch.Tensor


class AdditiveAttention(nn.Module):
    """Additive attention pooling: ``(N, T, n)`` states -> context ``(N, n)`` and weights
    ``(N, T)``."""

    def __init__(self, n_features: int, attention_size: int):
        super().__init__()
        self.proj = nn.Linear(n_features, attention_size)
        self.score = nn.Linear(attention_size, 1, bias=False)

    def weights(self, h: Tensor) -> Tensor:
        """``softmax_t(v^T tanh(W h_t + b))``, ``(N, T)``."""
        return torch.softmax(self.score(torch.tanh(self.proj(h))).squeeze(-1), dim=1)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        a = self.weights(h)
        return (a.unsqueeze(-1) * h).sum(dim=1), a

    def relevance_forward(self, composite: Any, h: Tensor) -> tuple[Tensor, Tensor]:
        """Relevance mode: the weights are constants, the context a gated sum of states."""
        with torch.no_grad():
            a = self.weights(h.detach())
        eps = getattr(composite, "gate_epsilon", 1e-3)
        bias_factor = getattr(composite, "gate_bias_factor", 0.0)
        return weighted_time_sum(a, h, eps, bias_factor), a


class AttentionRNN(RecurrentClassifier):
    """Base class: additive attention over the recurrent states, linear classifier on the
    context. Extra option ``attention_size`` (A, the scorer's hidden size; default n)."""

    parameter_constraints = {"attention_size": [Interval(int, 1, None), None]}

    def __init__(self, spec: InputSpec, *, attention_size: int | None = None, **options):
        super().__init__(spec, attention_size=attention_size, **options)
        size = self.n_features if attention_size is None else attention_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"attention_size must be a positive integer, got {size!r}")
        self.attention_size = size
        self.pool = AdditiveAttention(self.n_features, size)
        self.classifier = nn.Linear(self.n_features, spec.n_classes)
        self.last_attention: Tensor | None = None

    def head(self, states: Tensor, last: Tensor) -> Tensor:
        context, a = self.pool(states)
        self.last_attention = a.detach()
        return self.classifier(context)

    @torch.no_grad()
    def attention(self, x: Tensor) -> Tensor:
        """The attention weights ``(N, T)`` for inputs ``x`` (each row sums to 1)."""
        return self.pool.weights(self.hidden_states(x))


@ARCHITECTURES.register("attn_gru")
class AttentionGRU(AttentionRNN):
    """GRU (torch nn.GRU) with additive attention over its states."""

    description = "GRU with additive (Bahdanau) attention over its states, context classifier"
    cell = "gru"

    parameter_constraints: dict[str, list] = {}

    def __init__(self, spec: InputSpec, *, hidden: int = 64, bidirectional: bool = False,
                 depth: int = 1, attention_size: int | None = None):
        super().__init__(spec, hidden=hidden, bidirectional=bidirectional, depth=depth,
                         attention_size=attention_size)
