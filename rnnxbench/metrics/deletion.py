"""Deletion curves: erase the most relevant time steps (or blocks) first and watch the model.

For each sample the units are ranked by their summed relevance, and for ``k = 0..K`` the
top-``k`` are erased (set to a baseline value, by default the task's background,
``InputSpec.background``). The model is evaluated on all ``K + 1`` erased versions of a chunk
of samples in one batched forward pass. :func:`deletion_curves` returns the curves (or
selected levels ``k``), :func:`deletion_area` their normalised area, and
:class:`ErasureMetric` is the base of the metrics built on them (``deletion``,
``time_analysis`` in :mod:`rnnxbench.metrics.faithfulness`; as their base class this
module's source enters their cache keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnxbench.metrics.aggregate import block_relevance, step_relevance
from rnnxbench.metrics.base import DegenerateExplanation, Metric
from rnnxbench.tasks.base import TaskData
from rnnxbench.validate import Interval, Options

GRANULARITIES = ("step", "block")
#: the mean full-erasure drop must exceed this many standard errors to normalise by it
CLEARLY_POSITIVE = 2.0


@dataclass(frozen=True)
class DeletionCurves:
    """Deletion curves over ``L`` levels of erased units (steps or blocks), by default all
    ``k = 0..K`` (``L = K + 1``).

    ``logits``: ``(N, L)`` target-class (true class) logit after erasing the top-k units;
    ``correct``: ``(N, L)`` whether the argmax of the logits is the true class;
    ``levels``: ``(L,)`` the k of each column (None: ``0..K``); ``n_units``: K (None:
    ``L - 1``).
    """

    granularity: str
    logits: np.ndarray
    correct: np.ndarray
    levels: np.ndarray | None = None
    n_units: int | None = None

    @property
    def k(self) -> np.ndarray:
        """``(L,)`` number of erased units of each column."""
        return np.arange(self.logits.shape[1]) if self.levels is None else self.levels

    @property
    def n_total(self) -> int:
        """K, the number of units."""
        return self.logits.shape[1] - 1 if self.n_units is None else self.n_units

    @property
    def complete(self) -> bool:
        """Whether the curves hold every level ``0..K``."""
        return self.levels is None or np.array_equal(self.levels, np.arange(self.n_total + 1))

    @property
    def fraction(self) -> np.ndarray:
        """``(L,)`` erased fraction ``k / K``."""
        return self.k / max(self.n_total, 1)

    @property
    def drops(self) -> np.ndarray:
        """``(N, L)`` per-sample logit drop ``z_0 - z_k`` (0 at k = 0; needs level 0 first)."""
        if self.k[0] != 0:
            raise ValueError("logit drops need level k = 0 (the unerased input)")
        return self.logits[:, :1] - self.logits

    @property
    def accuracy(self) -> np.ndarray:
        """``(L,)`` mean accuracy after erasing k units."""
        return self.correct.mean(axis=0)

    @property
    def logit_drop(self) -> np.ndarray:
        """``(L,)`` mean logit drop after erasing k units."""
        return self.drops.mean(axis=0)


def _check_levels(levels: Sequence[int] | None, n_units: int) -> np.ndarray | None:
    """``levels`` as an int array, validated: sorted, unique, each in ``0..n_units``."""
    if levels is None:
        return None
    arr = np.asarray(levels)
    if arr.size and arr.dtype.kind not in "iu":
        raise ValueError(f"levels must be integers in 0..{n_units}, got {list(levels)}")
    arr = arr.astype(np.int64)
    if (arr.ndim != 1 or not arr.size or np.any(np.diff(arr) <= 0) or arr[0] < 0
            or arr[-1] > n_units):
        raise ValueError(f"levels must be a non-empty, sorted list of unique integers in "
                         f"0..{n_units} (the number of units), got {np.asarray(levels).tolist()}")
    return arr


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


def require_model(name: str, context: dict[str, Any]) -> nn.Module:
    """The metric context's ``model`` (ValueError naming metric ``name`` without one)."""
    model = context.get("model")
    if model is None:
        raise ValueError(f"{name} needs the model: call it with model=<torch module> "
                         "(the harness passes it in the metric context)")
    return model


