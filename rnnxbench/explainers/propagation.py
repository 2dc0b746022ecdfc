"""Relevance propagation explainers: LRP-alpha-beta, LRP-epsilon and deep Taylor (spec §2).

Each builds a :class:`~rnnxbench.relevance.Composite` (a rule per layer role) and runs one
relevance-mode forward and backward pass for the whole batch. The rule per layer follows
the architecture's ``relevance_roles()`` (thesis: z-beta on pixel layers, the mixed rule on
layers that see pixels and recurrent state together); layers without a role are hidden.
Bounds for z-beta come from the model's ``spec.bounds`` or the ``bounds`` option.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rnnxbench.explainers.base import Explainer, target_tensor
from rnnxbench.registry import EXPLAINERS
from rnnxbench.relevance import AlphaBeta, Composite, Epsilon, Mixed, ZBox, ZPlus, propagate
from rnnxbench.validate import Interval, Options, SequenceOf


class RelevancePropagation(Explainer):
    """Base class: subclasses define :meth:`composite` for given input bounds."""

    start = "positive"

    parameter_constraints = {"bounds": [SequenceOf(float, length=2), None],
                             "start": [Options(str, ("positive", "logit")), None]}

    @classmethod
    def check_parameters(cls, options: dict[str, Any]) -> None:
        """``bounds`` must be ``(low, high)`` with low < high."""
        bounds = options.get("bounds")
        if bounds is not None and not bounds[0] < bounds[1]:
            raise ValueError(f"bounds must be (low, high) with low < high, got {bounds}")

    def __init__(self, model: nn.Module, *, bounds: tuple[float, float] | None = None,
                 start: str | None = None, **options: Any):
        super().__init__(model, **options)
        spec_bounds = getattr(getattr(model, "spec", None), "bounds", None)
        self.bounds = tuple(bounds) if bounds is not None else spec_bounds
        self.start = start or self.start

    def composite(self, bounds: tuple[float, float] | None) -> Composite:
        raise NotImplementedError

    def attribute(self, inputs: torch.Tensor, target: torch.Tensor | int) -> torch.Tensor:
        roles_fn = getattr(self.model, "relevance_roles", None)
        roles = roles_fn() if callable(roles_fn) else {}
        t = target_tensor(target, inputs.shape[0], inputs.device)
        return propagate(self.model, inputs, t, self.composite(self.bounds), start=self.start,
                         roles=roles, bounded_input=self.bounds is not None).to(inputs.dtype)


@EXPLAINERS.register("lrp")
class LRP(RelevancePropagation):
    """LRP-alpha-beta (default alpha 1.5, beta 0.5), z-beta / mixed rule on pixel layers."""

    description = "LRP-alpha-beta (alpha 1.5, beta 0.5), z-beta on pixels, through time"

    parameter_constraints = {"alpha": [Interval(float, 1, None)],
                             "beta": [Interval(float, 0, None)],
                             "stabilizer": [Interval(float, 0, None)]}

    @classmethod
    def check_parameters(cls, options: dict[str, Any]) -> None:
        """Also ``alpha - beta = 1`` (defaults 1.5 and 0.5)."""
        super().check_parameters(options)
        alpha, beta = options.get("alpha", 1.5), options.get("beta", 0.5)
        if abs(alpha - beta - 1.0) > 1e-12:
            raise ValueError(f"LRP-alpha-beta needs alpha - beta = 1; got alpha={alpha}, "
                             f"beta={beta} (e.g. alpha = {beta + 1}, or beta = {alpha - 1})")

    def __init__(self, model: nn.Module, *, alpha: float = 1.5, beta: float = 0.5,
                 stabilizer: float = 1e-9, **options: Any):
        super().__init__(model, **options)
        AlphaBeta(alpha, beta)  # validates alpha - beta = 1
        self.alpha, self.beta, self.stabilizer = alpha, beta, stabilizer

    def composite(self, bounds: tuple[float, float] | None) -> Composite:
        a, b, eps = self.alpha, self.beta, self.stabilizer
        if bounds is None:
            return Composite(AlphaBeta(a, b, eps))
        lo, hi = bounds
        return Composite(AlphaBeta(a, b, eps), ZBox(lo, hi, eps),
                         lambda n: Mixed(n, a, b, lo, hi, eps))


@EXPLAINERS.register("dtd")
class DeepTaylor(RelevancePropagation):
    """Deep Taylor decomposition: z+ on ReLU layers, z-beta / mixed rule on pixel layers."""

    description = "Deep Taylor decomposition: z+ on ReLU layers, z-beta on pixels"
    requires = frozenset({"relu"})

    parameter_constraints = {"stabilizer": [Interval(float, 0, None)]}

    def __init__(self, model: nn.Module, *, stabilizer: float = 1e-9, **options: Any):
        super().__init__(model, **options)
        self.stabilizer = stabilizer

    def composite(self, bounds: tuple[float, float] | None) -> Composite:
        eps = self.stabilizer
        if bounds is None:
            return Composite(ZPlus(eps))
        lo, hi = bounds
        return Composite(ZPlus(eps), ZBox(lo, hi, eps), lambda n: Mixed(n, 1.0, 0.0, lo, hi, eps))


@EXPLAINERS.register("lrp_eps")
class LRPEpsilon(RelevancePropagation):
    """LRP-epsilon on every layer (bias share absorbed; ``bias_factor=1`` redistributes it)."""

    description = "LRP-epsilon (eps 1e-3) on every layer, signal-take-all through gates"
    start = "logit"  # the reference (Arras et al.) explains the signed target score

    parameter_constraints = {"epsilon": [Interval(float, 0, None)],
                             "bias_factor": [Interval(float, 0, 1, closed="both")]}

    def __init__(self, model: nn.Module, *, epsilon: float = 1e-3, bias_factor: float = 0.0,
                 **options: Any):
        super().__init__(model, **options)
        self.epsilon, self.bias_factor = epsilon, bias_factor

    def composite(self, bounds: tuple[float, float] | None) -> Composite:
        return Composite(Epsilon(self.epsilon, self.bias_factor), gate_epsilon=self.epsilon,
                         gate_bias_factor=self.bias_factor)
