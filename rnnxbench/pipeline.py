"""``run()``: suite -> tasks -> trained models -> relevance -> scores -> results.

Two stages of independent jobs: *train* (task x architecture x fold; skipped when the
model is cached) and *score* (one job per model: every explainer x metric not yet cached).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from rnnxbench.config import Component, RunConfig, TaskEntry, load_config, stable_hash
from rnnxbench.engine.cache import Cache
from rnnxbench.engine.device import denormals_flushed, resolve_devices
from rnnxbench.engine.folds import task_splits
from rnnxbench.engine.jobs import forward_flops, n_workers, run_jobs
from rnnxbench.engine.train import accuracy, train_model
from rnnxbench.explainers.base import unsupported_reason
from rnnxbench.metrics.aggregate import shares, step_relevance
from rnnxbench.registry import ARCHITECTURES, EXPLAINERS, METRICS, TASKS, UnknownNameError
from rnnxbench.relevance.engine import UnsupportedModel, cudnn_disabled
from rnnxbench.tasks.base import DataUnavailable, TaskData

SCORE_COLUMNS = ["suite", "task", "data_source", "n_images", "architecture", "explainer",
                 "metric", "fold", "value", "accuracy", "gate", "gate_passed", "status",
                 "error", "higher_is_better", "n_samples", "seed", "model_hash"]

#: bump when a change to training or scoring code invalidates cached results
CACHE_VERSION = 2


@dataclass
class ModelJob:
    """One (task, architecture, fold) model: what defines it and where it is cached."""

    task: TaskEntry
    architecture: Component
    fold: int
    seed: int
    model_hash: str
    device: str
    train_index: np.ndarray = field(repr=False)
    test_index: np.ndarray = field(repr=False)


@functools.cache
def _module_source_hash(module_name: str) -> str:
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    try:
        return hashlib.sha256(inspect.getsource(module).encode()).hexdigest()[:12]
    except (OSError, TypeError):  # no source (e.g. compiled): fall back to the version
        return str(getattr(module, "__version__", ""))


def code_version(*objects: Any) -> list[str]:
    """Hashes of the source modules that define ``objects`` (classes or module names):
    part of every cache key, so changed code is never served from a stale cache."""
    names: list[str] = []
    for o in objects:  # a class depends on the modules of its whole inheritance chain
        names += [o] if isinstance(o, str) else [c.__module__ for c in o.__mro__
                                                  if c.__module__.startswith("rnnxbench")
                                                  or c is o]
    return [_module_source_hash(n) for n in sorted(set(names))]


#: the code a trained model depends on besides its architecture's own module
TRAINING_CODE = ("rnnxbench.engine.train", "rnnxbench.engine.device", "rnnxbench.models.loss",
                 "rnnxbench.models.layers", "rnnxbench.models.base")
#: the code every relevance explainer depends on
RELEVANCE_CODE = ("rnnxbench.relevance.rules", "rnnxbench.relevance.engine",
                  "rnnxbench.relevance.functions", "rnnxbench.relevance.cells")


def _seed_of(*parts: Any) -> int:
    return int(stable_hash(list(parts), length=8), 16) % (2**31 - 1)


def _build_model(data: TaskData, arch: Component) -> torch.nn.Module:
    cls = ARCHITECTURES.get(arch.name)
    reason = cls.check_input(data.spec) if hasattr(cls, "check_input") else None
    if reason:
        raise ValueError(f"architecture {arch.id!r} cannot take task {data.name!r}: {reason}")
    return cls(data.spec, **arch.options)


def _training(cfg: RunConfig, arch: Component, task: TaskEntry) -> dict[str, Any]:
    """The training settings of one architecture on one task (profile defaults + the
    architecture's, then the task's overrides)."""
    return cfg.profile.training_for(arch.id, arch.name, task.id, task.task)


def _initial_model(data: TaskData, arch: Component, seed: int) -> torch.nn.Module:
    """A freshly initialised (untrained) model of ``arch``, seeded, global RNG untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _build_model(data, arch).eval()