def deletion_curves(model: nn.Module, X: np.ndarray, y: np.ndarray, relevance: np.ndarray, *,
                    step_block: np.ndarray | None = None, granularity: str = "step",
                    baseline: float = 0.0, batch_size: int = 256,
                    device: str | torch.device | None = None, seed: int = 0,
                    levels: Sequence[int] | None = None) -> DeletionCurves:
    """Erase the top-k relevant units for each k of ``levels`` and record the model's outputs.

    ``levels``: sorted unique erased counts in ``0..K`` (None: every ``k = 0..K``). Every
    forward pass holds all ``L = len(levels)`` erased versions of ``max(1, batch_size // L)``
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
    chosen = _check_levels(levels, n_units)
    ks = np.arange(n_units + 1) if chosen is None else chosen
    n_levels = len(ks)
    dev = torch.device(device) if device is not None else _model_device(model)
    per_chunk = max(1, int(batch_size) // n_levels)
    logits, correct = np.empty((n, n_levels)), np.empty((n, n_levels), dtype=bool)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, n, per_chunk):
                sl = slice(start, start + per_chunk)
                x = torch.as_tensor(X[sl], dtype=torch.float32, device=dev)  # (b, T, ...)
                erased = step_rank[sl, None, :] < ks[None, :, None]  # (b, L, T)
                mask = torch.as_tensor(erased, device=dev).reshape(
                    *erased.shape, *([1] * (x.dim() - 2)))
                xk = torch.where(mask, torch.full((), float(baseline), device=dev), x[:, None])
                out = model(xk.reshape(-1, *x.shape[1:]))
                out = out.reshape(x.shape[0], n_levels, -1)
                target = torch.as_tensor(y[sl], device=dev)[:, None].expand(-1, n_levels)
                logits[sl] = out.gather(2, target[..., None])[..., 0].double().cpu().numpy()
                correct[sl] = (out.argmax(dim=2) == target).cpu().numpy()
    finally:
        model.train(was_training)
    return DeletionCurves(granularity, logits, correct, chosen, n_units)


def deletion_area(curves: DeletionCurves, normalise: str = "full") -> np.ndarray:
    """``(N,)`` per-sample area under the logit-drop curve, ``A_i = mean_{k=1..K} d_ik``
    (``d_ik = z_i0 - z_ik``), divided by the *mean* full-erasure drop ``mean_j d_jK``.

    ``normalise="full"``: ``A_i / mean_j d_jK``, so the mean over the samples is the ratio
    of means ``mean_i A_i / mean_j d_jK``: the normalised area of the mean deletion curve
    (:attr:`DeletionCurves.logit_drop`). 1 when, on average, the first erased unit already
    causes the whole drop, ``1/K`` when only the last one does; above 1 when the mean curve
    overshoots its end (erasing the positive evidence first drops the logit below the
    fully erased input); always between the mean curve's lowest and highest point over its
    end. The denominator does not depend on the explanation, and no single sample's tiny
    drop can blow it up (dividing each sample by its own ``d_iK`` could: values of -2.4 to
    29.9 on a random linear model). The value is undefined, and
    :class:`~rnnxbench.metrics.base.DegenerateExplanation` raised, unless the mean full drop
    is clearly positive: above :data:`CLEARLY_POSITIVE` standard errors (and above
    ``1e-6 max(1, mean |z_0|)``). ``normalise="none"``: ``A_i`` in logit units (the AOPC of
    Samek et al. without the k = 0 term). Needs complete curves (every level ``0..K``).
    """
    if not curves.complete:
        raise ValueError(f"deletion_area needs every level 0..{curves.n_total}, got levels "
                         f"{curves.k.tolist()}")
    if normalise not in ("full", "none"):
        raise ValueError(f"normalise must be 'full' or 'none', got {normalise!r}")
    drops = curves.drops[:, 1:]
    area = drops.mean(axis=1)
    if normalise == "none" or not len(area):
        return area
    full = drops[:, -1]
    if not np.isfinite(full).all():
        raise ValueError("the model returned non-finite logits on erased inputs")
    mean, n = float(full.mean()), len(full)
    se = float(full.std(ddof=1)) / np.sqrt(n) if n > 1 else 0.0
    scale = 1e-6 * max(1.0, float(np.abs(curves.logits[:, 0]).mean()))
    if not (mean > scale and mean >= CLEARLY_POSITIVE * se):
        raise DegenerateExplanation(
            f"erasing every {curves.granularity} lowers the true-class logit by {mean:.3g} "
            f"on average (standard error {se:.2g}, {n} samples): not clearly positive, so "
            "the share of the full drop is undefined (normalise='none' gives logit units)")
    return area / mean


class ErasureMetric(Metric):
    """Base of the metrics that erase the top-ranked units and evaluate the model.

    Options: ``baseline``, the value erased units are set to: ``"background"`` (default,
    the task's ``InputSpec.background``: -1 for MAJ's black background, 0 for the
    synthetic, arithmetic and UCR tasks) or a number; ``seed`` for the random order of tied
    units; ``batch_size`` (the chunk size, else the context's ``batch_size``, else 256).
    Needs the context ``model``.
    """

    requires_ground_truth = False
    granularity = "step"

    parameter_constraints = {
        "baseline": [Options(str, ("background",)), float], "seed": [Interval(int, 0, None)],
        "batch_size": [Interval(int, 1, None), None],
    }

    def __init__(self, baseline: float | str = "background", seed: int = 0,
                 batch_size: int | None = None, **options: Any):
        super().__init__(baseline=baseline, seed=seed, batch_size=batch_size, **options)
        if baseline != "background" and (isinstance(baseline, bool | str)
                                         or not isinstance(baseline, int | float | np.number)):
            raise ValueError(f"baseline must be 'background' or a number, got {baseline!r}")
        self.baseline = baseline if baseline == "background" else float(baseline)
        self.seed, self.batch_size = int(seed), batch_size

    def baseline_value(self, data: TaskData) -> float:
        """The erased value for ``data``: its spec's background unless a number was given."""
        if self.baseline == "background":
            return float(getattr(data.spec, "background", 0.0))
        return float(self.baseline)

    def chunk(self, context: dict[str, Any]) -> int:
        """Sequences per forward pass: option ``batch_size``, the context's, or 256."""
        return int(self.batch_size or context.get("batch_size") or 256)

    def erase(self, name: str, relevance: np.ndarray, data: TaskData,
              context: dict[str, Any], *, granularity: str = "step",
              levels: Sequence[int] | None = None) -> DeletionCurves:
        """:func:`deletion_curves` of ``data`` with this metric's options (``name``: the
        metric's, for the message when the context lacks the model)."""
        return deletion_curves(require_model(name, context), data.X, data.y, relevance,
                               step_block=data.step_block, granularity=granularity,
                               baseline=self.baseline_value(data),
                               batch_size=self.chunk(context), device=context.get("device"),
                               seed=self.seed, levels=levels)
