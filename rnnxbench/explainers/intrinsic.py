"""Intrinsic explainers: what a model exposes about itself, read as relevance.

- ``attention``: the attention weight of each step (models with ``attention(x) -> (N, T)``,
  e.g. ``attn_gru``); the same for every class.
- ``nv_weights``: NeuroView's per-step contributions to the target class.

Both give a per-step score, spread uniformly over the step's values (a step's values sum to
its score). Models without the needed method raise
:class:`~rnnxbench.relevance.UnsupportedModel` (no architecture declares a property
for these, so ``requires`` stays empty).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rnnxbench.explainers.base import Explainer, target_tensor
from rnnxbench.explainers.perturbation import spread_over_steps
from rnnxbench.registry import EXPLAINERS
from rnnxbench.relevance import UnsupportedModel
from rnnxbench.validate import Options


def _method(model: nn.Module, name: str, explainer: str, needs: str) -> Any:
    """``model.<name>`` when callable, else UnsupportedModel naming what is missing."""
    method = getattr(model, name, None)
    if not callable(method) or isinstance(method, nn.Module):
        raise UnsupportedModel(f"{explainer} needs {needs}; {type(model).__name__} has no "
                               f"{name}() method")
    return method


@EXPLAINERS.register("attention")
class Attention(Explainer):
    """Attention weights as relevance: step t gets ``a_t`` (``model.attention(x)``, rows
    summing to 1), spread over its values; independent of the target class."""

    description = "Attention weight of each step (attention models), spread over its values"

    def attribute(self, inputs: torch.Tensor, target: torch.Tensor | int) -> torch.Tensor:
        attention = _method(self.model, "attention", "attention",
                            "a model exposing attention(x) -> (N, T) weights")
        self.model.eval()
        with torch.no_grad():
            weights = attention(inputs.detach())
        if tuple(weights.shape) != tuple(inputs.shape[:2]):
            raise UnsupportedModel(f"{type(self.model).__name__}.attention(x) returned shape "
                                   f"{tuple(weights.shape)}, expected (N, T) = "
                                   f"{tuple(inputs.shape[:2])}")
        return spread_over_steps(weights, inputs)


@EXPLAINERS.register("nv_weights")
class NVWeights(Explainer):
    """NeuroView's own explanation for the target class c.

    ``level="sample"`` (default): step t's contribution ``V_{c,t} . ReLU(h_t)``
    (``step_contributions``); over t these sum to the class logit minus its bias.
    ``level="class"``: the class-level map, the mean classifier weight of step t over its
    units (``step_importance``), the same for every sample of class c.
    """

    description = "NeuroView per-step contributions to the class (or class-level mean weights)"
    levels = ("sample", "class")

    parameter_constraints = {"level": [Options(str, ("sample", "class"))]}

    def __init__(self, model: nn.Module, *, level: str = "sample", **options: Any):
        super().__init__(model, **options)
        if level not in self.levels:
            raise ValueError(f"level must be one of {', '.join(self.levels)}, got {level!r}")
        self.level = level

    def attribute(self, inputs: torch.Tensor, target: torch.Tensor | int) -> torch.Tensor:
        needs = "a NeuroView model (per-step classifier weights)"
        t = target_tensor(target, inputs.shape[0], inputs.device)
        self.model.eval()
        with torch.no_grad():
            if self.level == "sample":
                contributions = _method(self.model, "step_contributions", "nv_weights", needs)
                per_class = contributions(inputs.detach())  # (N, C, T)
                scores = per_class.gather(1, t[:, None, None].expand(-1, 1, per_class.shape[2]))
                scores = scores[:, 0]
            else:
                importance = _method(self.model, "step_importance", "nv_weights", needs)
                scores = importance()[t]  # (C, T) -> (N, T)
                if scores.shape[1] != inputs.shape[1]:
                    raise ValueError(f"the model has {scores.shape[1]} steps, the inputs "
                                     f"{inputs.shape[1]}")
        return spread_over_steps(scores.to(inputs.device), inputs)
