"""``run_suite()``: suite -> tasks -> trained models -> relevance -> scores -> results.

Two stages of independent jobs run in worker processes: *train* (one job per task x
architecture x fold not in the cache) and *score* (one job per model x explainer with a
metric not in the cache). Everything a run is told is checked before the first of them.
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from rnnxbench.config import RunConfig, load_config
from rnnxbench.engine.cache import Cache
from rnnxbench.engine.device import resolve_devices
from rnnxbench.engine.jobs import JobFailure, n_workers, run_jobs
from rnnxbench.harness.keys import explainer_key, metric_key
from rnnxbench.harness.locations import check_locations
from rnnxbench.harness.plan import ModelJob, ScoreJob, plan_models, plan_scoring, training_costs
from rnnxbench.harness.result import (
    SCORE_COLUMNS,
    RunResult,
    data_origin,
    data_summary,
    model_rows,
    score_rows,
)
from rnnxbench.harness.scoring import ScoreRecord, cached_records, score_job
from rnnxbench.harness.training import train_job
from rnnxbench.registry import REGISTRIES, TASKS, UnknownNameError
from rnnxbench.report.profiles import metric_curves, step_profiles
from rnnxbench.report.statistics import FAMILY_DESCRIPTION, explainer_ranks, paired_tests
from rnnxbench.report.tables import accuracy_summary, failure_summary, leaderboard
from rnnxbench.report.writers import RunTables, write_run
from rnnxbench.tasks.base import DataUnavailable, TaskData
from rnnxbench.validate import ANY, Interval, validate_params


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: what is cached so far is kept, and a rerun resumes from it."""

    def __init__(self, models: int, scores: int):
        self.models, self.scores = models, scores
        super().__init__(f"interrupted: {models} models and {scores} scores are cached; "
                         "rerun to resume")


@dataclass(frozen=True)
class RunOptions:
    """How :func:`run_suite` runs a suite (what it compares is the config's business)."""

    config: str | Path | None = None
    tasks: list[str] | None = None
    architectures: list[str] | None = None
    explainers: list[str] | None = None
    metrics: list[str] | None = None
    workers: int = 1
    device: str = "auto"
    seed: int = 0
    data_dir: str | Path | None = None
    cache_dir: str | Path | None = None
    results_dir: str | Path | None = "results"
    progress: bool = True
    profile_overrides: dict[str, Any] | None = None
    command: str | None = None
    baseline: str | None = None
    alpha: float = 0.05
    job_timeout: float | None = None


#: declared constraints of the numeric run options (checked before any compute)
RUN_PARAMETERS = {"workers": [Interval(int, 0, None, closed="left")],
                  "seed": [Interval(int, 0, 2**31 - 1, closed="both")],
                  "alpha": [Interval(float, 0, 1, closed="neither")],
                  "job_timeout": [Interval(float, 0, None, closed="neither"), None]}


def run_options(options: dict[str, Any]) -> RunOptions:
    """:class:`RunOptions` from keyword arguments, validated (unknown names, types, ranges)."""
    names = {f.name: [ANY] for f in fields(RunOptions)}
    validate_params(options, {**names, **RUN_PARAMETERS}, where="run options")
    opts = RunOptions(**options)
    cores = n_workers(0, 1 << 30)
    if opts.workers > cores:
        warnings.warn(f"--workers {opts.workers} is more than the {cores} CPU cores here; "
                      "jobs will compete for them", RuntimeWarning, stacklevel=3)
    return opts


def configure(suite: str | Path, profile: str | Path | None, opts: RunOptions) -> RunConfig:
    """The run's config with its baseline resolved: every component name, option and
    setting checked (ValueError naming the problem and the valid choices)."""
    cfg = load_config(suite, profile, config=opts.config, tasks=opts.tasks,
                      architectures=opts.architectures, explainers=opts.explainers,
                      metrics=opts.metrics, seed=opts.seed,
                      profile_overrides=opts.profile_overrides)
    for registry in REGISTRIES.values():  # a broken plugin is warned about once, here
        registry.load_plugins()
    return replace(cfg, baseline=resolve_baseline(cfg, opts.baseline))


def resolve_baseline(cfg: RunConfig, baseline: str | None) -> str:
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


