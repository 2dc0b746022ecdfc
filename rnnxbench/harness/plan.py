"""The run's plan: one model job per task x architecture x fold (with its cache key), and
one scoring job per model x explainer."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from rnnxbench.config import Component, RunConfig, TaskEntry
from rnnxbench.engine.cache import Cache
from rnnxbench.engine.code import code_version
from rnnxbench.engine.folds import task_splits
from rnnxbench.engine.jobs import forward_flops
from rnnxbench.engine.stacked import can_stack
from rnnxbench.harness.keys import CACHE_VERSION, TRAINING_CODE, seed_of
from rnnxbench.registry import ARCHITECTURES
from rnnxbench.tasks.base import TaskData


@dataclass
class ModelJob:
    """One (task, architecture, fold, training seed) model: what defines it and where it is
    cached. ``train_seed`` is the profile's replicate seed (the run's seed by default),
    ``seed`` the torch seed derived from it for this model."""

    task: TaskEntry
    architecture: Component
    fold: int
    seed: int
    model_hash: str
    device: str
    train_index: np.ndarray = field(repr=False)
    test_index: np.ndarray = field(repr=False)
    train_seed: int = 0
    #: the stack it is trained in (profile ``stack`` > 1), one id per stack; None: alone
    stack_group: str | None = None


@dataclass
class ScoreJob:
    """One explainer on one trained model, scored with every metric of the run."""

    model: ModelJob
    explainer: Component


def build_model(data: TaskData, arch: Component) -> torch.nn.Module:
    """A new model of ``arch`` for ``data``'s input (ValueError when it cannot take it)."""
    cls = ARCHITECTURES.get(arch.name)
    reason = cls.check_input(data.spec) if hasattr(cls, "check_input") else None
    if reason:
        raise ValueError(f"architecture {arch.id!r} cannot take task {data.name!r}: {reason}")
    return cls(data.spec, **arch.options)


def initial_model(data: TaskData, arch: Component, seed: int) -> torch.nn.Module:
    """A freshly initialised (untrained) model of ``arch``, seeded, global RNG untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(data, arch).eval()


def training_settings(cfg: RunConfig, arch: Component, task: TaskEntry) -> dict[str, Any]:
    """``{epochs, lr, batch_size}`` of one architecture on one task (profile defaults, the
    architecture's, then the task's overrides)."""
    return cfg.profile.training_for(arch.id, arch.name, task.id, task.task)


def training_seeds(cfg: RunConfig) -> tuple[int, ...]:
    """The seeds every fold is trained with: the profile's ``seeds``, else the run's seed."""
    return cfg.profile.seeds or (cfg.seed,)


def splits_of(data: TaskData, cfg: RunConfig, fold_ids: list[int]
              ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``{fold: (train, test)}`` of a task under the profile: stratified k-fold, the task's
    own folds (``fold_of``) or its own train/test split (folds are then repeats)."""
    prof = cfg.profile
    return task_splits(data.y, fold_ids, prof.n_folds, prof.cv_seed, data.test_split,
                       fold_of=data.fold_of)


#: the code stacked training runs beyond TRAINING_CODE (in the hash of stacked models only)
STACKED_CODE = ("rnnxbench.engine.stacked",)


def stack_size(cfg: RunConfig, data: TaskData, arch: Component) -> int:
    """How many of an architecture's models are trained together: the profile's ``stack``,
    or 1 where the architecture cannot be stacked (:func:`can_stack`; a warning says why)."""
    if cfg.profile.stack <= 1:
        return 1
    try:
        reason = can_stack(build_model(data, arch))
    except Exception as exc:  # noqa: BLE001 - the training job reports build errors itself
        reason = f"{type(exc).__name__}: {exc}"
    if reason:
        warnings.warn(f"{arch.id} on {data.name} is trained one model at a time: {reason}",
                      RuntimeWarning, stacklevel=2)
        return 1
    return cfg.profile.stack


def plan_models(cfg: RunConfig, data: dict[str, TaskData], devices: list[str]
                ) -> list[ModelJob]:
    """Every model of the run, in suite order (task, architecture, fold, training seed),
    devices dealt round-robin."""
    jobs: list[ModelJob] = []
    for entry in cfg.tasks:
        if entry.id not in data:
            continue
        d = data[entry.id]
        fold_ids = cfg.profile.fold_ids(own_split=d.test_split is not None)
        folds = splits_of(d, cfg, fold_ids)
        # with the data set's own split the folds are repeats: k-fold settings do not matter
        split = ({"split": "own"} if d.test_split is not None else
                 {"n_folds": cfg.profile.n_folds, "cv_seed": cfg.profile.cv_seed})
        for arch in cfg.architectures:
            members = [(fold, train_seed) for fold in fold_ids
                       for train_seed in training_seeds(cfg)]
            size = stack_size(cfg, d, arch)
            for start in range(0, len(members), size):
                group = members[start:start + size]
                stack = (None if size == 1 else
                         {"size": size, "members": [list(m) for m in group]})
                device = devices[len(jobs) % len(devices)]
                for fold, train_seed in group:
                    definition = {
                        "task": entry.id, "task_def": [entry.task, entry.source, entry.options],
                        "data": d.fingerprint(), "arch": arch.name, "options": arch.options,
                        "fold": fold, **split, **training_settings(cfg, arch, entry),
                        "seed": train_seed, "version": CACHE_VERSION,
                        "code": code_version(ARCHITECTURES.get(arch.name), *TRAINING_CODE,
                                             *(() if stack is None else STACKED_CODE))}
                    if stack is not None:
                        definition["stack"] = stack
                    train_idx, test_idx = folds[fold]
                    jobs.append(ModelJob(
                        entry, arch, fold, seed_of(train_seed, entry.id, arch.id, fold),
                        Cache.key(definition), device if stack else
                        devices[len(jobs) % len(devices)], train_idx, test_idx, train_seed,
                        None if stack is None else f"{entry.id}/{arch.id}/{start // size}"))
    return jobs


def plan_scoring(cfg: RunConfig, models: list[ModelJob]) -> list[ScoreJob]:
    """One scoring job per model x explainer, in suite order."""
    return [ScoreJob(model, exp) for model in models for exp in cfg.explainers]


def training_costs(jobs: list[ModelJob], data: dict[str, TaskData],
                   cfg: RunConfig) -> list[float]:
    """Estimated work of each training job: forward FLOPs x sequences x epochs."""
    flops: dict[tuple[str, str], float] = {}
    costs = []
    for job in jobs:
        key = (job.task.id, job.architecture.id)
        if key not in flops:
            d = data[job.task.id]
            try:
                model = build_model(d, job.architecture)
                example = torch.as_tensor(d.X[:1], dtype=torch.float32)
                flops[key] = float(forward_flops(model, example))
            except Exception:  # noqa: BLE001 - the training job reports the error itself
                flops[key] = 0.0
        costs.append(flops[key] * len(job.train_index)
                     * training_settings(cfg, job.architecture, job.task)["epochs"])
    return costs
