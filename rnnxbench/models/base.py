"""The architecture interface: a torch module over ``(N, T, D)`` sequences."""

from __future__ import annotations

from typing import Any

from torch import nn

from rnnxbench.tasks.base import InputSpec


class Architecture(nn.Module):
    """Base class of registered architectures.

    Constructed as ``cls(spec, **options)``; ``forward(x)`` maps ``(N, T, D)`` inputs to
    ``(N, n_classes)`` logits. Class attributes declare what explainers may assume:

    - ``properties``: e.g. ``{"relu"}`` when every non-linearity is a ReLU (guided backprop,
      deep Taylor decomposition), ``{"bias_free"}`` when no layer has a bias.
    - ``accepts``: which tasks' inputs it accepts (``"sequence"`` for any ``(N, T, D)`` input,
      ``"image_steps"`` when it needs a 2-D ``step_shape``).
    """

    description = ""
    properties: frozenset[str] = frozenset()
    accepts: frozenset[str] = frozenset({"sequence"})

    #: constructor options and their constraints (see :mod:`rnnxbench.validate`; not called
    #: ``parameters``, which is nn.Module's): none here
    parameter_constraints: dict[str, list] = {}

    def __init__(self, spec: InputSpec, **options: Any):
        super().__init__()
        self.spec = spec
        self.options = options

    @classmethod
    def check_input(cls, spec: InputSpec) -> str | None:
        """Why this architecture cannot take ``spec`` inputs, or None when it can."""
        if "image_steps" in cls.accepts and len(spec.step_shape) != 3:
            return f"needs image-shaped steps (C, H, W), got step_shape {spec.step_shape}"
        return None

    def instance_properties(self) -> frozenset[str]:
        """Properties of this instance (may depend on options, e.g. ``bias='none'``)."""
        return frozenset(self.properties)

    def relevance_roles(self) -> dict[str, tuple[str, int]]:
        """Rule role of each module for relevance propagation (thesis §2, 'which rule where').

        ``{"name": ("input", 0)}`` for a layer on the bounded input only,
        ``("mixed", n)`` when its first ``n`` inputs are the bounded input and the rest
        non-negative states; unnamed layers are ``hidden``.
        """
        return {}

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
