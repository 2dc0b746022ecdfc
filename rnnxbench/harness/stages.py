"""The stages of a run, in order: load the tasks, train the models, predict the explained
sequences, explain and score. Each stage serves what it can from the cache and runs the rest
as jobs in worker processes (a job that fails, dies or times out fails alone)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from rnnxbench.config import RunConfig
from rnnxbench.engine.cache import Cache
from rnnxbench.engine.dask_backend import SHIPPED, DaskBackend
from rnnxbench.engine.jobs import JobFailure, n_workers, run_jobs
from rnnxbench.harness.explained import explained_key, predict_job
from rnnxbench.harness.exploration import explore_job, explored_models
from rnnxbench.harness.keys import explainer_key, metric_key
from rnnxbench.harness.options import RunOptions
from rnnxbench.harness.plan import ModelJob, ScoreJob, plan_scoring, training_costs
from rnnxbench.harness.scoring import ScoreRecord, cached_records, score_job
from rnnxbench.harness.training import train_unit
from rnnxbench.registry import TASKS
from rnnxbench.report.exploration import Exploration
from rnnxbench.tasks.base import DataUnavailable, TaskData, build_task


@dataclass
class RunState:
    """What a run's stages share and produce, filled in the order they run."""

    cfg: RunConfig
    opts: RunOptions
    devices: list[str]
    cache: Cache
    clock: dict[str, float]
    data: dict[str, TaskData] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    models: list[ModelJob] = field(default_factory=list)
    #: per model: its training metadata (``status`` ok or failed)
    metas: list[dict[str, Any]] = field(default_factory=list)
    #: per model: its explained sequences and its predictions on them
    predictions: list[dict[str, Any]] = field(default_factory=list)
    scored: list[tuple[ScoreJob, list[ScoreRecord]]] = field(default_factory=list)
    #: the explored models' data for the explorer pages and heatmaps (one fold)
    explorations: list[Exploration] = field(default_factory=list)
    #: explored models without an exploration: ``"task/architecture": reason``
    explore_errors: dict[str, str] = field(default_factory=dict)
    #: the dask cluster the jobs run on (None: local worker processes)
    backend: DaskBackend | None = None

    @property
    def cache_arg(self) -> str:
        """What a job gets as its cache: the folder, or the dask backend's stand-in."""
        return SHIPPED if self.backend is not None else str(self.cache.root)


def load_tasks(state: RunState) -> None:
    """Every task's data, and the tasks skipped (no data here) with the reason."""
    cfg, data_dir = state.cfg, state.opts.data_dir
    for entry in tqdm(cfg.tasks, desc="data", unit="task", disable=not state.opts.progress):
        task = TASKS.get(entry.task)(**entry.options)
        try:
            state.data[entry.id] = build_task(
                task, entry.source, None if data_dir is None else str(data_dir),
                cfg.profile.max_images, cfg.seed, cfg.profile.n_folds, cfg.profile.cv_seed)
        except DataUnavailable as exc:
            state.skipped[entry.id] = str(exc)
            print(f"skipped task {entry.id}: {exc}", file=sys.stderr)
    if not state.data:
        raise DataUnavailable(f"no task of suite {cfg.suite!r} has data here: "
                              + "; ".join(state.skipped.values()))


@contextmanager
def job_backend(state: RunState) -> Iterator[None]:
    """With ``backend = "dask"``: the cluster the run's jobs go to (joined, or a local one
    started), its workers checked for every component the run uses, closed at the end."""
    if state.opts.backend != "dask":
        yield
        return
    cfg = state.cfg
    wanted = ([("task", t.task) for t in cfg.tasks if t.id in state.data]
              + [("architecture", a.name) for a in cfg.architectures]
              + [("explainer", e.name) for e in cfg.explainers]
              + [("metric", m.name) for m in cfg.metrics])
    with DaskBackend(state.opts.scheduler, state.opts.workers, state.data) as backend:
        backend.check_components(wanted)
        state.backend = backend
        try:
            yield
        finally:
            state.backend = None


#: worker processes per GPU unless --workers-per-device says otherwise: one small recurrent
#: model leaves a GPU mostly idle, so several share it
CUDA_WORKERS_PER_DEVICE = 4


def start_method_for(models: list[ModelJob]) -> str | None:
    """Spawned workers for CUDA jobs (CUDA must not be forked), else the runner's default."""
    return "spawn" if any(m.device.startswith("cuda") for m in models) else None


def _jobs(state: RunState, fn: Any, args: list[tuple], desc: str, devices: list[str],
          costs: list[float] | None = None, models: list[list[str]] | None = None
          ) -> list[Any]:
    """The jobs on the local pool or the dask cluster. ``devices``: each job's device (CUDA
    jobs run in workers pinned to their GPU, ``--workers-per-device`` per GPU);
    ``models``: the trained models each job reads (shipped with it on dask)."""
    opts = state.opts
    if state.backend is not None:
        return state.backend.run(fn, args, cache=state.cache, models=models, desc=desc,
                                 progress=opts.progress, costs=costs)
    pinned = any(d.startswith("cuda") for d in devices)
    return run_jobs(fn, args, shared=state.data, workers=opts.workers, desc=desc,
                    progress=opts.progress, costs=costs, timeout=opts.job_timeout,
                    method=start_method_for(state.models),
                    devices=devices if pinned else None,
                    workers_per_device=opts.workers_per_device or CUDA_WORKERS_PER_DEVICE)


