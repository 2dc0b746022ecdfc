"""The scoring job: one explainer's relevance on one trained model, scored by every metric.

A metric is called as ``metric.score(relevance, data, **context)`` with the fields of
:class:`MetricContext`; each result is a :class:`ScoreRecord`, cached unless it failed.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import torch

from rnnxbench.config import Component, RunConfig
from rnnxbench.engine.cache import Cache, JobCache, open_cache, set_aside
from rnnxbench.engine.device import denormals_flushed
from rnnxbench.explainers.base import unsupported_reason
from rnnxbench.harness.explained import explained_index, explained_key
from rnnxbench.harness.keys import explainer_key, init_options, metric_key, seed_of
from rnnxbench.harness.plan import ScoreJob, build_model, initial_model
from rnnxbench.metrics.aggregate import shares, step_relevance
from rnnxbench.metrics.base import DegenerateExplanation
from rnnxbench.registry import EXPLAINERS, METRICS
from rnnxbench.relevance import UnsupportedModel, cudnn_disabled
from rnnxbench.tasks.base import TaskData

#: how a score record ended: ``degenerate`` when the metric is undefined for the explanation
#: (e.g. an all-zero or constant map for a rank correlation), ``unsupported`` when the method
#: or metric does not apply to the model or task
STATUSES = ("ok", "failed", "unsupported", "degenerate")


@dataclass
class ScoreRecord:
    """One explainer x metric on one model: the mean score over the explained samples."""

    explainer: str
    metric: str
    status: str  # ok | failed | unsupported | degenerate
    value: float = float("nan")
    error: str = ""
    n_samples: int = 0
    #: explained samples with a defined (finite) value; ``value`` is their mean
    n_scored: int = 0
    explain_seconds: float = 0.0
    cached: bool = False
    higher_is_better: bool | None = None
    #: each step's mean share of the positive relevance (thesis Fig. 3.7)
    step_profile: list[float] = field(default_factory=list)
    #: ``{"x_label", "y_label", "points": [[x, y], ...]}`` for metrics with a curve
    curve: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoreRecord:
        """A record from its cached JSON (TypeError/ValueError when it is not one)."""
        names = {f.name for f in fields(cls)}
        record = cls(**{k: v for k, v in data.items() if k in names})
        if record.status not in STATUSES:
            raise ValueError(f"status {record.status!r}")
        return record


def relevance_of(explainer: Any, data: TaskData, batch: int, device: str,
                 options: dict[str, Any]) -> np.ndarray:
    """Relevance for every sample's true class, batch by batch, checked for shape and NaN."""
    out = []
    for start in range(0, len(data), batch):
        x = torch.as_tensor(data.X[start:start + batch], dtype=torch.float32, device=device)
        target = torch.as_tensor(data.y[start:start + batch], dtype=torch.long, device=device)
        rel = explainer.attribute(x, target=target, **options)
        if not isinstance(rel, torch.Tensor | np.ndarray):
            raise TypeError(f"attribute() returned {type(rel).__name__}, expected a tensor")
        rel = rel.detach().cpu().numpy() if isinstance(rel, torch.Tensor) else np.asarray(rel)
        if rel.shape != tuple(x.shape):
            raise ValueError(f"relevance has shape {rel.shape}, inputs {tuple(x.shape)}")
        if not np.isfinite(rel).all():
            raise ValueError(f"relevance has {int((~np.isfinite(rel)).sum())} NaN/inf values")
        out.append(rel.astype(np.float64))
    return np.concatenate(out)


def step_profile(relevance: np.ndarray) -> list[float]:
    """Each time step's mean share of the positive relevance (the thesis' Fig. 3.7)."""
    return shares(step_relevance(relevance, positive=True)).mean(axis=0).tolist()


