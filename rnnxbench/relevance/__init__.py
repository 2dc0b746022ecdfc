"""Relevance propagation (LRP, deep Taylor) that is correct through time and gates."""

from rnnxbench.relevance.engine import Composite, UnsupportedModel, propagate, relevance_mode
from rnnxbench.relevance.rules import (
    AlphaBeta,
    Epsilon,
    LinearOp,
    Mixed,
    Proportional,
    Rule,
    WSquare,
    ZBox,
    ZPlus,
)

__all__ = ["AlphaBeta", "Composite", "Epsilon", "LinearOp", "Mixed", "Proportional", "Rule",
           "UnsupportedModel", "WSquare", "ZBox", "ZPlus", "propagate", "relevance_mode"]
