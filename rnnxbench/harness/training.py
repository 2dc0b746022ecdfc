"""The training job: one model trained on its fold and saved to the cache."""

from __future__ import annotations

import time
import traceback
from typing import Any

import torch

from rnnxbench.config import RunConfig
from rnnxbench.engine.cache import JobCache, open_cache
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
    meta = {"status": "ok", "accuracy": acc, "losses": losses, "n_parameters":
            sum(p.numel() for p in model.parameters()), "train_seconds":
            time.perf_counter() - start, "n_train": int(len(job.train_index)),
            "n_test": int(len(job.test_index)), "training": settings,
            "architecture": job.architecture.name,
            "options": job.architecture.options, "task": job.task.id, "fold": job.fold}
    cache.save_model(job.model_hash, model.state_dict(), meta)
    return {**meta, "cached": False}
