"""What the propagation and the recurrent cells share: the composite, the error, cuDNN off."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from rnnxbench.relevance.rules import Rule


def cudnn_disabled() -> Any:
    """cuDNN off (its RNN backward needs train mode), other cuDNN settings kept."""
    c = torch.backends.cudnn
    return c.flags(enabled=False, benchmark=c.benchmark, deterministic=c.deterministic,
                   allow_tf32=c.allow_tf32)


class UnsupportedModel(ValueError):
    """A model contains something relevance propagation has no faithful rule for."""


@dataclass
class Composite:
    """Which rule each layer gets, by role.

    Roles: ``hidden`` (default), ``input`` (a layer that sees only the bounded model input),
    ``mixed`` (bounded input and non-negative states concatenated; the first ``n_bounded``
    features are the input). ``input``/``mixed`` fall back to ``hidden`` when not given.
    """

    hidden: Rule
    input: Rule | None = None
    mixed: Callable[[int], Rule] | None = None  # n_bounded -> Rule
    gate_epsilon: float = 1e-3  # stabiliser of the proportional split in gated sums
    gate_bias_factor: float = 0.0  # 1: gated sums spread the stabiliser share (conserve)

    def rule(self, role: str, n_bounded: int = 0) -> Rule:
        if role == "input" and self.input is not None:
            return self.input
        if role == "mixed" and self.mixed is not None:
            return self.mixed(n_bounded)
        return self.hidden
