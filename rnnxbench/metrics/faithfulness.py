"""Faithfulness by deletion: erase the most relevant time steps first and watch the model.

For each sample the steps (or blocks) are ranked by their summed relevance, and for
``k = 0..K`` the top-``k`` are erased (set to a baseline value). The model is evaluated on all
``K + 1`` erased versions of a chunk of samples in one batched forward pass. A faithful
explanation names the evidence first, so the target logit drops fast. :func:`deletion_curves`
returns the whole curves (or selected levels ``k``); the registered ``deletion`` metric is their
normalised area, ``time_analysis`` the NeuroView paper's accuracy after erasing the top-k steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnxbench.metrics.aggregate import block_relevance, step_relevance
from rnnxbench.metrics.base import Metric
from rnnxbench.registry import METRICS
from rnnxbench.tasks.base import TaskData
from rnnxbench.validate import Interval, Options, SequenceOf

GRANULARITIES = ("step", "block")


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


def _require_model(name: str, context: dict[str, Any]) -> nn.Module:
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
    """``(N,)`` area under the logit-drop curve: ``mean_{k=1..K} d_k`` (``d_k = z_0 - z_k``).

    ``normalise="full"`` divides by the drop after erasing every unit, ``d_K`` (which does
    not depend on the explanation), so the area is ``mean_k d_k / d_K``: 1 when the first
    erased unit already causes the whole drop, ``1/K`` when only the last one does (the
    curve may overshoot, so values outside [0, 1] occur). NaN where ``d_K`` is not positive
    (erasing everything does not lower the logit). ``normalise="none"``: the mean drop in
    logit units (the AOPC of Samek et al. without the k = 0 term). Needs complete curves
    (every level ``0..K``).
    """
    if not curves.complete:
        raise ValueError(f"deletion_area needs every level 0..{curves.n_total}, got levels "
                         f"{curves.k.tolist()}")
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

    parameter_constraints = {
        "granularity": [Options(str, GRANULARITIES)], "baseline": [float],
        "normalise": [Options(str, ("full", "none"))], "seed": [Interval(int, 0, None)],
        "batch_size": [Interval(int, 1, None), None],
    }

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
        model = _require_model("deletion", context)
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


@METRICS.register("time_analysis")
class TimeAnalysis(Metric):
    """NeuroView's Time Analysis: accuracy after zeroing the top-k relevant time steps.

    Barberan et al., "NeuroView-RNN: It's About Time" (FAccT 2022), zero the input at the
    top-K time steps ranked by the (class-mean) NeuroView weights and measure the accuracy
    (reported for Chinatown, NV-GRU: K = 0: 96.4, 1: 72.7, 5: 43.87, 10: 89.5). Here the steps
    of each sample are ranked by the explanation's summed relevance per step (ties at random,
    option ``seed``) and set to ``baseline`` (default 0). With the ``nv_weights`` explainer this
    is the paper's procedure (with per-sample contributions instead of the class-mean
    weights); with any other explainer the same counterfactual.

    Levels: option ``ks`` (absolute step counts, e.g. the paper's ``[1, 5, 10]``) or
    ``fractions`` of the length T (default ``[0.05, 0.1, 0.2, 0.5]``; ``k = round(f * T)``,
    half up, at least 1); either is clipped to T. Per-sample score: the fraction of the levels
    at which the sample is still classified correctly; its mean is the mean accuracy after
    erasure, so lower is better. :meth:`score` also returns the curve ``{x: accuracy}`` with
    ``x`` the fraction (or k) and ``x = 0`` the accuracy of the unerased input. Needs the
    context ``model``; the chunk size follows option ``batch_size`` or the context's.
    """

    description = "accuracy after zeroing the top-k relevant time steps (NeuroView time analysis)"
    higher_is_better = False
    requires_ground_truth = False
    granularity = "step"
    curve_x = "erased steps (fraction of T)"  # the instance's: "erased steps" with ks
    curve_y = "accuracy"

    parameter_constraints = {
        "ks": [SequenceOf(Interval(int, 1, None), length=(1, None), unique=True), None],
        "fractions": [SequenceOf(Interval(float, 0, 1, closed="right"), length=(1, None),
                                 unique=True), None],
        "baseline": [float], "seed": [Interval(int, 0, None)],
        "batch_size": [Interval(int, 1, None), None],
    }

    @classmethod
    def check_parameters(cls, options: dict[str, Any]) -> None:
        """``ks`` or ``fractions``, not both."""
        if options.get("ks") is not None and options.get("fractions") is not None:
            raise ValueError("time_analysis takes either ks (step counts) or fractions (of "
                             "the length), not both")

    def __init__(self, ks: Sequence[int] | None = None,
                 fractions: Sequence[float] | None = None, baseline: float = 0.0,
                 seed: int = 0, batch_size: int | None = None, **options: Any):
        super().__init__(ks=ks, fractions=fractions, baseline=baseline, seed=seed,
                         batch_size=batch_size, **options)
        if ks is not None and fractions is not None:
            raise ValueError("time_analysis takes either ks (step counts) or fractions "
                             f"(of the length), not both; got ks={ks}, fractions={fractions}")
        if ks is None and fractions is None:
            fractions = [0.05, 0.1, 0.2, 0.5]
        values = list(ks if ks is not None else fractions)
        name = "ks" if ks is not None else "fractions"
        if not values:
            raise ValueError(f"time_analysis option {name} must not be empty")
        if ks is not None:
            ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
                     for v in values)
            expected = "positive integers (erased step counts)"
        else:
            ok = all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                     and 0 < v <= 1 for v in values)
            expected = "numbers in (0, 1] (fractions of the length)"
        if not ok:
            raise ValueError(f"time_analysis option {name} must be {expected}, got {values}")
        if len(set(values)) != len(values):
            raise ValueError(f"time_analysis option {name} has duplicates: {values}")
        self.ks = None if ks is None else [int(k) for k in values]
        self.fractions = None if fractions is None else [float(f) for f in values]
        self.curve_x = "erased steps" if ks is not None else "erased steps (fraction of T)"
        self.baseline, self.seed, self.batch_size = float(baseline), int(seed), batch_size

    def steps(self, n_steps: int) -> list[int]:
        """The erased step count of each option value for sequences of ``n_steps`` steps."""
        if self.ks is not None:
            raw = self.ks
        else:
            raw = [max(1, int(np.floor(f * n_steps + 0.5))) for f in self.fractions]
        return [min(k, n_steps) for k in raw]

    def score(self, relevance: np.ndarray, data: TaskData, **context: Any
              ) -> tuple[np.ndarray, dict[float, float]]:
        model = _require_model("time_analysis", context)
        ks = self.steps(data.X.shape[1])
        levels = sorted({0, *ks})
        batch = self.batch_size or context.get("batch_size") or 256
        curves = deletion_curves(model, data.X, data.y, relevance, granularity="step",
                                 baseline=self.baseline, batch_size=int(batch),
                                 device=context.get("device"), seed=self.seed, levels=levels)
        correct = curves.correct[:, [levels.index(k) for k in ks]]  # (N, len(ks))
        xs = self.ks if self.ks is not None else self.fractions
        curve: dict[float, float] = {0 if self.ks is not None else 0.0: float(curves.accuracy[0])}
        curve.update({x: float(acc) for x, acc in zip(xs, correct.mean(axis=0), strict=True)})
        return correct.mean(axis=1), dict(sorted(curve.items()))

    def __call__(self, relevance: np.ndarray, data: TaskData, **context: Any) -> np.ndarray:
        return self.score(relevance, data, **context)[0]