@dataclass
class MetricContext:
    """What a metric may use besides the relevance (passed as keyword arguments).

    ``model`` is in eval mode on ``device``; ``explain(other_model)`` re-runs the same
    explainer (class and options) on the same samples for another model of the architecture
    (randomisation checks); ``initial_model(seed)`` builds a freshly initialised, untrained
    model of the architecture (None when unknown).
    """

    model: torch.nn.Module
    device: str
    batch_size: int
    explain: Callable[[torch.nn.Module], np.ndarray]
    initial_model: Callable[[int], torch.nn.Module] | None = None

    @classmethod
    def for_explainer(cls, model: torch.nn.Module, explainer_cls: type,
                      init: dict[str, Any], data: TaskData, batch: int, device: str,
                      attribute_options: dict[str, Any],
                      initial: Callable[[int], torch.nn.Module] | None = None
                      ) -> MetricContext:
        """The context of explainer ``explainer_cls(model, **init)`` on ``data``."""
        def explain(other: torch.nn.Module) -> np.ndarray:
            other.to(device).eval()
            try:
                with cudnn_disabled():
                    return relevance_of(explainer_cls(other, **init), data, batch, device,
                                        attribute_options)
            finally:  # an explainer may have switched modes or left gradients behind
                other.eval()
                other.zero_grad(set_to_none=True)

        return cls(model, device, batch, explain, initial)

    def as_kwargs(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def cached_records(cache: Cache, job: ScoreJob, cfg: RunConfig, data: TaskData
                   ) -> tuple[list[ScoreRecord], list[Component]]:
    """The job's records already in the cache, and the metrics still to compute."""
    ekey, hits, todo = explainer_key(job.explainer, cfg, explained_key(cfg, data)), [], []
    for met in cfg.metrics:
        key = metric_key(met)
        data = cache.load_score(job.model.model_hash, ekey, key)
        try:
            hits.append(ScoreRecord.from_dict(data) if data is not None else None)
        except (TypeError, ValueError) as exc:
            set_aside(cache.score_path(job.model.model_hash, ekey, key), f"not a score: {exc}")
            hits.append(None)
        if hits[-1] is None:
            hits.pop()
            todo.append(met)
    return hits, todo


def score_job(data: dict[str, TaskData], job: ScoreJob, cfg: RunConfig, cache_root: JobCache,
              model_meta: dict[str, Any], metrics: list[Component]) -> list[ScoreRecord]:
    """Explain one model with one explainer and score ``metrics``; ok and unsupported
    records are cached. Denormal floats are flushed to zero meanwhile, as in training."""
    cache = open_cache(cache_root)
    torch.manual_seed(seed_of(job.model.model_hash, job.explainer.id))  # whatever the worker
    with denormals_flushed():
        records = _score(data[job.model.task.id], job, cfg, cache, model_meta, metrics)
    ekey = explainer_key(job.explainer, cfg, explained_key(cfg, data[job.model.task.id]))
    for met, rec in zip(metrics, records, strict=True):
        if rec.status != "failed":
            cache.save_score(job.model.model_hash, ekey, metric_key(met),
                             {**rec.to_dict(), "cached": True})
    return records


def _score(data: TaskData, job: ScoreJob, cfg: RunConfig, cache: Cache,
           model_meta: dict[str, Any], metrics: list[Component]) -> list[ScoreRecord]:
    exp, mjob = job.explainer, job.model
    test = data.subset(explained_index(mjob, data, cfg))

    def every(status: str, error: str, seconds: float = 0.0) -> list[ScoreRecord]:
        return [ScoreRecord(exp.id, m.id, status, error=error, n_samples=len(test),
                            explain_seconds=seconds) for m in metrics]

    if model_meta.get("status") != "ok":
        return every("failed", model_meta.get("error", "no model"))
    stored = cache.load_model(mjob.model_hash)
    if stored is None:
        return every("failed", "the trained model is no longer in the cache")
    model = build_model(data, mjob.architecture)
    model.load_state_dict(stored[0])
    model.to(mjob.device).eval()
    cls = EXPLAINERS.get(exp.name)
    reason = unsupported_reason(cls, model)
    if reason:
        return every("unsupported", reason)
    context = MetricContext.for_explainer(
        model, cls, init_options(exp), test, cfg.profile.explain_batch, mjob.device,
        exp.options.get("attribute", {}), functools.partial(initial_model, data,
                                                             mjob.architecture))
    start = time.perf_counter()
    try:
        rel = context.explain(model)
    except UnsupportedModel as exc:  # the method has no faithful rule for this model
        return every("unsupported", str(exc))
    except Exception as exc:  # noqa: BLE001 - a failing explainer is recorded
        return every("failed", f"{type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - start
    profile = step_profile(rel)
    return [_metric_record(met, rel, test, context, exp.id, seconds, profile)
            for met in metrics]


def _metric_record(met: Component, rel: np.ndarray, test: TaskData, context: MetricContext,
                   explainer: str, seconds: float, profile: list[float]) -> ScoreRecord:
    """One metric's record: its mean score, or why it did not score."""
    metric = METRICS.get(met.name)(**met.options)
    direction = getattr(metric, "higher_is_better", True)
    rec = ScoreRecord(explainer, met.id, "ok", n_samples=len(test), explain_seconds=seconds,
                      higher_is_better=None if direction is None else bool(direction),
                      step_profile=profile)
    reason = metric.not_applicable(test)
    if reason:
        rec.status, rec.error = "unsupported", reason
        return rec
    try:
        scorer = getattr(metric, "score", None)  # plugins may only be callable
        kwargs = context.as_kwargs()
        values, curve = (scorer(rel, test, **kwargs) if callable(scorer)
                         else (metric(rel, test, **kwargs), None))
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(test),):
            raise ValueError(f"metric returned shape {values.shape}, expected ({len(test)},)")
        finite = np.isfinite(values)
        rec.n_scored = int(finite.sum())
        if not finite.any():
            raise DegenerateExplanation(f"undefined (not finite) for all {len(test)} samples")
        rec.value = float(values[finite].mean())
        if curve:
            rec.curve = {"x_label": metric.curve_x, "y_label": metric.curve_y,
                         "points": [[float(x), float(y)] for x, y in curve.items()]}
    except DegenerateExplanation as exc:  # the metric has no value for this explanation
        rec.status, rec.error = "degenerate", str(exc)
    except Exception as exc:  # noqa: BLE001 - a failing metric is recorded
        rec.status, rec.error = "failed", f"{type(exc).__name__}: {exc}"
    return rec