def _training_costs(jobs: list[ModelJob], data: dict[str, TaskData],
                    cfg: RunConfig) -> list[float]:
    """Estimated work of each training job: forward FLOPs x sequences x epochs."""
    flops: dict[tuple[str, str], float] = {}
    costs = []
    for job in jobs:
        key = (job.task.id, job.architecture.id)
        if key not in flops:
            d = data[job.task.id]
            try:
                model = _build_model(d, job.architecture)
                example = torch.as_tensor(d.X[:1], dtype=torch.float32)
                flops[key] = float(forward_flops(model, example))
            except Exception:  # noqa: BLE001 - the training job reports the error itself
                flops[key] = 0.0
        costs.append(flops[key] * len(job.train_index)
                     * _training(cfg, job.architecture, job.task)["epochs"])
    return costs


def train_job(job: ModelJob, data: TaskData, cfg: RunConfig, cache_root: str) -> dict[str, Any]:
    """Train one model (or read it from the cache) and return its metadata."""
    cache = Cache(cache_root)
    if cache.has_model(job.model_hash):
        _, meta = cache.load_model(job.model_hash)
        return {**meta, "cached": True}
    settings = _training(cfg, job.architecture, job.task)
    start = time.perf_counter()
    try:
        torch.manual_seed(job.seed)
        model = _build_model(data, job.architecture)
        losses = train_model(model, data.X[job.train_index], data.y[job.train_index],
                             **settings, seed=job.seed, device=job.device)
        acc = accuracy(model, data.X[job.test_index], data.y[job.test_index], job.device)
    except Exception as exc:  # noqa: BLE001 - a failed model becomes failed rows
        return {"status": "failed", "error": f"training failed: {type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(), "cached": False}
    meta = {"status": "ok", "accuracy": acc, "losses": losses, "n_parameters":
            sum(p.numel() for p in model.parameters()), "train_seconds":
            time.perf_counter() - start, "n_train": int(len(job.train_index)),
            "n_test": int(len(job.test_index)), "training": settings,
            "architecture": job.architecture.name,
            "options": job.architecture.options, "task": job.task.id, "fold": job.fold}
    cache.save_model(job.model_hash, model.state_dict(), meta)
    return {**meta, "cached": False}


def _init_options(comp: Component) -> dict[str, Any]:
    """An explainer component's constructor options (``attribute`` goes to ``attribute()``)."""
    return {k: v for k, v in comp.options.items() if k != "attribute"}


def _explainer_key(comp: Component, cfg: RunConfig) -> str:
    cls = EXPLAINERS.get(comp.name)
    deps = getattr(cls, "code_dependencies", None)  # e.g. tsr's base explainer
    others = deps(_init_options(comp)) if callable(deps) else ()
    return stable_hash([comp.name, comp.options, f"{cls.__module__}.{cls.__qualname__}",
                        cfg.profile.explain_samples, CACHE_VERSION,
                        code_version(cls, *others, *RELEVANCE_CODE)])


def _metric_key(comp: Component) -> str:
    cls = METRICS.get(comp.name)
    return stable_hash([comp.name, comp.options, f"{cls.__module__}.{cls.__qualname__}",
                        CACHE_VERSION, code_version(cls, "rnnxbench.metrics.aggregate")])


def _relevance(explainer: Any, data: TaskData, batch: int, device: str,
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


def metric_context(model: torch.nn.Module, explainer_cls: type, init: dict[str, Any],
                   data: TaskData, batch: int, device: str,
                   attribute_options: dict[str, Any],
                   initial_model: Callable[[int], torch.nn.Module] | None = None
                   ) -> dict[str, Any]:
    """What a metric may use besides the relevance (all keyword arguments of its call).

    ``model`` (eval mode, on ``device``), ``device``, ``batch_size``, ``explain``:
    ``explain(other_model)`` re-runs the same explainer (class and options) on ``data`` for
    another model of the same architecture and returns its relevance (randomisation checks),
    and ``initial_model(seed)``: a freshly initialised, untrained model of the architecture
    (None when unknown).
    """
    def explain(other: torch.nn.Module) -> np.ndarray:
        other.to(device).eval()
        try:
            with cudnn_disabled():
                return _relevance(explainer_cls(other, **init), data, batch, device,
                                  attribute_options)
        finally:  # an explainer may have switched modes or left gradients behind
            other.eval()
            other.zero_grad(set_to_none=True)

    return {"model": model, "device": device, "batch_size": batch, "explain": explain,
            "initial_model": initial_model}


def score_job(job: ModelJob, data: TaskData, cfg: RunConfig, cache_root: str,
              model_meta: dict[str, Any]) -> list[dict[str, Any]]:
    """Score one trained model with every explainer x metric; cached results are reused.

    Denormal floats are flushed to zero meanwhile, as in training."""
    with denormals_flushed():
        return _score_job(job, data, cfg, cache_root, model_meta)


def _score_job(job: ModelJob, data: TaskData, cfg: RunConfig, cache_root: str,
               model_meta: dict[str, Any]) -> list[dict[str, Any]]:
    cache = Cache(cache_root)
    prof = cfg.profile
    test = data.subset(job.test_index)
    if prof.explain_samples:
        test = test.subset(np.arange(min(prof.explain_samples, len(test))))
    records: list[dict[str, Any]] = []
    model = None

    def record(exp: Component, met: Component, status: str, value: float = float("nan"),
               error: str = "", seconds: float = 0.0) -> dict[str, Any]:
        return {"explainer": exp.id, "metric": met.id, "status": status, "value": value,
                "error": error, "n_samples": len(test), "explain_seconds": seconds,
                "cached": False}

    for exp in cfg.explainers:
        ekey = _explainer_key(exp, cfg)
        todo = []
        for met in cfg.metrics:
            hit = cache.load_score(job.model_hash, ekey, _metric_key(met))
            if hit is not None:
                records.append(hit)
            else:
                todo.append(met)
        if not todo:
            continue
        if model_meta.get("status") != "ok":
            records += [record(exp, m, "failed", error=model_meta.get("error", "no model"))
                        for m in todo]
            continue
        if model is None:
            model = _build_model(data, job.architecture)
            model.load_state_dict(cache.load_model(job.model_hash)[0])
            model.to(job.device).eval()
        cls = EXPLAINERS.get(exp.name)
        reason = unsupported_reason(cls, model)
        if reason:
            for met in todo:
                records.append(record(exp, met, "unsupported", error=reason))
            continue
        context = metric_context(model, cls, _init_options(exp), test, prof.explain_batch,
                                 job.device, exp.options.get("attribute", {}),
                                 functools.partial(_initial_model, data, job.architecture))
        start = time.perf_counter()
        try:
            rel = context["explain"](model)
        except UnsupportedModel as exc:  # the method has no faithful rule for this model
            records += [record(exp, m, "unsupported", error=str(exc)) for m in todo]
            continue
        except Exception as exc:  # noqa: BLE001 - a failing explainer is recorded
            err = f"{type(exc).__name__}: {exc}"
            records += [record(exp, m, "failed", error=err) for m in todo]
            continue
        seconds = time.perf_counter() - start
        profile = step_profile(rel)
        for met in todo:
            metric = METRICS.get(met.name)(**met.options)
            reason = metric.not_applicable(test)
            if reason:
                rec = record(exp, met, "unsupported", error=reason, seconds=seconds)
            else:
                try:
                    scorer = getattr(metric, "score", None)  # plugins may only be callable
                    values, curve = (scorer(rel, test, **context) if callable(scorer)
                                     else (metric(rel, test, **context), None))
                    values = np.asarray(values, dtype=np.float64)
                    if values.shape != (len(test),):
                        raise ValueError(f"metric returned shape {values.shape}, "
                                         f"expected ({len(test)},)")
                    rec = record(exp, met, "ok", float(np.nanmean(values)), seconds=seconds)
                    if curve:
                        rec["curve"] = {"x_label": metric.curve_x, "y_label": metric.curve_y,
                                        "points": [[float(x), float(y)]
                                                   for x, y in curve.items()]}
                except Exception as exc:  # noqa: BLE001
                    rec = record(exp, met, "failed", error=f"{type(exc).__name__}: {exc}",
                                 seconds=seconds)
            direction = getattr(metric, "higher_is_better", True)
            rec["higher_is_better"] = None if direction is None else bool(direction)
            rec["step_profile"] = profile
            if rec["status"] != "failed":
                cache.save_score(job.model_hash, ekey, _metric_key(met), {**rec, "cached": True})
            records.append(rec)
    return records


@dataclass
class RunResult:
    """What :func:`run` produced besides the scores table."""

    scores: pd.DataFrame
    leaderboard: pd.DataFrame
    results_dir: Path | None
    skipped: dict[str, str]
    failures: pd.DataFrame
    info: dict[str, Any]
    #: paired t-tests of every architecture against ``baseline`` (tests.csv)
    tests: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: mean rank of each explainer over architectures per task x metric (explainer_ranks.csv)
    explainer_ranks: pd.DataFrame = field(default_factory=pd.DataFrame)
    baseline: str = ""
    #: each time step's mean share of the positive relevance per task x architecture x
    #: explainer x fold (step_profile.csv; the thesis' Fig. 3.7)
    step_profiles: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: curve points of metrics with a curve (e.g. time_analysis) per task x architecture x
    #: explainer x metric x fold (curves.csv)
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: test accuracy per task x architecture over folds (accuracy.csv)
    accuracy: pd.DataFrame = field(default_factory=pd.DataFrame)


def _load_tasks(cfg: RunConfig, data_dir: str | None, progress: bool
                ) -> tuple[dict[str, TaskData], dict[str, str]]:
    from tqdm.auto import tqdm

    loaded, skipped = {}, {}
    for entry in tqdm(cfg.tasks, desc="data", unit="task", disable=not progress):
        task = TASKS.get(entry.task)(**entry.options)
        try:
            loaded[entry.id] = task.build(entry.source, data_dir=data_dir,
                                          max_images=cfg.profile.max_images, seed=cfg.seed)
        except DataUnavailable as exc:
            skipped[entry.id] = str(exc)
    return loaded, skipped


def run_suite(suite: str | Path = "maj", profile: str | Path | None = None, *,
        config: str | Path | None = None, tasks: list[str] | None = None,
        architectures: list[str] | None = None, explainers: list[str] | None = None,
        metrics: list[str] | None = None, workers: int = 1, device: str = "auto",
        seed: int = 0, data_dir: str | Path | None = None,
        cache_dir: str | Path | None = None, results_dir: str | Path | None = "results",
        progress: bool = True, profile_overrides: dict[str, Any] | None = None,
        command: str | None = None, baseline: str | None = None,
        alpha: float = 0.05) -> RunResult:
    """Run a benchmark suite; :func:`run` with the leaderboard, failures and provenance.

    Also tests every architecture against ``baseline`` (default: the suite's ``baseline``
    if it is run, else the first architecture) with Holm-corrected paired t-tests at
    ``alpha`` and ranks the explainers; written as tests.csv and explainer_ranks.csv.
    """

    from rnnxbench.report.provenance import write_results
    from rnnxbench.report.statistics import FAMILY_DESCRIPTION, explainer_ranks, paired_tests
    from rnnxbench.report.tables import accuracy_summary, failure_summary, leaderboard

    t0 = time.perf_counter()
    cfg = load_config(suite, profile, config=config, tasks=tasks, architectures=architectures,
                      explainers=explainers, metrics=metrics, seed=seed,
                      profile_overrides=profile_overrides)
    cfg = replace(cfg, baseline=_resolve_baseline(cfg, baseline))
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    devices = resolve_devices(device)
    cache = Cache(cache_dir)
    timings: dict[str, float] = {}

    data, skipped = _load_tasks(cfg, None if data_dir is None else str(data_dir), progress)
    for task_id, why in skipped.items():
        print(f"skipped task {task_id}: {why}", file=sys.stderr)
    if not data:
        raise DataUnavailable("no task of suite "
                              f"{cfg.suite!r} has data here: " + "; ".join(skipped.values()))
    timings["data"] = time.perf_counter() - t0

    jobs: list[ModelJob] = []
    for entry in cfg.tasks:
        if entry.id not in data:
            continue
        d = data[entry.id]
        folds = task_splits(d.y, cfg.profile.fold_ids(), cfg.profile.n_folds,
                            cfg.profile.cv_seed, d.test_split)
        # with the data set's own split the folds are repeats: k-fold settings do not matter
        split = ({"split": "own"} if d.test_split is not None else
                 {"n_folds": cfg.profile.n_folds, "cv_seed": cfg.profile.cv_seed})
        for arch in cfg.architectures:
            for fold in cfg.profile.fold_ids():
                definition = {"task": entry.id, "task_def": [entry.task, entry.source,
                              entry.options], "data": d.fingerprint(), "arch": arch.name,
                              "options": arch.options, "fold": fold, **split,
                              **_training(cfg, arch, entry), "seed": cfg.seed,
                              "version": CACHE_VERSION, "code": code_version(
                                  ARCHITECTURES.get(arch.name), *TRAINING_CODE)}
                train_idx, test_idx = folds[fold]
                jobs.append(ModelJob(entry, arch, fold, _seed_of(cfg.seed, entry.id, arch.id,
                                     fold), Cache.key(definition),
                                     devices[len(jobs) % len(devices)], train_idx, test_idx))

    t1 = time.perf_counter()
    metas = run_jobs(train_job, [(j, data[j.task.id], cfg, str(cache.root)) for j in jobs],
                     workers=workers, desc="train", progress=progress,
                     costs=_training_costs(jobs, data, cfg) if n_workers(workers, len(jobs)) > 1
                     else None)
    timings["train"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    scored = run_jobs(score_job, [(j, data[j.task.id], cfg, str(cache.root), m)
                                  for j, m in zip(jobs, metas, strict=True)],
                      workers=workers, desc="explain+score", progress=progress)
    timings["score"] = time.perf_counter() - t2

    rows = []
    for job, meta, records in zip(jobs, metas, scored, strict=True):
        d = data[job.task.id]
        gate = cfg.profile.gate(job.task.id, d.source.split(":")[0])
        acc = meta.get("accuracy", float("nan"))
        for rec in records:
            rows.append({"suite": cfg.suite, "task": job.task.id,
                         "data_source": f"{job.task.source}:{d.source.split(':')[0]}",
                         "n_images": d.n_images, "architecture": job.architecture.id,
                         "fold": job.fold, "accuracy": acc, "gate": gate,
                         "gate_passed": bool(acc >= gate), "seed": cfg.seed,
                         "model_hash": job.model_hash, **rec})
    scores = _ordered(pd.DataFrame(rows), cfg)
    profiles, curves = step_profiles(scores), metric_curves(scores)
    scores = scores.drop(columns=["step_profile", "curve"], errors="ignore")
    model_rows = _accuracy_table(jobs, metas)
    accuracy = accuracy_summary(pd.DataFrame(model_rows).assign(gate=[
        cfg.profile.gate(j.task.id, data[j.task.id].source.split(":")[0]) for j in jobs]))
    board = leaderboard(scores)
    failures = failure_summary(scores)
    tests = paired_tests(scores if cfg.baseline else scores.iloc[:0], cfg.baseline, alpha)
    ranks = explainer_ranks(board)
    timings["total"] = time.perf_counter() - t0
    info = {"command": command or _python_command(suite, profile), "config": cfg.to_dict(),
            "config_hash": cfg.config_hash, "config_sources": cfg.sources,
            "devices": devices, "workers": workers, "timings_seconds": timings,
            "skipped_tasks": skipped, "cache_dir": str(cache.root),
            "models": {"trained": sum(not m.get("cached") for m in metas),
                       "from_cache": sum(bool(m.get("cached")) for m in metas)},
            "scores": {"computed": int((~scores["cached"]).sum()),
                       "from_cache": int(scores["cached"].sum())},
            "data": {k: {"source": v.source, "n_images": v.n_images, "n_sequences": len(v),
                         "split": "k-fold" if v.test_split is None else
                         f"own: {int((~v.test_split).sum())} train / "
                         f"{int(v.test_split.sum())} test, folds are repeats"}
                     for k, v in data.items()},
            "model_accuracy": model_rows, "baseline": cfg.baseline,
            "statistics": {"baseline": cfg.baseline, "alpha": alpha,
                           "test": "paired t-test over folds (scipy.stats.ttest_rel), one-sided "
                                   "by higher_is_better, two-sided for descriptive metrics",
                           "correction": "holm", "family": FAMILY_DESCRIPTION}}
    out_dir = None
    if results_dir is not None:
        t3 = time.perf_counter()
        _write_statistics(scores, tests, ranks, Path(results_dir) / cfg.suite, info)
        _write_step_profiles(profiles, Path(results_dir) / cfg.suite, info)
        _write_curves(curves, Path(results_dir) / cfg.suite, info)
        _write_accuracy(accuracy, Path(results_dir) / cfg.suite, info)
        out_dir = write_results(scores[SCORE_COLUMNS], board, cfg, info,
                                Path(results_dir) / cfg.suite, clock=(t0, t3))
    return RunResult(scores, board, out_dir, skipped, failures, info, tests, ranks,
                     cfg.baseline, profiles, curves, accuracy)


def run(suite: str | Path = "maj", profile: str | Path | None = None,
        **options: Any) -> pd.DataFrame:
    """Run a benchmark suite and return its scores (one row per fold and metric).

    ``suite``/``profile`` are names of packaged TOML files or paths to your own; keyword
    options as :func:`run_suite` (``tasks``, ``architectures``, ``explainers``,
    ``metrics`` select or add components by name; ``workers``, ``device``, ``seed``,
    ``data_dir``, ``cache_dir``, ``results_dir`` -- results go to
    ``results_dir/<suite>/``, None writes nothing). ``scores.attrs`` records the results
    folder, the config hash and skipped tasks; :func:`run_suite` returns everything.

    >>> scores = rnnxbench.run("digits", profile="smoke")  # doctest: +SKIP
    >>> scores.groupby(["architecture", "explainer", "metric"])["value"].mean()  # doctest: +SKIP
    """
    result = run_suite(suite, profile, **options)
    scores = result.scores.copy()
    scores.attrs.update(results_dir=None if result.results_dir is None
                        else str(result.results_dir), config_hash=result.info["config_hash"],
                        skipped=dict(result.skipped))
    return scores


def _accuracy_table(jobs: list[ModelJob], metas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"task": j.task.id, "architecture": j.architecture.id, "fold": j.fold,
             "accuracy": m.get("accuracy"), "status": m.get("status"),
             "train_seconds": m.get("train_seconds"), "training": m.get("training"),
             "model_hash": j.model_hash}
            for j, m in zip(jobs, metas, strict=True)]


def _ordered(scores: pd.DataFrame, cfg: RunConfig) -> pd.DataFrame:
    """Rows in suite order (task, architecture, explainer, metric, fold)."""
    if scores.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS + ["cached", "explain_seconds"])
    orders = {"task": [t.id for t in cfg.tasks],
              "architecture": [a.id for a in cfg.architectures],
              "explainer": [e.id for e in cfg.explainers], "metric": [m.id for m in cfg.metrics]}
    keys = [scores[col].map({v: i for i, v in enumerate(vals)}) for col, vals in orders.items()]
    frame = scores.assign(**{f"_k{i}": k for i, k in enumerate(keys)})
    frame = frame.sort_values([f"_k{i}" for i in range(len(keys))] + ["fold"], kind="stable")
    frame = frame.drop(columns=[f"_k{i}" for i in range(len(keys))]).reset_index(drop=True)
    for col in SCORE_COLUMNS:
        if col not in frame:
            frame[col] = np.nan
    frame["error"] = frame["error"].fillna("")
    return frame


def _python_command(suite: Any, profile: Any) -> str:
    return f"rnnxbench.run({str(suite)!r}, profile={profile!r})"


def _resolve_baseline(cfg: RunConfig, baseline: str | None) -> str:
    """The architecture id the others are tested against.

    An explicit ``baseline`` must be one of the run's architectures (else
    :class:`UnknownNameError`); by default the suite's ``baseline`` if it is run, else the
    first architecture ('' when there is none).
    """
    ids = [a.id for a in cfg.architectures]
    if baseline is not None:
        if baseline not in ids:
            raise UnknownNameError("baseline architecture", baseline, ids)
        return baseline
    if cfg.baseline in ids:
        return cfg.baseline
    if cfg.baseline and len(ids) > 1:
        print(f"baseline {cfg.baseline!r} of suite {cfg.suite!r} is not run; testing against "
              f"{ids[0]!r}", file=sys.stderr)
    return ids[0] if ids else ""


def _write_statistics(scores: pd.DataFrame, tests: pd.DataFrame, ranks: pd.DataFrame,
                      out_dir: Path, info: dict[str, Any]) -> None:
    """tests.csv, explainer_ranks.csv and one ``<metric>_folds.png`` per metric with ok
    folds in ``out_dir``; figure names (and errors) are recorded in ``info``."""
    from rnnxbench.report.figures import plot_folds

    out_dir.mkdir(parents=True, exist_ok=True)
    tests.to_csv(out_dir / "tests.csv", index=False, float_format="%.10g")
    ranks.to_csv(out_dir / "explainer_ranks.csv", index=False, float_format="%.10g")
    info["fold_figures"] = []
    for metric in dict.fromkeys(scores["metric"]):
        if not ((scores["metric"] == metric) & (scores["status"] == "ok")).any():
            continue
        name = f"{metric}_folds.png"
        try:
            info["fold_figures"].append(plot_folds(scores, out_dir / name, metric).name)
        except Exception as exc:  # noqa: BLE001 - a figure must not lose computed results
            info.setdefault("figure_errors", {})[name] = f"{type(exc).__name__}: {exc}"



STEP_PROFILE_COLUMNS = ["task", "architecture", "explainer", "fold", "step", "share"]


def step_profiles(scores: pd.DataFrame) -> pd.DataFrame:
    """Long table of each (task, architecture, explainer, fold)'s mean share per time step."""
    if "step_profile" not in scores or scores.empty:
        return pd.DataFrame(columns=STEP_PROFILE_COLUMNS)
    keys = ["task", "architecture", "explainer", "fold"]
    have = scores[scores["step_profile"].map(lambda p: isinstance(p, list) and len(p) > 0)]
    first = have.drop_duplicates(keys)[[*keys, "step_profile"]]
    long = first.explode("step_profile").rename(columns={"step_profile": "share"})
    long["step"] = long.groupby(keys, sort=False).cumcount()
    long["share"] = long["share"].astype(float)
    return long[STEP_PROFILE_COLUMNS].reset_index(drop=True)


def _write_step_profiles(profiles: pd.DataFrame, out_dir: Path, info: dict[str, Any]) -> None:
    """step_profile.csv and one ``step_profile_<task>.png`` per task (thesis Fig. 3.7)."""
    from rnnxbench.report.figures import plot_step_profile

    out_dir.mkdir(parents=True, exist_ok=True)
    profiles.to_csv(out_dir / "step_profile.csv", index=False, float_format="%.10g")
    info["step_profile_figures"] = []
    for task in dict.fromkeys(profiles["task"]):
        name = f"step_profile_{task}.png"
        try:
            info["step_profile_figures"].append(
                plot_step_profile(profiles, out_dir / name, task).name)
        except Exception as exc:  # noqa: BLE001 - a figure must not lose computed results
            info.setdefault("figure_errors", {})[name] = f"{type(exc).__name__}: {exc}"


CURVE_COLUMNS = ["task", "architecture", "explainer", "metric", "fold", "x", "y", "x_label",
                 "y_label"]


def metric_curves(scores: pd.DataFrame) -> pd.DataFrame:
    """Long table of the curve points of metrics that have curves (``Metric.score``)."""
    if "curve" not in scores or scores.empty:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    rows = []
    for rec in scores[scores["curve"].map(lambda c: isinstance(c, dict))].itertuples():
        for x, y in rec.curve["points"]:
            rows.append({"task": rec.task, "architecture": rec.architecture,
                         "explainer": rec.explainer, "metric": rec.metric, "fold": rec.fold,
                         "x": x, "y": y, "x_label": rec.curve["x_label"],
                         "y_label": rec.curve["y_label"]})
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def _write_curves(curves: pd.DataFrame, out_dir: Path, info: dict[str, Any]) -> None:
    """curves.csv and one ``<metric>_curve_<task>.png`` per metric x task with curves."""
    from rnnxbench.report.figures import plot_curves

    if curves.empty:
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    curves.to_csv(out_dir / "curves.csv", index=False, float_format="%.10g")
    info["curve_figures"] = []
    for metric, task in dict.fromkeys(zip(curves["metric"], curves["task"], strict=True)):
        name = f"{metric}_curve_{task}.png"
        try:
            info["curve_figures"].append(plot_curves(curves, out_dir / name, task, metric).name)
        except Exception as exc:  # noqa: BLE001 - a figure must not lose computed results
            info.setdefault("figure_errors", {})[name] = f"{type(exc).__name__}: {exc}"


def _write_accuracy(accuracy: pd.DataFrame, out_dir: Path, info: dict[str, Any]) -> None:
    """accuracy.csv (test accuracy per task x architecture) and accuracy.png."""
    from rnnxbench.report.figures import plot_accuracy

    out_dir.mkdir(parents=True, exist_ok=True)
    accuracy.to_csv(out_dir / "accuracy.csv", index=False, float_format="%.10g")
    try:
        info["accuracy_figure"] = plot_accuracy(accuracy, out_dir / "accuracy.png").name
    except Exception as exc:  # noqa: BLE001 - a figure must not lose computed results
        info.setdefault("figure_errors", {})["accuracy.png"] = f"{type(exc).__name__}: {exc}"
