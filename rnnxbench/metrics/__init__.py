"""Metrics: relevance + task data -> per-sample scores; importing this registers built-ins."""

from rnnxbench.metrics.aggregate import (
    block_membership,
    block_relevance,
    block_shares,
    shares,
    step_relevance,
)
from rnnxbench.metrics.base import Metric
from rnnxbench.metrics.distribution import LastStepShare, StepShare
from rnnxbench.metrics.localisation import CosineSimilarity, RelevanceMass, cosine_to_mark

__all__ = [
    "CosineSimilarity",
    "LastStepShare",
    "StepShare",
    "Metric",
    "RelevanceMass",
    "block_membership",
    "block_relevance",
    "block_shares",
    "cosine_to_mark",
    "shares",
    "step_relevance",
]
