"""Explainers; importing this package registers the built-in ones."""

from rnnxbench.explainers.base import Explainer
from rnnxbench.explainers.gradient import GuidedBackprop, SensitivityAnalysis
from rnnxbench.explainers.propagation import (
    LRP,
    DeepTaylor,
    LRPEpsilon,
    RelevancePropagation,
)

__all__ = ["LRP", "DeepTaylor", "Explainer", "GuidedBackprop", "LRPEpsilon",
           "RelevancePropagation", "SensitivityAnalysis"]
