"""Explainers; importing this package registers the built-in ones."""

from rnnxbench.explainers.base import Explainer
from rnnxbench.explainers.gradient import GuidedBackprop, SensitivityAnalysis

__all__ = ["Explainer", "GuidedBackprop", "SensitivityAnalysis"]
