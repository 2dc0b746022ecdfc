"""Localisation metrics: how much of the relevance lies on the ground-truth blocks."""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnxbench.metrics.aggregate import block_membership, block_relevance, step_relevance
from rnnxbench.metrics.base import Metric
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
    of the relevance. A zero relevance vector scores 0. 1 means the relevance is split
    equally among the ground-truth blocks and absent elsewhere.

    Options:
      keep_negative: False (default, as in the thesis) clips negative relevance to 0 at the
        input-value level before aggregating. True keeps it; the score is then
        ``cos(mark, block_relevance)`` and may be negative. This equals the cosine with the
        shares whenever the total relevance is positive; for a negative total the shares'
        division would flip the sign, so the block sums are used directly.
    """

    description = "cosine between the ground-truth block mark and the per-block relevance shares"
    higher_is_better = True

    def __init__(self, keep_negative: bool = False, **options: Any):
        super().__init__(keep_negative=keep_negative, **options)
        self.keep_negative = bool(keep_negative)

    def __call__(self, relevance: np.ndarray, data: TaskData, **context: Any) -> np.ndarray:
        relevance, gt, step_block = _checked(relevance, data, self)
        blocks = block_relevance(relevance, step_block, positive=not self.keep_negative,
                                 n_blocks=gt.shape[1])
        return cosine_to_mark(blocks, gt)


@METRICS.register("relevance_mass")
class RelevanceMass(Metric):
    """Share of the positive relevance that lies in the ground-truth blocks.

    Per sample ``sum(R+ in ground-truth blocks) / sum(R+)``, with ``R+`` the input-value
    relevance clipped at 0 (the thesis' "percentage of correctly distributed relevance").
    0 when there is no positive relevance.
    """

    description = "share of the positive relevance in the ground-truth blocks"
    higher_is_better = True

    def __call__(self, relevance: np.ndarray, data: TaskData, **context: Any) -> np.ndarray:
        relevance, gt, step_block = _checked(relevance, data, self)
        pos = step_relevance(relevance, positive=True)  # (N, T)
        in_gt = gt.astype(np.float64) @ block_membership(step_block, gt.shape[1]).T  # (N, T)
        total = pos.sum(axis=1)
        inside = (pos * in_gt).sum(axis=1)
        return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)
