"""The training job: one model trained on its fold and saved to the cache."""

from __future__ import annotations

import time
import traceback
from typing import Any

import torch

from rnnxbench.config import RunConfig
from rnnxbench.engine.cache import JobCache, open_cache
from rnnxbench.engine.stacked import train_stacked
from rnnxbench.engine.train import accuracy, train_model
from rnnxbench.harness.plan import ModelJob, build_model, training_settings
from rnnxbench.tasks.base import TaskData


def train_job(data: dict[str, TaskData], job: ModelJob, cfg: RunConfig,
              cache_root: JobCache) -> dict[str, Any]:
    """Train one model (or read it from the cache) and return its metadata.

    A failure becomes metadata with ``status = "failed"`` and the error; a trained model is
    saved under its model hash before the job returns, so nothing computed is lost.
    """
    cache = open_cache(cache_root)
    hit = cache.load_model(job.model_hash)
    if hit is not None:
        return {**hit[1], "cached": True}
    d = data[job.task.id]
    settings = training_settings(cfg, job.architecture, job.task)
    start = time.perf_counter()
    try:
        torch.manual_seed(job.seed)
        model = build_model(d, job.architecture)
        losses = train_model(model, d.X[job.train_index], d.y[job.train_index],
                             **settings, seed=job.seed, device=job.device)
        acc = accuracy(model, d.X[job.test_index], d.y[job.test_index], job.device)
    except Exception as exc:  # noqa: BLE001 - a failed model becomes failed rows
        return {"status": "failed", "error": f"training failed: {type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(), "cached": False}
    meta = trained_meta(model, job, settings, acc, losses, time.perf_counter() - start)
    cache.save_model(job.model_hash, model.state_dict(), meta)
    return {**meta, "cached": False}


def trained_meta(model: torch.nn.Module, job: ModelJob, settings: dict[str, Any], acc: float,
                 losses: list[float], seconds: float, **extra: Any) -> dict[str, Any]:
    """The metadata saved with a trained model (and returned by its job)."""
    return {"status": "ok", "accuracy": acc, "losses": losses, "n_parameters":
            sum(p.numel() for p in model.parameters()), "train_seconds": seconds,
            "n_train": int(len(job.train_index)), "n_test": int(len(job.test_index)),
            "training": settings, **extra, "architecture": job.architecture.name,
            "options": job.architecture.options, "task": job.task.id, "fold": job.fold}


def train_stack_job(data: dict[str, TaskData], jobs: list[ModelJob], cfg: RunConfig,
                    cache_root: JobCache) -> list[dict[str, Any]]:
    """Train the models of one stack together (:func:`~rnnxbench.engine.stacked.
    train_stacked`) and save each under its own model hash; returns each one's metadata
    (all ``failed`` with the error when the stack fails)."""
    cache = open_cache(cache_root)
    d = data[jobs[0].task.id]
    settings = training_settings(cfg, jobs[0].architecture, jobs[0].task)
    device = jobs[0].device
    start = time.perf_counter()
    try:
        models = []
        for job in jobs:
            torch.manual_seed(job.seed)
            models.append(build_model(d, job.architecture))
        losses = train_stacked(models, [(d.X[j.train_index], d.y[j.train_index]) for j in jobs],
                               **settings, seeds=[j.seed for j in jobs], device=device)
        accs = [accuracy(m, d.X[j.test_index], d.y[j.test_index], device)
                for m, j in zip(models, jobs, strict=True)]
    except Exception as exc:  # noqa: BLE001 - a failed stack becomes failed models
        failed = {"status": "failed", "error": f"stacked training failed: {type(exc).__name__}: "
                  f"{exc}", "traceback": traceback.format_exc(), "cached": False}
        return [dict(failed) for _ in jobs]
    seconds = (time.perf_counter() - start) / len(jobs)
    metas = []
    for model, job, loss, acc in zip(models, jobs, losses, accs, strict=True):
        meta = trained_meta(model, job, settings, acc, loss, seconds, stacked=len(jobs))
        cache.save_model(job.model_hash, model.state_dict(), meta)
        metas.append({**meta, "cached": False})
    return metas


def train_unit(data: dict[str, TaskData], job: ModelJob | list[ModelJob], cfg: RunConfig,
               cache_root: JobCache) -> dict[str, Any] | list[dict[str, Any]]:
    """One training job of the run: a model alone (its metadata) or a stack (a list)."""
    if isinstance(job, list):
        return train_stack_job(data, job, cfg, cache_root)
    return train_job(data, job, cfg, cache_root)