def train_models(state: RunState) -> None:
    """Each model's metadata: from the cache, else trained in a worker (a job that failed
    or died gives ``status = "failed"`` and the reason)."""
    cache, cfg = state.cache, state.cfg
    metas: list[dict[str, Any] | None] = []
    for job in state.models:
        hit = cache.load_model(job.model_hash)
        metas.append(None if hit is None else {**hit[1], "cached": True})
    todo = [i for i, m in enumerate(metas) if m is None]
    # a stack is trained whole when any of its models is missing (the others come out the
    # same: stacked training is deterministic), every other model alone
    stacks: dict[str, list[int]] = {}
    for i, job in enumerate(state.models):
        if job.stack_group is not None:
            stacks.setdefault(job.stack_group, []).append(i)
    single = [i for i in todo if state.models[i].stack_group is None]
    groups = [g for g in stacks.values() if any(metas[i] is None for i in g)]
    units = [[i] for i in single] + groups
    costs = None
    if units and (state.backend is not None or n_workers(state.opts.workers, len(units)) > 1):
        each = training_costs(state.models, state.data, cfg)
        costs = [sum(each[i] for i in unit) for unit in units]
    args = [(state.models[u[0]], cfg, state.cache_arg) for u in units[:len(single)]]
    args += [([state.models[i] for i in g], cfg, state.cache_arg) for g in groups]
    out = _jobs(state, train_unit, args, "train", [state.models[u[0]].device for u in units],
                costs)
    for unit, result in zip(units, out, strict=True):
        if isinstance(result, JobFailure):
            results = [result] * len(unit)
        else:
            results = result if isinstance(result, list) else [result]
        for i, meta in zip(unit, results, strict=True):
            metas[i] = ({"status": "failed", "error": f"training failed: {meta.reason}",
                         "cached": False} if isinstance(meta, JobFailure) else meta)
    state.metas = metas  # type: ignore[assignment]


def predict_models(state: RunState) -> None:
    """Each model's predictions on its fold's explained sequences (cached after the first)."""
    cache, cfg = state.cache, state.cfg
    found = [cache.load_score(m.model_hash, "explained", explained_key(cfg, state.data[m.task.id]))
             for m in state.models]
    todo = [i for i, hit in enumerate(found) if hit is None]
    out = _jobs(state, predict_job, [(state.models[i], state.cfg, state.cache_arg,
                                      state.metas[i]) for i in todo], "predict",
                [state.models[i].device for i in todo],
                models=[[state.models[i].model_hash] for i in todo])
    for i, rec in zip(todo, out, strict=True):
        found[i] = ({"status": "failed", "error": rec.reason, "index": [], "label": [],
                     "predicted": []} if isinstance(rec, JobFailure) else rec)
    state.predictions = found  # type: ignore[assignment]


def score_models(state: RunState) -> None:
    """Every model x explainer's score records: from the cache, else computed in a worker
    (a job that died or timed out fails its explainer's metrics only)."""
    cfg, cache = state.cfg, state.cache
    jobs = plan_scoring(cfg, state.models)
    meta_of = {m.model_hash: meta for m, meta in zip(state.models, state.metas, strict=True)}
    found = [cached_records(cache, job, cfg, state.data[job.model.task.id]) for job in jobs]
    todo = [i for i, (_, missing) in enumerate(found) if missing]
    out = _jobs(state, score_job, [(jobs[i], cfg, state.cache_arg,
                                    meta_of[jobs[i].model.model_hash], found[i][1])
                                   for i in todo], "explain+score",
                [jobs[i].model.device for i in todo],
                models=[[jobs[i].model.model_hash] for i in todo])
    computed = dict(zip(todo, out, strict=True))
    for i, (job, (hits, missing)) in enumerate(zip(jobs, found, strict=True)):
        new = computed.get(i, [])
        if isinstance(new, JobFailure):
            new = [ScoreRecord(job.explainer.id, m.id, "failed", error=new.reason)
                   for m in missing]
        by_metric = {r.metric: r for r in [*hits, *new]}
        state.scored.append((job, [by_metric[m.id] for m in cfg.metrics]))


def explore_models(state: RunState, fold: int = 0) -> None:
    """The explorations of ``fold``'s models (cached after the first; a model without one
    is recorded in ``explore_errors``)."""
    meta_of = {m.model_hash: meta for m, meta in zip(state.models, state.metas, strict=True)}
    jobs = explored_models(state.models, fold)
    out = _jobs(state, explore_job, [(j, state.cfg, state.cache_arg, meta_of[j.model_hash])
                                     for j in jobs], "explore", [j.device for j in jobs],
                models=[[j.model_hash] for j in jobs])
    for job, found in zip(jobs, out, strict=True):
        if isinstance(found, Exploration):
            state.explorations.append(found)
        else:
            reason = found.reason if isinstance(found, JobFailure) else str(found)
            state.explore_errors[f"{job.task.id}/{job.architecture.id}"] = reason


def cached_counts(state: RunState) -> tuple[int, int]:
    """How many of the run's models and scores are in the cache now."""
    cfg, cache = state.cfg, state.cache
    n_models = sum(cache.has_model(m.model_hash) for m in state.models)
    n_scores = 0
    for model in state.models:
        samples = explained_key(cfg, state.data[model.task.id])
        n_scores += sum(cache.has_score(model.model_hash, explainer_key(e, cfg, samples),
                                        metric_key(m))
                        for e in cfg.explainers for m in cfg.metrics)
    return n_models, n_scores
