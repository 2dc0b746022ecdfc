"""Faithfulness by deletion: erase the most relevant time steps first and watch the model.

A faithful explanation names the evidence first, so the target logit drops fast when the
top-ranked units are erased (:mod:`rnnxbench.metrics.deletion` builds the curves). The
registered ``deletion`` metric is the normalised area of the logit-drop curve,
``time_analysis`` the NeuroView paper's accuracy after erasing the top-k steps. Both erase to
the task's background (``InputSpec.background``) unless given a ``baseline`` number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rnnxbench.metrics.deletion import (
    GRANULARITIES,
    DeletionCurves,
    ErasureMetric,
    deletion_area,
    deletion_curves,
    deletion_ranks,
    require_model,
)
from rnnxbench.registry import METRICS
from rnnxbench.tasks.base import TaskData
from rnnxbench.validate import Interval, Options, SequenceOf

__all__ = ["GRANULARITIES", "Deletion", "DeletionCurves", "TimeAnalysis", "deletion_area",
           "deletion_curves", "deletion_ranks"]

NORMALISATIONS = ("full", "none")


@METRICS.register("deletion")
class Deletion(ErasureMetric):
    """Deletion faithfulness: normalised area under the true-class logit drop curve.

    Per sample: rank the steps (option ``granularity="step"``, default) or blocks
    (``"block"``) by summed signed relevance, set the top-k to ``baseline`` (default the
    task's background) for k = 1..K, and average the true-class logit drop ``z_0 - z_k``
    over k. ``normalise="full"`` (default) divides by the mean over the samples of the drop
    with every unit erased, so the metric's mean is the ratio of means ``mean_i A_i /
    mean_j d_jK`` (see :func:`deletion_area`: bounded by the mean curve, not blown up by one
    sample's tiny drop); when that mean drop is not clearly positive the value is undefined
    and :class:`~rnnxbench.metrics.base.DegenerateExplanation` is raised.
    ``normalise="none"`` keeps logit units. Higher is better: a faithful explanation makes
    the logit drop fast. Ties in the ranking are broken at random (option ``seed``), so a
    constant or all-zero relevance scores a random order's value. Needs the context
    ``model``; the chunk size follows option ``batch_size`` or else the context's.
    """

    description = "normalised area under the true-class logit drop when erasing top-k steps"
    higher_is_better = True

    parameter_constraints = {
        "granularity": [Options(str, GRANULARITIES)],
        "normalise": [Options(str, NORMALISATIONS)],
    }

    def __init__(self, granularity: str = "step", baseline: float | str = "background",
                 normalise: str = "full", seed: int = 0, batch_size: int | None = None,
                 **options: Any):
        super().__init__(baseline=baseline, seed=seed, batch_size=batch_size,
                         granularity=granularity, normalise=normalise, **options)
        if granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
        if normalise not in NORMALISATIONS:
            raise ValueError(f"normalise must be 'full' or 'none', got {normalise!r}")
        self.granularity, self.normalise = granularity, normalise

    def not_applicable(self, data: TaskData) -> str | None:
        if self.granularity == "block" and data.step_block is None:
            return f"block deletion needs step blocks; task {data.name!r} has none"
        return super().not_applicable(data)

    def curves(self, relevance: np.ndarray, data: TaskData, **context: Any) -> DeletionCurves:
        """The full deletion curves for ``data`` (context as for ``__call__``)."""
        require_model("deletion", context)
        reason = self.not_applicable(data)
        if reason:
            raise ValueError(reason)
        return self.erase("deletion", relevance, data, context, granularity=self.granularity)

    def __call__(self, relevance: np.ndarray, data: TaskData, **context: Any) -> np.ndarray:
        return deletion_area(self.curves(relevance, data, **context), self.normalise)


@METRICS.register("time_analysis")
class TimeAnalysis(ErasureMetric):
    """NeuroView's Time Analysis: accuracy after erasing the top-k relevant time steps.

    Barberan et al., "NeuroView-RNN: It's About Time" (FAccT 2022), zero the input at the
    top-K time steps ranked by the (class-mean) NeuroView weights and measure the accuracy
    (reported for Chinatown, NV-GRU: K = 0: 96.4, 1: 72.7, 5: 43.87, 10: 89.5). Here the steps
    of each sample are ranked by the explanation's summed relevance per step (ties at random,
    option ``seed``) and set to ``baseline`` (default the task's background: 0, the paper's
    zero, on standardised series). With the ``nv_weights`` explainer this is the paper's
    procedure (with per-sample contributions instead of the class-mean weights); with any
    other explainer the same counterfactual. Always defined: a constant or all-zero
    relevance erases steps in a random order.

    Levels: option ``ks`` (absolute step counts, e.g. the paper's ``[1, 5, 10]``) or
    ``fractions`` of the length T (default ``[0.05, 0.1, 0.2, 0.5]``; ``k = round(f * T)``,
    half up, at least 1); either is clipped to T. Per-sample score: the fraction of the levels
    at which the sample is still classified correctly; its mean is the mean accuracy after
    erasure, so lower is better. :meth:`score` also returns the curve ``{x: accuracy}`` with
    ``x`` the fraction (or k) and ``x = 0`` the accuracy of the unerased input. Needs the
    context ``model``; the chunk size follows option ``batch_size`` or the context's.
    """

    description = "accuracy after erasing the top-k relevant time steps (NeuroView time analysis)"
    higher_is_better = False
    curve_x = "erased steps (fraction of T)"  # the instance's: "erased steps" with ks
    curve_y = "accuracy"

    parameter_constraints = {
        "ks": [SequenceOf(Interval(int, 1, None), length=(1, None), unique=True), None],
        "fractions": [SequenceOf(Interval(float, 0, 1, closed="right"), length=(1, None),
                                 unique=True), None],
    }

    @classmethod
    def check_parameters(cls, options: dict[str, Any]) -> None:
        """``ks`` or ``fractions``, not both."""
        if options.get("ks") is not None and options.get("fractions") is not None:
            raise ValueError("time_analysis takes either ks (step counts) or fractions (of "
                             "the length), not both")

    def __init__(self, ks: Sequence[int] | None = None,
                 fractions: Sequence[float] | None = None,
                 baseline: float | str = "background", seed: int = 0,
                 batch_size: int | None = None, **options: Any):
        super().__init__(baseline=baseline, seed=seed, batch_size=batch_size, ks=ks,
                         fractions=fractions, **options)
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

    def steps(self, n_steps: int) -> list[int]:
        """The erased step count of each option value for sequences of ``n_steps`` steps."""
        if self.ks is not None:
            raw = self.ks
        else:
            raw = [max(1, int(np.floor(f * n_steps + 0.5))) for f in self.fractions]
        return [min(k, n_steps) for k in raw]

    def score(self, relevance: np.ndarray, data: TaskData, **context: Any
              ) -> tuple[np.ndarray, dict[float, float]]:
        require_model("time_analysis", context)
        ks = self.steps(data.X.shape[1])
        levels = sorted({0, *ks})
        curves = self.erase("time_analysis", relevance, data, context, levels=levels)
        correct = curves.correct[:, [levels.index(k) for k in ks]]  # (N, len(ks))
        xs = self.ks if self.ks is not None else self.fractions
        curve: dict[float, float] = {0 if self.ks is not None else 0.0: float(curves.accuracy[0])}
        curve.update({x: float(acc) for x, acc in zip(xs, correct.mean(axis=0), strict=True)})
        return correct.mean(axis=1), dict(sorted(curve.items()))

    def __call__(self, relevance: np.ndarray, data: TaskData, **context: Any) -> np.ndarray:
        return self.score(relevance, data, **context)[0]
