"""``run_suite()``: suite -> tasks -> trained models -> relevance -> scores -> results.

Everything a run is told is checked first (options, config, folders); then the stages of
:mod:`rnnxbench.harness.stages` run in order, :func:`~rnnxbench.harness.result.summarise`
makes the tables, and :mod:`rnnxbench.report.writers` publishes them.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from rnnxbench.config import RunConfig, load_config
from rnnxbench.engine.cache import Cache
from rnnxbench.engine.device import resolve_devices
from rnnxbench.harness.exploration import EXPLORED_FOLD
from rnnxbench.harness.locations import check_locations
from rnnxbench.harness.options import RunOptions, run_options
from rnnxbench.harness.plan import plan_models
from rnnxbench.harness.result import RunResult, summarise, tables
from rnnxbench.harness.stages import (
    RunState,
    cached_counts,
    explore_models,
    job_backend,
    load_tasks,
    predict_models,
    score_models,
    train_models,
)
from rnnxbench.registry import REGISTRIES, UnknownNameError
from rnnxbench.report.writers import write_run


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: what is cached so far is kept, and a rerun resumes from it."""

    def __init__(self, models: int, scores: int):
        self.models, self.scores = models, scores
        super().__init__(f"interrupted: {models} models and {scores} scores are cached; "
                         "rerun to resume")


def configure(suite: str | Path, profile: str | Path | None, opts: RunOptions) -> RunConfig:
    """The run's config with its baseline resolved: every component name, option and
    setting checked (ValueError naming the problem and the valid choices)."""
    cfg = load_config(suite, profile, config=opts.config, tasks=opts.tasks,
                      architectures=opts.architectures, explainers=opts.explainers,
                      metrics=opts.metrics, seed=opts.seed,
                      profile_overrides=({**(opts.profile_overrides or {}), "stack": opts.stack}
                                         if opts.stack is not None else opts.profile_overrides))
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


def planned_state(cfg: RunConfig, opts: RunOptions, clock: dict[str, float]) -> RunState:
    """A run's state up to its plan: devices and folders checked, the tasks' data loaded
    (``clock["data"]``), every model job planned."""
    devices = resolve_devices(opts.device)
    check_locations(opts.results_dir, opts.cache_dir, opts.data_dir, cfg.suite)
    state = RunState(cfg, opts, devices, Cache(opts.cache_dir), clock)
    load_tasks(state)
    clock["data"] = time.perf_counter()
    state.models = plan_models(cfg, state.data, devices)
    return state


def run_suite(suite: str | Path = "maj", profile: str | Path | None = None,
              **options: Any) -> RunResult:
    """Run a benchmark suite; :func:`run` with the leaderboard, failures and provenance.

    ``options`` are :class:`~rnnxbench.harness.options.RunOptions`. Every architecture is
    tested against ``baseline`` (default: the suite's ``baseline`` if it is run, else the
    first architecture) with Holm-corrected paired t-tests at ``alpha``; explainers are
    ranked. Ctrl-C raises :class:`RunInterrupted` (what is cached stays cached).
    """
    clock = {"start": time.perf_counter()}
    opts = run_options(options)
    state = planned_state(configure(suite, profile, opts), opts, clock)
    cfg = state.cfg
    try:
        with job_backend(state):
            train_models(state)
            clock["train"] = time.perf_counter()
            predict_models(state)
            score_models(state)
            clock["score"] = time.perf_counter()
            explore_models(state, EXPLORED_FOLD)
            clock["explore"] = time.perf_counter()
            result = summarise(state)
    except KeyboardInterrupt:
        raise RunInterrupted(*cached_counts(state)) from None
    if opts.results_dir is not None:
        result.results_dir = write_run(Path(opts.results_dir) / cfg.suite, tables(result),
                                       result.info, clock["start"], workers=opts.workers,
                                       explorations=result.explorations,
                                       pages=opts.explore)
    return result


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
