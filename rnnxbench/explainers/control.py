"""Control explainers that ignore the model: chance level for the leaderboards.

``model_free = True`` marks them: their scores show what a metric gives without any
knowledge of the model.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rnnxbench.explainers.base import Explainer
from rnnxbench.registry import EXPLAINERS
from rnnxbench.validate import Interval


@EXPLAINERS.register("random")
class RandomRelevance(Explainer):
    """I.i.d. uniform [0, 1) relevance from a CPU ``torch.Generator`` seeded with ``seed``
    (default 0) at construction: a new explainer repeats the same sequence of calls."""

    description = "Control: i.i.d. uniform [0, 1) relevance (seeded), ignores the model"
    model_free = True

    parameter_constraints = {"seed": [Interval(int, 0, None)]}

    def __init__(self, model: nn.Module, *, seed: int = 0, **options: Any):
        super().__init__(model, **options)
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def attribute(self, inputs: torch.Tensor, target: torch.Tensor | int) -> torch.Tensor:
        dtype = inputs.dtype if inputs.is_floating_point() else torch.float32
        values = torch.rand(inputs.shape, generator=self.generator, dtype=dtype)
        return values.to(inputs.device)


@EXPLAINERS.register("uniform")
class UniformRelevance(Explainer):
    """Relevance 1 for every input value, whatever the model and class."""

    description = "Control: relevance 1 everywhere, ignores the model"
    model_free = True

    def attribute(self, inputs: torch.Tensor, target: torch.Tensor | int) -> torch.Tensor:
        dtype = inputs.dtype if inputs.is_floating_point() else torch.float32
        return torch.ones(inputs.shape, dtype=dtype, device=inputs.device)
