"""The thesis' loss: softmax cross-entropy over the logits plus a constant zero logit."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def thesis_loss(logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of ``[logits | 0]`` (an extra constant zero logit) against class ``y``.

    The zero logit is never the target; it lets every real logit go below "no class".
    """
    zero = logits.new_zeros(logits.shape[0], 1)
    return F.cross_entropy(torch.cat([logits, zero], dim=1), y.long(), reduction=reduction)


def thesis_accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of samples whose argmax over the real logits (zero logit excluded) is ``y``."""
    return (logits.argmax(dim=1) == y).float().mean()
