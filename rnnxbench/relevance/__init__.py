"""Relevance propagation (LRP, deep Taylor) that is correct through time and gates.

Modules: :mod:`~rnnxbench.relevance.rules` (rules; :class:`LinearOp` and ``stabilize``
come from :mod:`~rnnxbench.relevance.ops`),
:mod:`~rnnxbench.relevance.functions` (autograd functions whose backward is relevance),
:mod:`~rnnxbench.relevance.cells` (torch's RNN/GRU/LSTM as unrolled cells),
:mod:`~rnnxbench.relevance.fused` (a whole LSTM/GRU direction or ReLU recurrence as one
function: one forward, one backward loop),
:mod:`~rnnxbench.relevance.propagate` (the hooks, :func:`propagate`),
:mod:`~rnnxbench.relevance.arithmetic` (arithmetic between modules),
:mod:`~rnnxbench.relevance.scratch` (memory the backward loops reuse between calls) and
:mod:`~rnnxbench.relevance.base` (:class:`Composite`, :class:`UnsupportedModel`).
This package knows torch only; it never names a model class.

How a module of its own joins (checked in this order, as zennit's canonizers do):

- ``relevance_forward(composite, *args, **kwargs)``: the module runs this in place of its
  ``forward`` in relevance mode, building its own relevance flow from
  :mod:`~rnnxbench.relevance.functions` or :mod:`~rnnxbench.relevance.fused` (its
  submodules keep their hooks and rules; on the model itself, the arithmetic between its
  modules keeps its rules too);
- ``relevance_op() -> LinearOp``: a leaf module that is linear in its input gives its map
  ``x -> op(x, w)`` with ``weight`` and ``bias`` (the bias as added, in ``channel_dim``).
  The layer gets the composite's rule for its role (input / hidden / mixed); a pooling-like
  map (a mean, an average pool; ``weight=None``) sets ``LinearOp(..., proportional=True)``
  and gets the :class:`Proportional` split instead (stabiliser 1e-9, the composite's
  ``gate_bias_factor``).

Otherwise nn.Linear, nn.Conv1d/2d get the composite's rule, average pooling the
proportional split, element-wise activations pass relevance on, and parameter-free
reshaping or dropout modules are transparent. Arithmetic between modules (sums, means,
scaling, or anything else) gets the rules of :mod:`~rnnxbench.relevance.arithmetic`, or a
clear :class:`UnsupportedModel`.
"""

from rnnxbench.relevance.base import Composite, UnsupportedModel, cudnn_disabled
from rnnxbench.relevance.propagate import propagate, relevance_mode, start_relevance
from rnnxbench.relevance.rules import (
    AlphaBeta,
    Epsilon,
    LinearOp,
    Mixed,
    Proportional,
    Rule,
    WSquare,
    ZBox,
    ZPlus,
    linear_op,
)

__all__ = ["AlphaBeta", "Composite", "Epsilon", "LinearOp", "Mixed", "Proportional", "Rule",
           "UnsupportedModel", "WSquare", "ZBox", "ZPlus", "cudnn_disabled", "linear_op",
           "propagate", "relevance_mode", "start_relevance"]
