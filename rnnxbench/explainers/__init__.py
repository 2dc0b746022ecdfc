"""Explainers; importing this package registers the built-in ones."""

from rnnxbench.explainers.base import Explainer
from rnnxbench.explainers.captum import (
    DeepLift,
    GradientShap,
    InputXGradient,
    IntegratedGradients,
    SmoothGrad,
)
from rnnxbench.explainers.control import RandomRelevance, UniformRelevance
from rnnxbench.explainers.gradient import GuidedBackprop, SensitivityAnalysis
from rnnxbench.explainers.intrinsic import Attention, NVWeights
from rnnxbench.explainers.perturbation import Erasure, Occlusion
from rnnxbench.explainers.propagation import (
    LRP,
    DeepTaylor,
    LRPEpsilon,
    RelevancePropagation,
)
from rnnxbench.explainers.tsr import TSR

__all__ = ["LRP", "Attention", "DeepLift", "DeepTaylor", "Erasure", "Explainer",
           "GradientShap", "GuidedBackprop", "InputXGradient", "IntegratedGradients",
           "LRPEpsilon", "NVWeights", "Occlusion", "RandomRelevance", "RelevancePropagation",
           "SensitivityAnalysis", "SmoothGrad", "TSR", "UniformRelevance"]
