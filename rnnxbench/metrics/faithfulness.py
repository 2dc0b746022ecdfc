"""Faithfulness by deletion: erase the most relevant time steps first and watch the model.

For each sample the steps (or blocks) are ranked by their summed relevance, and for
``k = 0..K`` the top-``k`` are erased (set to a baseline value). The model is evaluated on all
``K + 1`` erased versions of a chunk of samples in one batched forward pass. A faithful
explanation names the evidence first, so the target logit drops fast. :func:`deletion_curves`
returns the whole curves (the NeuroView paper's "time analysis" counterfactual is this curve
for the ``nv_weights`` explanation); the registered ``deletion`` metric their normalised area.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnxbench.metrics.aggregate import block_relevance, step_relevance
from rnnxbench.metrics.base import Metric
from rnnxbench.registry import METRICS
from rnnxbench.tasks.base import TaskData

GRANULARITIES = ("step", "block")


@dataclass(frozen=True)
class DeletionCurves:
    """Deletion curves over ``k = 0..K`` erased units (steps or blocks).

    ``logits``: ``(N, K + 1)`` target-class (true class) logit after erasing the top-k units;
    ``correct``: ``(N, K + 1)`` whether the argmax of the logits is the true class.
    """

    granularity: str
    logits: np.ndarray
    correct: np.ndarray

    @property
    def k(self) -> np.ndarray:
        """``(K + 1,)`` number of erased units, 0..K."""
        return np.arange(self.logits.shape[1])

    @property
    def fraction(self) -> np.ndarray:
        """``(K + 1,)`` erased fraction ``k / K``."""
        return self.k / max(self.logits.shape[1] - 1, 1)

    @property
    def drops(self) -> np.ndarray:
        """``(N, K + 1)`` per-sample logit drop ``z_0 - z_k`` (0 at k = 0)."""
        return self.logits[:, :1] - self.logits

    @property
    def accuracy(self) -> np.ndarray:
        """``(K + 1,)`` mean accuracy after erasing k units."""
        return self.correct.mean(axis=0)

    @property
    def logit_drop(self) -> np.ndarray:
        """``(K + 1,)`` mean logit drop after erasing k units."""
        return self.drops.mean(axis=0)


def deletion_ranks(relevance: np.ndarray, step_block: np.ndarray | None = None,
                   granularity: str = "step", seed: int = 0) -> np.ndarray:
    """``(N, K)`` deletion rank of each unit (0 = erased first), by summed signed relevance.

    Units are steps (``K = T``) or blocks (``K = B``, via ``step_block``). Exactly tied units
    are ordered at random (seeded), so a constant relevance gives a random deletion order.
    """
    if granularity == "step":
        scores = step_relevance(relevance)
    elif granularity == "block":
        if step_block is None:
            raise ValueError("block deletion needs step_block")
        scores = block_relevance(relevance, step_block)
    else:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    tiebreak = np.random.default_rng(seed).random(scores.shape)
    order = np.lexsort((tiebreak, -scores), axis=-1)  # primary key: relevance, descending
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(scores.shape[1])[None, :], axis=1)
    return ranks


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def deletion_curves(model: nn.Module, X: np.ndarray, y: np.ndarray, relevance: np.ndarray, *,
                    step_block: np.ndarray | None = None, granularity: str = "step",
                    baseline: float = 0.0, batch_size: int = 256,
                    device: str | torch.device | None = None, seed: int = 0) -> DeletionCurves:
    """Erase the top-k relevant units for ``k = 0..K`` and record the model's outputs.

    Every forward pass holds all ``K + 1`` erased versions of ``max(1, batch_size // (K + 1))``
    samples (so about ``batch_size`` sequences). Erased steps are set to ``baseline``; with
    ``granularity="block"`` steps outside every block (negative ``step_block``) are never
    erased. The model is evaluated in eval mode without gradients; its mode is restored.
    """
    X = np.asarray(X)
    y = np.asarray(y).astype(np.int64)
    ranks = deletion_ranks(relevance, step_block, granularity, seed)  # (N, K)
    n, n_units = ranks.shape
    if len(X) != n or len(y) != n or X.shape[1] != np.asarray(relevance).shape[1]:
        raise ValueError(f"relevance {np.shape(relevance)} does not match X {X.shape} and "
                         f"y {y.shape}")
    if granularity == "step":
        step_rank = ranks  # (N, T)
    else:
        sb = np.asarray(step_block).astype(np.int64)
        step_rank = np.where(sb[None, :] >= 0, ranks[:, np.maximum(sb, 0)], n_units)
    levels = np.arange(n_units + 1)
    dev = torch.device(device) if device is not None else _model_device(model)
    per_chunk = max(1, int(batch_size) // (n_units + 1))
    logits, correct = np.empty((n, n_units + 1)), np.empty((n, n_units + 1), dtype=bool)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, n, per_chunk):
                sl = slice(start, start + per_chunk)
                x = torch.as_tensor(X[sl], dtype=torch.float32, device=dev)  # (b, T, ...)
                erased = step_rank[sl, None, :] < levels[None, :, None]  # (b, K+1, T)
                mask = torch.as_tensor(erased, device=dev).reshape(
                    *erased.shape, *([1] * (x.dim() - 2)))
                xk = torch.where(mask, torch.full((), float(baseline), device=dev), x[:, None])
                out = model(xk.reshape(-1, *x.shape[1:]))
                out = out.reshape(x.shape[0], n_units + 1, -1)
                target = torch.as_tensor(y[sl], device=dev)[:, None].expand(-1, n_units + 1)
                logits[sl] = out.gather(2, target[..., None])[..., 0].double().cpu().numpy()
                correct[sl] = (out.argmax(dim=2) == target).cpu().numpy()
    finally:
        model.train(was_training)
    return DeletionCurves(granularity, logits, correct)


def deletion_area(curves: DeletionCurves, normalise: str = "full") -> np.ndarray:
    """``(N,)`` area under the logit-drop curve: ``mean_{k=1..K} d_k`` (``d_k = z_0 - z_k``).

    ``normalise="full"`` divides by the drop after erasing every unit, ``d_K`` (which does
    not depend on the explanation), so the area is ``mean_k d_k / d_K``: 1 when the first
    erased unit already causes the whole drop, ``1/K`` when only the last one does (the
    curve may overshoot, so values outside [0, 1] occur). NaN where ``d_K`` is not positive
    (erasing everything does not lower the logit). ``normalise="none"``: the mean drop in
    logit units (the AOPC of Samek et al. without the k = 0 term).
    """
    drops = curves.drops[:, 1:]
    area = drops.mean(axis=1)
    if normalise == "none":
        return area
    if normalise != "full":
        raise ValueError(f"normalise must be 'full' or 'none', got {normalise!r}")
    full = drops[:, -1]
    scale = 1e-6 * np.maximum(1.0, np.abs(curves.logits[:, 0]))
    return np.divide(area, full, out=np.full_like(area, np.nan), where=full > scale)


@METRICS.register("deletion")
class Deletion(Metric):
    """Deletion faithfulness: normalised area under the target-logit drop curve.

    Per sample: rank the steps (option ``granularity="step"``, default) or blocks
    (``"block"``) by summed signed relevance, set the top-k to ``baseline`` (default 0) for
    k = 1..K, and average the true-class logit drop ``z_0 - z_k`` over k, divided by the
    drop with every unit erased (see :func:`deletion_area`; ``normalise="none"`` keeps logit
    units). Higher is better: a faithful explanation makes the logit drop fast. Ties in the
    ranking are broken at random (option ``seed``). Needs the context ``model``; the chunk
    size follows option ``batch_size`` or else the context's ``batch_size``.
    """

    description = "normalised area under the true-class logit drop when erasing top-k steps"
    higher_is_better = True
    requires_ground_truth = False
    granularity = "step"

    def __init__(self, granularity: str = "step", baseline: float = 0.0,
                 normalise: str = "full", seed: int = 0, batch_size: int | None = None,
                 **options: Any):
        super().__init__(granularity=granularity, baseline=baseline, normalise=normalise,
                         seed=seed, batch_size=batch_size, **options)
        if granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
        if normalise not in ("full", "none"):
            raise ValueError(f"normalise must be 'full' or 'none', got {normalise!r}")
        self.granularity = granularity
        self.baseline, self.normalise, self.seed = float(baseline), normalise, int(seed)
        self.batch_size = batch_size

    def not_applicable(self, data: TaskData) -> str | None:
        if self.granularity == "block" and data.step_block is None:
            return f"block deletion needs step blocks; task {data.name!r} has none"
        return super().not_applicable(data)

    def curves(self, relevance: np.ndarray, data: TaskData, **context: Any) -> DeletionCurves:
        """The full deletion curves for ``data`` (context as for ``__call__``)."""
        model = context.get("model")
        if model is None:
            raise ValueError("deletion needs the model: call it with model=<torch module> "
                             "(the pipeline passes it in the metric context)")
        reason = self.not_applicable(data)
        if reason:
            raise ValueError(reason)
        batch = self.batch_size or context.get("batch_size") or 256
        return deletion_curves(model, data.X, data.y, relevance, step_block=data.step_block,
                               granularity=self.granularity, baseline=self.baseline,
                               batch_size=int(batch), device=context.get("device"),
                               seed=self.seed)

    def __call__(self, relevance: np.ndarray, data: TaskData, **context: Any) -> np.ndarray:
        return deletion_area(self.curves(relevance, data, **context), self.normalise)