def load_tasks(cfg: RunConfig, data_dir: str | None, progress: bool
               ) -> tuple[dict[str, TaskData], dict[str, str]]:
    """Every task's data, and the tasks skipped (no data here) with the reason."""
    loaded, skipped = {}, {}
    for entry in tqdm(cfg.tasks, desc="data", unit="task", disable=not progress):
        task = TASKS.get(entry.task)(**entry.options)
        try:
            loaded[entry.id] = task.build(entry.source, data_dir=data_dir,
                                          max_images=cfg.profile.max_images, seed=cfg.seed)
        except DataUnavailable as exc:
            skipped[entry.id] = str(exc)
            print(f"skipped task {entry.id}: {exc}", file=sys.stderr)
    if not loaded:
        raise DataUnavailable(f"no task of suite {cfg.suite!r} has data here: "
                              + "; ".join(skipped.values()))
    return loaded, skipped


def start_method_for(models: list[ModelJob]) -> str | None:
    """Spawned workers for CUDA jobs (CUDA must not be forked), else the runner's default."""
    return "spawn" if any(m.device.startswith("cuda") for m in models) else None


def train_models(models: list[ModelJob], data: dict[str, TaskData], cfg: RunConfig,
                 cache: Cache, opts: RunOptions) -> list[dict[str, Any]]:
    """Each model's metadata: from the cache, else trained in a worker (a job that failed
    or died gives ``status = "failed"`` and the reason)."""
    metas: list[dict[str, Any] | None] = []
    for job in models:
        hit = cache.load_model(job.model_hash)
        metas.append(None if hit is None else {**hit[1], "cached": True})
    todo = [i for i, m in enumerate(metas) if m is None]
    jobs = [models[i] for i in todo]
    costs = (training_costs(jobs, data, cfg) if n_workers(opts.workers, len(jobs)) > 1
             else None)
    out = run_jobs(train_job, [(j, cfg, str(cache.root)) for j in jobs], shared=data,
                   workers=opts.workers, desc="train", progress=opts.progress, costs=costs,
                   timeout=opts.job_timeout, method=start_method_for(jobs))
    for i, meta in zip(todo, out, strict=True):
        metas[i] = ({"status": "failed", "error": f"training failed: {meta.reason}",
                     "cached": False} if isinstance(meta, JobFailure) else meta)
    return metas  # type: ignore[return-value]


def score_models(models: list[ModelJob], metas: list[dict[str, Any]],
                 data: dict[str, TaskData], cfg: RunConfig, cache: Cache,
                 opts: RunOptions) -> list[tuple[ScoreJob, list[ScoreRecord]]]:
    """Every model x explainer's score records: from the cache, else computed in a worker
    (a job that died or timed out fails its explainer's metrics only)."""
    jobs = plan_scoring(cfg, models)
    meta_of = {m.model_hash: meta for m, meta in zip(models, metas, strict=True)}
    found = [cached_records(cache, job, cfg) for job in jobs]
    todo = [i for i, (_, missing) in enumerate(found) if missing]
    out = run_jobs(score_job, [(jobs[i], cfg, str(cache.root), meta_of[jobs[i].model.model_hash],
                                found[i][1]) for i in todo], shared=data,
                   workers=opts.workers, desc="explain+score", progress=opts.progress,
                   timeout=opts.job_timeout, method=start_method_for(models))
    computed = dict(zip(todo, out, strict=True))
    scored = []
    for i, (job, (hits, missing)) in enumerate(zip(jobs, found, strict=True)):
        new = computed.get(i, [])
        if isinstance(new, JobFailure):
            new = [ScoreRecord(job.explainer.id, m.id, "failed", error=new.reason)
                   for m in missing]
        by_metric = {r.metric: r for r in [*hits, *new]}
        scored.append((job, [by_metric[m.id] for m in cfg.metrics]))
    return scored


def cached_counts(cache: Cache, models: list[ModelJob], cfg: RunConfig) -> tuple[int, int]:
    """How many of the run's models and scores are in the cache now."""
    n_models = sum(cache.has_model(m.model_hash) for m in models)
    keys = [(explainer_key(e, cfg), metric_key(m)) for e in cfg.explainers for m in cfg.metrics]
    n_scores = sum(cache.has_score(m.model_hash, e, k) for m in models for e, k in keys)
    return n_models, n_scores


