"""Descriptive metrics of how relevance is spread over time (thesis Fig. 3.7).

They need no ground truth, so they also apply to the SEQ task; they have no better
direction (``higher_is_better = None``): a model that puts all relevance on the last step
(as the thesis' Shallow does) is not "better", it explains differently. A sample without
positive relevance (e.g. an all-zero map) has no shares: NaN, and
:class:`~rnnxbench.metrics.base.DegenerateExplanation` when every sample is so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnxbench.metrics.aggregate import shares, step_relevance
from rnnxbench.metrics.base import Metric, undefined_where
from rnnxbench.registry import METRICS
from rnnxbench.tasks.base import TaskData


@METRICS.register("step_share")
class StepShare(Metric):
    """Share of the positive relevance on one time step (``step``, default the last)."""

    description = "share of the positive relevance on one time step (option step, default -1)"
    higher_is_better = None
    requires_ground_truth = False
    granularity = "step"

    parameter_constraints = {"step": [int]}

    def __init__(self, step: int = -1, **options: Any):
        super().__init__(step=step, **options)
        self.step = int(step)

    def __call__(self, relevance: np.ndarray, data: TaskData, **context: Any) -> np.ndarray:
        n_steps = relevance.shape[1]
        if not -n_steps <= self.step < n_steps:
            raise ValueError(f"step {self.step} outside the {n_steps} steps of {data.name!r}")
        steps = step_relevance(relevance, positive=True)
        return undefined_where(shares(steps)[:, self.step], ~(steps.sum(axis=1) > 0),
                               "no positive relevance: its share on a step is undefined")


@METRICS.register("last_step_share")
class LastStepShare(StepShare):
    """Share of the positive relevance on the last time step."""

    description = "share of the positive relevance on the last time step"

    parameter_constraints = {"step": None}  # fixed to the last step

    def __init__(self, **options: Any):
        super().__init__(step=-1, **options)
