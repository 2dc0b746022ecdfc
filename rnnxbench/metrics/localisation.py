"""Localisation metrics: how much of the relevance lies on the ground-truth blocks.

On a map without (positive) relevance, e.g. all zeros, ``cosine`` and ``relevance_mass``
are undefined (0/0): NaN for that sample, :class:`~rnnxbench.metrics.base.DegenerateExplanation`
when every sample is so. The ranking metrics (``relevance_rank``, ``pointing_game``,
``auprc``) count ties by their expected value under random tie-breaking, so a constant or
all-zero map is defined and scores the chance level, as a uniform explanation does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnxbench.metrics.aggregate import (
    block_relevance,
    ground_truth_steps,
    ground_truth_values,
    step_relevance,
    value_relevance,
)
from rnnxbench.metrics.base import Metric, undefined_where
from rnnxbench.registry import METRICS
from rnnxbench.tasks.base import TaskData


def _checked(relevance: np.ndarray, data: TaskData, metric: Metric) -> tuple[np.ndarray, ...]:
    reason = metric.not_applicable(data)
    if reason:
        raise ValueError(reason)
    relevance = np.asarray(relevance)
    n, t = data.X.shape[:2]
    if relevance.shape[:2] != (n, t):
        raise ValueError(f"relevance has shape {relevance.shape}, data.X {data.X.shape}")
    return relevance, np.asarray(data.ground_truth, dtype=bool), np.asarray(data.step_block)


def cosine_to_mark(values: np.ndarray, mark: np.ndarray) -> np.ndarray:
    """``(N,)`` row-wise ``cos(mark, values)``; 0 where either vector is zero."""
    v = np.asarray(values, dtype=np.float64)
    m = np.asarray(mark, dtype=np.float64)
    scale = np.abs(v).max(axis=-1, keepdims=True)  # guards against under/overflow of squares
    v = v / np.where(scale > 0, scale, 1.0)
    den = np.linalg.norm(v, axis=-1) * np.linalg.norm(m, axis=-1)
    cos = np.divide((v * m).sum(axis=-1), den, out=np.zeros_like(den), where=den > 0)
    return np.clip(cos, -1.0, 1.0)


@METRICS.register("cosine")
class CosineSimilarity(Metric):
    """Cosine between the ground-truth mark vector and the per-block relevance shares.

    Per sample ``cos(mark, shares)`` (thesis eq. 3.7), with ``mark`` the ``(B,)`` 0/1 vector
    of the ground-truth blocks (e.g. ``[1, 1, 0]`` for MAJ) and ``shares`` each block's share
    of the relevance. 1 means the relevance is split equally among the ground-truth blocks
    and absent elsewhere; a constant relevance scores the chance level (MAJ: cos([1, 1, 0],
    [1, 1, 1]) = 0.816). A sample whose block relevance is all zero (no positive relevance:
    an all-zero or all-negative map) has no direction: NaN (all samples:
    :class:`~rnnxbench.metrics.base.DegenerateExplanation`).

    Options:
      keep_negative: False (default, as in the thesis) clips negative relevance to 0 at the
        input-value level before aggregating. True keeps it; the score is then
        ``cos(mark, block_relevance)`` and may be negative. This equals the cosine with the
        shares whenever the total relevance is positive; for a negative total the shares'
        division would flip the sign, so the block sums are used directly.
    """

    description = "cosine between the ground-truth block mark and the per-block relevance shares"
    higher_is_better = True

    parameter_constraints = {"keep_negative": [bool]}

    def __init__(self, keep_negative: bool = False, **options: Any):
        super().__init__(keep_negative=keep_negative, **options)
        self.keep_negative = bool(keep_negative)

    def __call__(self, relevance: np.ndarray, data: TaskData, **context: Any) -> np.ndarray:
        relevance, gt, step_block = _checked(relevance, data, self)
        blocks = block_relevance(relevance, step_block, positive=not self.keep_negative,
                                 n_blocks=gt.shape[1])
        what = "relevance" if self.keep_negative else "positive relevance"
        return undefined_where(cosine_to_mark(blocks, gt), ~(blocks != 0).any(axis=1),
                               f"no {what} on any block: the cosine is undefined")


@METRICS.register("relevance_mass")
class RelevanceMass(Metric):
    """Share of the positive relevance that lies in the ground-truth blocks.

    Per sample ``sum(R+ in ground-truth blocks) / sum(R+)``, with ``R+`` the input-value
    relevance clipped at 0 (the thesis' "percentage of correctly distributed relevance").
    When the task marks ground-truth cells (``TaskData.ground_truth_cells``) only the
    relevance on those input values counts as inside. Undefined (NaN; all samples:
    :class:`~rnnxbench.metrics.base.DegenerateExplanation`) without positive relevance.
    """

    description = "share of the positive relevance in the ground-truth blocks"
    higher_is_better = True

    def __call__(self, relevance: np.ndarray, data: TaskData, **context: Any) -> np.ndarray:
        relevance, gt, step_block = _checked(relevance, data, self)
        if data.ground_truth_cells is None:
            pos = step_relevance(relevance, positive=True)  # (N, T)
            inside = (pos * ground_truth_steps(gt, step_block)).sum(axis=1)
        else:  # only the relevance on the ground-truth cells counts
            values = value_relevance(relevance, positive=True)  # (N, T, V)
            cells = ground_truth_values(gt, step_block, values.shape[2], data.ground_truth_cells)
            pos = values.sum(axis=2)
            inside = (values * cells).sum(axis=2).sum(axis=1)
        total = pos.sum(axis=1)
        mass = np.divide(inside, total, out=np.zeros_like(total), where=total > 0)
        return undefined_where(mass, ~(total > 0),
                               "no positive relevance: its share on the ground truth is undefined")


class _InputLevel(Metric):
    """Base of the metrics that rank single input values against the ground-truth mask.

    The mask is the task's ground-truth cells when it has them, else the ground truth
    expanded from blocks to steps to every value of a step
    (:func:`~rnnxbench.metrics.aggregate.ground_truth_values`), so ``granularity`` is
    ``"input"``. Relevance is used signed (negative = evidence against, ranked last) unless
    option ``absolute`` is True. A sample without any ground-truth value scores NaN.
    """

    granularity = "input"

    parameter_constraints = {"absolute": [bool]}

    def __init__(self, absolute: bool = False, **options: Any):
        super().__init__(absolute=absolute, **options)
        self.absolute = bool(absolute)

    def _flat(self, relevance: np.ndarray, data: TaskData) -> tuple[np.ndarray, np.ndarray]:
        """``(N, M)`` relevance and ``(N, M)`` bool ground-truth mask, M = T * V."""
        relevance, gt, step_block = _checked(relevance, data, self)
        values = value_relevance(relevance)
        if self.absolute:
            values = np.abs(values)
        mask = ground_truth_values(gt, step_block, values.shape[2], data.ground_truth_cells)
        n = values.shape[0]
        return values.reshape(n, -1), mask.reshape(n, -1)


def _nan_where_empty(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask.any(axis=1), scores, np.nan)


@METRICS.register("relevance_rank")
class RelevanceRank(_InputLevel):
    """Relevance rank accuracy (Arras et al. 2022; Quantus' RelevanceRankAccuracy).

    Per sample, with ``K`` the number of ground-truth input values: the fraction of the ``K``
    highest-relevance input values that are ground truth. Values tied with the K-th highest
    count by the expected hit rate under random tie-breaking (so a constant relevance scores
    the chance level ``K / M``, not a position-dependent value); without ties this is exactly
    Quantus' definition.
    """

    description = "fraction of the K most relevant input values in the ground truth (K = |GT|)"
    higher_is_better = True

    def __call__(self, relevance: np.ndarray, data: TaskData, **context: Any) -> np.ndarray:
        r, mask = self._flat(relevance, data)
        k = mask.sum(axis=1)
        ordered = -np.sort(-r, axis=1)
        kth = ordered[np.arange(len(r)), np.maximum(k - 1, 0)][:, None]  # K-th largest value
        above, tied = r > kth, r == kth
        n_above = above.sum(axis=1)
        hits = ((above & mask).sum(axis=1)
                + (k - n_above) * (tied & mask).sum(axis=1) / tied.sum(axis=1))
        return _nan_where_empty(hits / np.maximum(k, 1), mask)


@METRICS.register("pointing_game")
class PointingGame(_InputLevel):
    """Pointing game (Zhang et al. 2018): 1 if the most relevant input value is ground truth.

    Per sample over all input values. When several values share the maximum, the score is
    the fraction of them in the ground truth (the expected hit under random tie-breaking;
    Quantus counts any tied maximum as a hit, which lets a constant relevance always win).
    Without ties this equals Quantus' PointingGame.
    """

    description = "1 if the most relevant input value lies in the ground truth, else 0"
    higher_is_better = True

    def __call__(self, relevance: np.ndarray, data: TaskData, **context: Any) -> np.ndarray:
        r, mask = self._flat(relevance, data)
        top = r == r.max(axis=1, keepdims=True)
        return _nan_where_empty((top & mask).sum(axis=1) / top.sum(axis=1), mask)


def average_precision(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(N,)`` row-wise average precision of ``scores`` for the bool ``labels``.

    As ``sklearn.metrics.average_precision_score``: ``sum_k (R_k - R_{k-1}) P_k`` over the
    distinct score thresholds (tied scores form one threshold, no interpolation). NaN for
    a row without positives.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    rows = np.arange(s.shape[0])[:, None]
    order = np.argsort(-s, axis=1, kind="stable")
    s_sorted, y_sorted = s[rows, order], y[rows, order]
    tp = np.cumsum(y_sorted, axis=1)
    m = s.shape[1]
    # the last position of each tie group, and for every position the end of its group
    is_end = np.ones_like(y_sorted)
    is_end[:, :-1] = s_sorted[:, 1:] != s_sorted[:, :-1]
    ends = np.where(is_end, np.arange(m)[None, :], m)
    group_end = np.minimum.accumulate(ends[:, ::-1], axis=1)[:, ::-1]
    precision_at_end = tp[rows, group_end] / (group_end + 1)
    n_pos = y.sum(axis=1)
    total = (y_sorted * precision_at_end).sum(axis=1)
    return np.divide(total, n_pos, out=np.full(len(s), np.nan), where=n_pos > 0)


@METRICS.register("auprc")
class AUPRC(_InputLevel):
    """Area under the precision-recall curve of the relevance as a detector of ground truth.

    Per sample: the average precision (as sklearn's ``average_precision_score``) of the
    input-value relevance as scores for the input-value ground-truth mask. 1 means every
    ground-truth value outranks every other value; a constant relevance scores the share of
    ground-truth values.
    """

    description = "average precision of the input-value relevance for the ground-truth mask"
    higher_is_better = True

    def __call__(self, relevance: np.ndarray, data: TaskData, **context: Any) -> np.ndarray:
        r, mask = self._flat(relevance, data)
        return average_precision(r, mask)