def run_suite(suite: str | Path = "maj", profile: str | Path | None = None,
              **options: Any) -> RunResult:
    """Run a benchmark suite; :func:`run` with the leaderboard, failures and provenance.

    ``options`` are :class:`RunOptions`. Every architecture is tested against ``baseline``
    (default: the suite's ``baseline`` if it is run, else the first architecture) with
    Holm-corrected paired t-tests at ``alpha``; explainers are ranked. Ctrl-C raises
    :class:`RunInterrupted` (what is cached stays cached).
    """
    clock = {"start": time.perf_counter()}
    opts = run_options(options)
    cfg = configure(suite, profile, opts)
    devices = resolve_devices(opts.device)
    check_locations(opts.results_dir, opts.cache_dir, opts.data_dir, cfg.suite)
    cache = Cache(opts.cache_dir)
    data, skipped = load_tasks(cfg, None if opts.data_dir is None else str(opts.data_dir),
                               opts.progress)
    clock["data"] = time.perf_counter()
    models = plan_models(cfg, data, devices)
    try:
        metas = train_models(models, data, cfg, cache, opts)
        clock["train"] = time.perf_counter()
        scored = score_models(models, metas, data, cfg, cache, opts)
        clock["score"] = time.perf_counter()
    except KeyboardInterrupt:
        raise RunInterrupted(*cached_counts(cache, models, cfg)) from None
    result = summarise(cfg, data, skipped, models, metas, scored, opts, devices, cache, clock)
    if opts.results_dir is not None:
        result.results_dir = write_run(Path(opts.results_dir) / cfg.suite, tables(result),
                                       result.info, clock["start"], workers=opts.workers)
    return result


def summarise(cfg: RunConfig, data: dict[str, TaskData], skipped: dict[str, str],
              models: list[ModelJob], metas: list[dict[str, Any]],
              scored: list[tuple[ScoreJob, list[ScoreRecord]]], opts: RunOptions,
              devices: list[str], cache: Cache, clock: dict[str, float]) -> RunResult:
    """The run's tables (leaderboard, tests, ranks, profiles, curves, accuracy) and
    provenance from its models and score records."""
    scores = score_rows(cfg, data, models, metas, scored)
    profiles, curves = step_profiles(scores), metric_curves(scores)
    scores = scores.drop(columns=["step_profile", "curve"], errors="ignore")
    rows = model_rows(models, metas)
    accuracy = accuracy_summary(pd.DataFrame(rows).assign(gate=[
        cfg.profile.gate(j.task.id, data_origin(data[j.task.id])) for j in models]))
    board = leaderboard(scores)
    tests = paired_tests(scores if cfg.baseline else scores.iloc[:0], cfg.baseline, opts.alpha)
    start = clock["start"]
    info = {"command": opts.command or f"rnnxbench.run({str(cfg.suite)!r}, profile="
                                       f"{cfg.profile.name!r})",
            "config": cfg.to_dict(), "config_hash": cfg.config_hash,
            "config_sources": cfg.sources, "devices": devices, "workers": opts.workers,
            "timings_seconds": {"data": clock["data"] - start,
                                "train": clock["train"] - clock["data"],
                                "score": clock["score"] - clock["train"],
                                "total": time.perf_counter() - start},
            "skipped_tasks": skipped, "cache_dir": str(cache.root),
            "models": {"trained": sum(not m.get("cached") for m in metas),
                       "from_cache": sum(bool(m.get("cached")) for m in metas)},
            "scores": {"computed": int((~scores["cached"].astype(bool)).sum()),
                       "from_cache": int(scores["cached"].astype(bool).sum())},
            "data": data_summary(data), "model_accuracy": rows, "baseline": cfg.baseline,
            "statistics": {"baseline": cfg.baseline, "alpha": opts.alpha,
                           "test": "paired t-test over folds (scipy.stats.ttest_rel), one-sided "
                                   "by higher_is_better, two-sided for descriptive metrics",
                           "correction": "holm", "family": FAMILY_DESCRIPTION}}
    return RunResult(scores, board, None, skipped, failure_summary(scores), info, tests,
                     explainer_ranks(board), cfg.baseline, profiles, curves, accuracy)


def tables(result: RunResult) -> RunTables:
    """The tables a results folder holds."""
    return RunTables(result.scores[SCORE_COLUMNS], result.leaderboard, result.tests,
                     result.explainer_ranks, result.step_profiles, result.curves,
                     result.accuracy)


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
