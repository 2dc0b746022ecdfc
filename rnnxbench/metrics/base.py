"""The metric interface: relevance + task data -> one score per sample."""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnxbench.tasks.base import TaskData


class DegenerateExplanation(ValueError):
    """The metric's value is undefined for every explained sample (e.g. every map is all
    zeros or constant); the message says why. The harness records status ``degenerate``.

    A metric returns NaN for single samples where its value is undefined and raises this
    only when no sample has a value (see :func:`undefined_where`).
    """


def undefined_where(values: np.ndarray, undefined: np.ndarray, why: str) -> np.ndarray:
    """``values`` with NaN where ``undefined`` holds; raises :class:`DegenerateExplanation`
    (message: ``why`` and the sample count) when it holds for every sample."""
    values = np.asarray(values, dtype=np.float64)
    undefined = np.asarray(undefined, dtype=bool)
    if undefined.size and undefined.all():
        raise DegenerateExplanation(f"{why} (all {undefined.size} samples)")
    return np.where(undefined, np.nan, values)


class Metric:
    """Base class of registered metrics.

    ``higher_is_better`` declares the direction; ``requires_ground_truth`` whether the task
    must provide a ground-truth mask. ``__call__(relevance, data)`` takes relevance shaped
    like ``data.X`` (``(N, T, D)``) and returns ``(N,)`` per-sample scores: NaN for a sample
    whose score is undefined, and :class:`DegenerateExplanation` raised when no sample has one.
    """

    description = ""
    higher_is_better = True
    requires_ground_truth = True
    granularity = "block"

    #: constructor options and their constraints (see :mod:`rnnxbench.validate`): none here
    parameter_constraints: dict[str, list] = {}

    def __init__(self, **options: Any):
        self.options = options

    def not_applicable(self, data: TaskData) -> str | None:
        """Why this metric cannot score ``data``, or None."""
        if self.requires_ground_truth and data.ground_truth is None:
            return f"{type(self).__name__} needs ground truth; task {data.name!r} has none"
        return None

    def __call__(self, relevance: np.ndarray, data: TaskData, **context: Any) -> np.ndarray:
        raise NotImplementedError

    #: what the x of the curve :meth:`score` returns measures (None: the metric has no curve)
    curve_x: str | None = None
    #: what the y of that curve measures
    curve_y: str | None = None

    def score(self, relevance: np.ndarray, data: TaskData, **context: Any
              ) -> tuple[np.ndarray, dict[float, float] | None]:
        """``(per-sample scores, curve)``: ``curve`` is ``{x: mean y}`` for metrics that
        declare ``curve_x`` (the harness writes it to curves.csv), else None."""
        return self(relevance, data, **context), None
