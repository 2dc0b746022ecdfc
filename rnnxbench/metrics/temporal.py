"""Time- and feature-level precision and recall against ground-truth cells (Ismail et al.).

Per sample, the relevance is summed over the other axis into a *profile*: one score per time
step (``time_*``) or per feature (``feature_*``), ``sum |R|`` by default. A step (feature)
is *informative* when it holds a ground-truth cell (``TaskData.ground_truth_cells``) and
*selected* when the explainer marks it:

- ``select="mean"`` (default): its profile score is at least the profile's mean, i.e. it
  gets at least an equal share of the relevance;
- ``select="top_k"``: it is among the ``K`` highest scores, ``K`` = the number of
  informative steps (features). Then |selected| = |informative|, so precision equals
  recall: both are the top-K hit rate.

precision = |selected ∩ informative| / |selected|; recall = |selected ∩ informative| /
|informative|. Relevance piled onto a few steps (e.g. the last ones) gives a low time recall,
relevance smeared over all steps a time precision at the informative share of the steps:
the time/feature confusion Ismail et al. report. (They mask the top p% cells and weight
steps by saliency, sweeping p; this is one parameter-free point per axis.)

``absolute=True`` (default; Ismail et al. rank absolute saliency) sums ``|R|``: evidence
against the class also marks a step. ``absolute=False`` sums signed relevance, so steps with
net negative relevance fall below the mean and rank last. Scores tied with the threshold
(the mean, or the K-th largest) are selected. A profile without variation (every unit
tied, e.g. an all-zero map, or erasure's feature profile, which spreads each step's score
evenly over its features) distinguishes no unit: selecting all of them would give recall 1
to an explanation that marks nothing, so the sample is undefined (NaN; every sample:
:class:`~rnnxbench.metrics.base.DegenerateExplanation`). A sample without ground-truth
cells scores NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnxbench.metrics.aggregate import value_relevance
from rnnxbench.metrics.base import Metric, undefined_where
from rnnxbench.registry import METRICS
from rnnxbench.tasks.base import TaskData
from rnnxbench.validate import Options

#: the axis of ``(N, T, V)`` summed over to get each axis' profile
OTHER_AXIS = {"time": 2, "feature": 1}
SELECTIONS = ("mean", "top_k")


def selected_units(profile: np.ndarray, select: str, k: np.ndarray | None = None) -> np.ndarray:
    """``(N, U)`` bool: the units of each ``(N, U)`` profile row that are selected: at least
    the row mean (``"mean"``; a relative 1e-9 tolerance absorbs the mean's rounding) or at
    least the ``k[n]``-th largest score (``"top_k"``, ties included, none for ``k = 0``)."""
    p = np.asarray(profile, dtype=np.float64)
    if select == "mean":
        tolerance = 1e-9 * np.abs(p).max(axis=1, keepdims=True)
        return p >= p.mean(axis=1, keepdims=True) - tolerance
    if select == "top_k":
        if k is None:
            raise ValueError("select='top_k' needs k")
        k = np.asarray(k)
        ordered = -np.sort(-p, axis=1)
        kth = ordered[np.arange(len(p)), np.clip(k - 1, 0, p.shape[1] - 1)]
        return (p >= kth[:, None]) & (k[:, None] > 0)
    raise ValueError(f"select must be one of {', '.join(SELECTIONS)}, got {select!r}")


def axis_profile(relevance: np.ndarray, axis: str, absolute: bool = True) -> np.ndarray:
    """``(N, U)``: each time step's (``axis="time"``) or feature's summed relevance."""
    if axis not in OTHER_AXIS:
        raise ValueError(f"axis must be one of {', '.join(OTHER_AXIS)}, got {axis!r}")
    r = value_relevance(relevance)
    return (np.abs(r) if absolute else r).sum(axis=OTHER_AXIS[axis])


def flat_profile(profile: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: rows without variation (spread at most 1e-9 of the largest |score|)."""
    p = np.asarray(profile, dtype=np.float64)
    return np.ptp(p, axis=1) <= 1e-9 * np.abs(p).max(axis=1)


def axis_precision_recall(relevance: np.ndarray, cells: np.ndarray, axis: str,
                          absolute: bool = True, select: str = "mean"
                          ) -> tuple[np.ndarray, np.ndarray]:
    """``(N,)`` precision and recall of the selected time steps (``axis="time"``) or
    features (``"feature"``) against the informative ones (see the module docstring); NaN
    for samples without ground-truth cells or with a flat profile (:func:`flat_profile`)."""
    profile = axis_profile(relevance, axis, absolute)
    r = value_relevance(relevance)
    mask = np.asarray(cells, dtype=bool).reshape(r.shape)
    informative = mask.any(axis=OTHER_AXIS[axis])
    n_inf = informative.sum(axis=1)
    selected = selected_units(profile, select, n_inf)
    hits = (selected & informative).sum(axis=1).astype(np.float64)
    n_sel = selected.sum(axis=1)
    precision = np.divide(hits, n_sel, out=np.zeros_like(hits), where=n_sel > 0)
    recall = np.divide(hits, n_inf, out=np.zeros_like(hits), where=n_inf > 0)
    undefined = (n_inf == 0) | flat_profile(profile)
    return np.where(undefined, np.nan, precision), np.where(undefined, np.nan, recall)


class _AxisPrecisionRecall(Metric):
    """Options: ``absolute`` (True: profiles of ``|R|``) and ``select`` (``"mean"`` or
    ``"top_k"``), see :mod:`rnnxbench.metrics.temporal`."""

    axis = "time"
    quantity = "precision"
    higher_is_better = True
    granularity = "input"

    parameter_constraints = {"absolute": [bool], "select": [Options(str, SELECTIONS)]}

    def __init__(self, absolute: bool = True, select: str = "mean", **options: Any):
        super().__init__(absolute=absolute, select=select, **options)
        if select not in SELECTIONS:
            raise ValueError(f"select must be one of {', '.join(SELECTIONS)}, got {select!r}")
        self.absolute, self.select = bool(absolute), select

    def not_applicable(self, data: TaskData) -> str | None:
        if data.ground_truth_cells is None:
            has = "only block ground truth" if data.ground_truth is not None else "none"
            return (f"{type(self).__name__} needs ground-truth cells "
                    f"(TaskData.ground_truth_cells); task {data.name!r} has {has}")
        return None

    def __call__(self, relevance: np.ndarray, data: TaskData, **context: Any) -> np.ndarray:
        reason = self.not_applicable(data)
        if reason:
            raise ValueError(reason)
        relevance = np.asarray(relevance)
        if relevance.shape[:2] != data.X.shape[:2]:
            raise ValueError(f"relevance has shape {relevance.shape}, data.X {data.X.shape}")
        precision, recall = axis_precision_recall(relevance, data.ground_truth_cells,
                                                  self.axis, self.absolute, self.select)
        values = precision if self.quantity == "precision" else recall
        flat = flat_profile(axis_profile(relevance, self.axis, self.absolute))
        return undefined_where(values, flat, f"every {self.axis} has the same summed "
                               "relevance: the explanation selects none over another")


@METRICS.register("time_precision")
class TimePrecision(_AxisPrecisionRecall):
    """Share of the selected (most relevant) time steps that hold ground-truth cells."""

    description = "share of the most relevant time steps that hold ground-truth cells"


@METRICS.register("time_recall")
class TimeRecall(_AxisPrecisionRecall):
    """Share of the time steps with ground-truth cells that are selected (most relevant)."""

    description = "share of the ground-truth time steps among the most relevant steps"
    quantity = "recall"


@METRICS.register("feature_precision")
class FeaturePrecision(_AxisPrecisionRecall):
    """Share of the selected (most relevant) features that hold ground-truth cells."""

    description = "share of the most relevant features that hold ground-truth cells"
    axis = "feature"


@METRICS.register("feature_recall")
class FeatureRecall(_AxisPrecisionRecall):
    """Share of the features with ground-truth cells that are selected (most relevant)."""

    description = "share of the ground-truth features among the most relevant features"
    axis = "feature"
    quantity = "recall"
