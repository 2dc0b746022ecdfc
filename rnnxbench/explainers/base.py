"""The explainer interface, captum's: ``Explainer(model).attribute(inputs, target=...)``.

Any class with that shape is an explainer (captum's own attribution classes included);
subclassing :class:`Explainer` adds declared requirements and option handling.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

#: modules that make a plain torch model non-ReLU (isinstance: their subclasses too; a
#: tanh nn.RNN as well)
NON_RELU = (nn.Tanh, nn.Sigmoid, nn.GELU, nn.ELU, nn.Softplus, nn.LeakyReLU, nn.LSTM, nn.GRU,
            nn.Softmax, nn.MultiheadAttention)


class Explainer:
    """Base class: relevance of each input value for the ``target`` class logit.

    ``requires`` names model properties the method assumes (see
    :class:`rnnxbench.models.base.Architecture`); when a model lacks one, the harness
    records the pair as ``unsupported`` instead of computing something else.
    """

    description = ""
    requires: frozenset[str] = frozenset()

    #: constructor options and their constraints (see :mod:`rnnxbench.validate`): none here
    parameter_constraints: dict[str, list] = {}

    def __init__(self, model: nn.Module, **options: Any):
        self.model = model
        self.options = options

    def attribute(self, inputs: torch.Tensor, target: torch.Tensor | int) -> torch.Tensor:
        """Relevance shaped like ``inputs`` (``(N, T, D)``) for class ``target``."""
        raise NotImplementedError

    @classmethod
    def code_dependencies(cls, options: dict[str, Any]) -> tuple[type, ...]:
        """Other explainer classes whose code the relevance depends on under ``options``
        (e.g. a wrapper's base explainer): their source enters the relevance cache key."""
        return ()


def model_properties(model: nn.Module) -> frozenset[str]:
    """Declared properties of a registered architecture; inferred for a plain torch model
    (``relu`` when its only non-linearities are nn.ReLU modules and ReLU nn.RNNs)."""
    props = getattr(model, "instance_properties", None)
    if callable(props):
        return frozenset(props())
    if hasattr(model, "properties"):
        return frozenset(model.properties)
    return frozenset() if any(breaks_relu(m) for m in model.modules()) else frozenset({"relu"})


def breaks_relu(module: nn.Module) -> bool:
    """Whether ``module`` itself is a non-ReLU non-linearity (:data:`NON_RELU`, tanh RNN)."""
    return isinstance(module, NON_RELU) or (isinstance(module, nn.RNN)
                                             and module.nonlinearity != "relu")


def unsupported_reason(explainer_cls: type, model: nn.Module) -> str | None:
    """Why ``explainer_cls`` cannot explain ``model`` faithfully, or None."""
    required = frozenset(getattr(explainer_cls, "requires", ()))
    if not required:
        return None
    have = model_properties(model)
    missing = sorted(required - have)
    if missing:
        return (f"{explainer_cls.__name__} assumes {', '.join(missing)}; "
                f"{type(model).__name__} does not declare it")
    return None


def target_tensor(target: torch.Tensor | int, n: int, device: torch.device) -> torch.Tensor:
    """``target`` as a ``(n,)`` long tensor on ``device``."""
    if isinstance(target, int):
        return torch.full((n,), target, dtype=torch.long, device=device)
    return torch.as_tensor(target, device=device).long().reshape(n)
