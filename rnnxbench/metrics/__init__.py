"""Metrics: relevance + task data -> per-sample scores; importing this registers built-ins."""

from rnnxbench.metrics.aggregate import (
    block_membership,
    block_relevance,
    block_shares,
    ground_truth_steps,
    ground_truth_values,
    shares,
    step_relevance,
    value_relevance,
)
from rnnxbench.metrics.base import DegenerateExplanation, Metric, undefined_where
from rnnxbench.metrics.distribution import LastStepShare, StepShare
from rnnxbench.metrics.faithfulness import (
    Deletion,
    DeletionCurves,
    TimeAnalysis,
    deletion_curves,
)
from rnnxbench.metrics.localisation import (
    AUPRC,
    CosineSimilarity,
    PointingGame,
    RelevanceMass,
    RelevanceRank,
    cosine_to_mark,
)
from rnnxbench.metrics.sanity import Randomization, parameter_stages, rank_similarity
from rnnxbench.metrics.temporal import (
    FeaturePrecision,
    FeatureRecall,
    TimePrecision,
    TimeRecall,
    axis_precision_recall,
)

__all__ = [
    "AUPRC",
    "CosineSimilarity",
    "DegenerateExplanation",
    "Deletion",
    "DeletionCurves",
    "FeaturePrecision",
    "FeatureRecall",
    "LastStepShare",
    "StepShare",
    "Metric",
    "PointingGame",
    "Randomization",
    "RelevanceMass",
    "RelevanceRank",
    "TimeAnalysis",
    "TimePrecision",
    "TimeRecall",
    "axis_precision_recall",
    "block_membership",
    "block_relevance",
    "block_shares",
    "cosine_to_mark",
    "deletion_curves",
    "ground_truth_steps",
    "ground_truth_values",
    "parameter_stages",
    "rank_similarity",
    "shares",
    "step_relevance",
    "undefined_where",
    "value_relevance",
]
