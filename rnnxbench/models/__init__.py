"""Architectures; importing this package registers the built-in ones."""

from rnnxbench.models.base import Architecture
from rnnxbench.models.layers import ThesisConv2d, ThesisLinear
from rnnxbench.models.loss import thesis_accuracy, thesis_loss
from rnnxbench.models.thesis import Deep, Shallow

__all__ = ["Architecture", "Deep", "Shallow", "ThesisConv2d", "ThesisLinear",
           "thesis_accuracy", "thesis_loss"]
