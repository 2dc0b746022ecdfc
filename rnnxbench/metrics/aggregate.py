"""The one aggregation every metric uses: input values -> time steps -> blocks -> shares.

Relevance is shaped like the input, ``(N, T, D)`` (any trailing step shape is accepted and
flattened). ``positive=True`` clips negative relevance to 0 at the input-value level, before
anything is summed, so positive and negative values within a step cannot cancel.
"""

from __future__ import annotations

import numpy as np


def _as_steps(relevance: np.ndarray, positive: bool) -> np.ndarray:
    r = np.asarray(relevance, dtype=np.float64)
    if r.ndim < 2:
        raise ValueError(f"relevance needs shape (N, T, ...), got {r.shape}")
    if positive:
        r = np.clip(r, 0.0, None)
    return r.reshape(r.shape[0], r.shape[1], -1)


def value_relevance(relevance: np.ndarray, positive: bool = False) -> np.ndarray:
    """``(N, T, V)``: the input values of each step, flattened (``V`` = values per step)."""
    return _as_steps(relevance, positive)


def step_relevance(relevance: np.ndarray, positive: bool = False) -> np.ndarray:
    """``(N, T)``: the sum of each step's values (``(N, T)`` input is taken as-is)."""
    return _as_steps(relevance, positive).sum(axis=-1)


def block_membership(step_block: np.ndarray, n_blocks: int | None = None) -> np.ndarray:
    """``(T, B)`` float one-hot of each step's block; steps with a negative index join none."""
    step_block = np.asarray(step_block).astype(np.int64).reshape(-1)
    if n_blocks is None:
        n_blocks = int(step_block.max()) + 1 if step_block.size else 0
    return (step_block[:, None] == np.arange(n_blocks)[None, :]).astype(np.float64)


def block_relevance(relevance: np.ndarray, step_block: np.ndarray, positive: bool = False,
                    n_blocks: int | None = None) -> np.ndarray:
    """``(N, B)``: the summed relevance of the steps in each block.

    ``step_block`` is ``(T,)``, the block of each step (as in ``TaskData.step_block``);
    ``n_blocks`` defaults to ``step_block.max() + 1``.
    """
    steps = step_relevance(relevance, positive)
    member = block_membership(step_block, n_blocks)
    if member.shape[0] != steps.shape[1]:
        raise ValueError(f"step_block has {member.shape[0]} steps, relevance {steps.shape[1]}")
    return steps @ member


def ground_truth_steps(ground_truth: np.ndarray, step_block: np.ndarray) -> np.ndarray:
    """``(N, T)`` bool: the steps that lie in a ground-truth block of each sample.

    ``ground_truth`` is ``(N, B)`` (as in ``TaskData.ground_truth``); steps with a negative
    block index lie in no block and are never ground truth.
    """
    gt = np.asarray(ground_truth, dtype=bool)
    member = block_membership(step_block, gt.shape[1])  # (T, B)
    return (gt.astype(np.float64) @ member.T) > 0


def ground_truth_values(ground_truth: np.ndarray, step_block: np.ndarray,
                        n_values: int, cells: np.ndarray | None = None) -> np.ndarray:
    """``(N, T, V)`` bool: the input-value mask, aligned with :func:`value_relevance`.

    ``cells`` (``TaskData.ground_truth_cells``, ``(N, T, ...)``), when given, is the mask
    itself (flattened per step); otherwise :func:`ground_truth_steps` is expanded to each
    step's ``V`` values.
    """
    steps = ground_truth_steps(ground_truth, step_block)
    if cells is not None:
        mask = np.asarray(cells, dtype=bool)
        if mask.ndim > 3:
            mask = mask.reshape(*mask.shape[:2], -1)
        if mask.shape != (*steps.shape, int(n_values)):
            raise ValueError(f"cell mask of shape {np.shape(cells)} does not match "
                             f"{(*steps.shape, int(n_values))}")
        return mask
    return np.broadcast_to(steps[:, :, None], (*steps.shape, int(n_values)))


def shares(values: np.ndarray, eps: float = 1e-20) -> np.ndarray:
    """``values / (values.sum(-1) + eps)`` along the last axis (the thesis' per-block shares)."""
    values = np.asarray(values, dtype=np.float64)
    return values / (values.sum(axis=-1, keepdims=True) + eps)


def block_shares(relevance: np.ndarray, step_block: np.ndarray, positive: bool = True,
                 eps: float = 1e-20) -> np.ndarray:
    """``(N, B)``: each block's share of the (by default positive) relevance."""
    return shares(block_relevance(relevance, step_block, positive), eps)
