"""``explain()``: one call to explain a researcher's own PyTorch model."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rnnxbench.explainers.base import unsupported_reason
from rnnxbench.registry import EXPLAINERS
from rnnxbench.relevance.engine import UnsupportedModel


def explain(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor | int,
            method: str = "lrp_eps", **options: Any) -> torch.Tensor:
    """Relevance of every input value for class ``target``, shaped like ``inputs``.

    ``method`` is any registered explainer (``lrp_eps``, ``lrp``, ``dtd``, ``sa``, ``gb``,
    plugins); ``options`` go to its constructor (e.g. ``epsilon=1e-3``, ``bias_factor=1``,
    ``alpha=2, beta=1``, ``bounds=(-1, 1)`` for z-beta on the input layer). Works on models
    built from nn.LSTM / nn.GRU / nn.RNN (uni- or bidirectional, stacked), nn.Linear,
    nn.Conv1d/2d, pooling and element-wise activations, in eval mode, without train() mode
    and without cuDNN's RNN backward. Raises :class:`UnsupportedModel` when the method's
    assumptions do not hold for ``model`` (e.g. ``dtd`` on a tanh/sigmoid model).
    """
    cls = EXPLAINERS.get(method)
    reason = unsupported_reason(cls, model)
    if reason:
        raise UnsupportedModel(f"{method}: {reason}")
    return cls(model, **options).attribute(inputs, target=target)
