"""A sequence as a picture: how the explorer pages and heatmap grids lay out an input.

Image tasks (a step of shape ``(C, H, W)`` or ``(H, W)``, e.g. MAJ's 28x7 column slices)
show the steps side by side as one ``H x (T*W)`` image, channels averaged; vector tasks (a
step of shape ``(D,)``, e.g. a time series) show a ``D x T`` image, one row per input
dimension. Row 0 is the top. Relevance is laid out the same way (channels summed).
"""

from __future__ import annotations

import numpy as np


def step_width(step_shape: tuple[int, ...]) -> int:
    """How many image columns one step takes."""
    return int(step_shape[-1]) if len(step_shape) >= 2 else 1


def as_image(x: np.ndarray, step_shape: tuple[int, ...], reduce: str = "mean") -> np.ndarray:
    """One sequence ``(T, D)`` as a 2-D image (``reduce`` the channels: mean or sum)."""
    x = np.asarray(x)
    t = x.shape[0]
    if len(step_shape) < 2:
        return x.reshape(t, -1).T
    steps = x.reshape(t, -1, *step_shape[-2:])  # (T, C, H, W)
    steps = steps.mean(axis=1) if reduce == "mean" else steps.sum(axis=1)
    return np.concatenate(list(steps), axis=1)


def evidence_spans(step_block: np.ndarray, truth: np.ndarray, step_shape: tuple[int, ...]
                   ) -> list[tuple[int, int]]:
    """The image columns ``[start, stop)`` of each ground-truth block of one sequence
    (``truth``: ``(B,)`` bool; empty without ground truth)."""
    width, spans = step_width(step_shape), []
    blocks = np.asarray(step_block)
    for b in np.flatnonzero(np.asarray(truth, dtype=bool)):
        steps = np.flatnonzero(blocks == b)
        if len(steps):
            spans.append((int(steps.min()) * width, (int(steps.max()) + 1) * width))
    return spans
