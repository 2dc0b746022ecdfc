"""The explained sequences of each fold: which they are, and how each model classifies them.

Every architecture of a fold is explained on the same sequences: a seeded, class-stratified
draw from the fold's held-out sequences (``explain_per_class`` of every class, or
``explain_samples`` in proportion to the classes, or the whole fold), so that no ordering of
the data (e.g. images sorted by class) decides what is scored. The true-class logit is
explained. Each model's predictions on them are computed once (a job per model) and cached.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import torch

from rnnxbench.config import RunConfig, stable_hash
from rnnxbench.engine.cache import JobCache, open_cache
from rnnxbench.engine.code import code_version
from rnnxbench.engine.train import predict
from rnnxbench.harness.keys import CACHE_VERSION, seed_of
from rnnxbench.harness.plan import ModelJob, build_model
from rnnxbench.tasks.base import TaskData
from rnnxbench.tasks.sampling import explained_subset

#: bump when :func:`explained_index` draws differently
DRAW_VERSION = 1
EXPLAINED_COLUMNS = ["task", "architecture", "fold", "seed", "sample", "label", "predicted",
                     "correct"]


def explained_index(job: ModelJob, data: TaskData, cfg: RunConfig) -> np.ndarray:
    """Indices (into the task's data) of the sequences ``job``'s fold is explained on; the
    same for every architecture and training seed of the fold."""
    prof = cfg.profile
    test = np.asarray(job.test_index)
    seed = seed_of(cfg.seed, job.task.id, job.fold, "explained")
    return test[explained_subset(data.y[test], prof.explain_samples, prof.explain_per_class,
                                 seed)]


def explained_key(cfg: RunConfig, data: TaskData) -> str:
    """What decides the explained sequences and how they are read, besides the model (part
    of every score key): the draw's settings and code, and the task's input description
    (e.g. its background value, which erasure baselines use)."""
    return stable_hash(["explained", cfg.profile.explain_samples, cfg.profile.explain_per_class,
                        cfg.seed, CACHE_VERSION, DRAW_VERSION, asdict(data.spec),
                        code_version("rnnxbench.tasks.sampling")])


def predict_job(data: dict[str, TaskData], job: ModelJob, cfg: RunConfig, cache_root: JobCache,
                model_meta: dict[str, Any]) -> dict[str, Any]:
    """The model's predicted class for each explained sequence (cached with the model's
    scores); ``{"status": "failed", "error": ...}`` without a trained model."""
    d = data[job.task.id]
    cache, key = open_cache(cache_root), explained_key(cfg, d)
    hit = cache.load_score(job.model_hash, "explained", key)
    if hit is not None:
        return hit
    index = explained_index(job, d, cfg)
    record: dict[str, Any] = {"status": "failed", "index": index.tolist(),
                              "label": d.y[index].tolist(), "predicted": []}
    stored = cache.load_model(job.model_hash) if model_meta.get("status") == "ok" else None
    if stored is None:
        return {**record, "error": model_meta.get("error", "no trained model")}
    model = build_model(d, job.architecture)
    model.load_state_dict(stored[0])
    with torch.no_grad():
        predicted = predict(model.to(job.device).eval(), d.X[index], device=job.device)
    record.update(status="ok", predicted=predicted.tolist())
    cache.save_score(job.model_hash, "explained", key, record)
    return record


def explained_table(models: list[ModelJob], records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per model x explained sequence: its label, the prediction, whether correct
    (``predicted`` -1 where the model failed)."""
    rows = []
    for job, rec in zip(models, records, strict=True):
        predicted = rec.get("predicted") or [-1] * len(rec["index"])
        for sample, label, pred in zip(rec["index"], rec["label"], predicted, strict=True):
            rows.append({"task": job.task.id, "architecture": job.architecture.id,
                         "fold": job.fold, "seed": job.train_seed, "sample": int(sample),
                         "label": int(label), "predicted": int(pred),
                         "correct": bool(pred == label)})
    return pd.DataFrame(rows, columns=EXPLAINED_COLUMNS)


def explained_accuracy(table: pd.DataFrame) -> dict[str, float]:
    """Each model's accuracy on its explained sequences, by model hash order of ``table``
    rows: ``{(task, architecture, fold, seed): accuracy}`` (NaN for failed models)."""
    ok = table[table["predicted"] >= 0]
    keys = ["task", "architecture", "fold", "seed"]
    return ok.groupby(keys, sort=False)["correct"].mean().to_dict()


def class_counts(models: list[ModelJob], records: list[dict[str, Any]]
                 ) -> dict[str, dict[str, Any]]:
    """Per task: the explained sequences' class counts per fold and in all (for run.json)."""
    out: dict[str, dict[str, Any]] = {}
    seen: set[tuple[str, int]] = set()
    for job, rec in zip(models, records, strict=True):
        if (job.task.id, job.fold) in seen:  # the same sequences for every model of a fold
            continue
        seen.add((job.task.id, job.fold))
        counts = Counter(int(c) for c in rec["label"])
        task = out.setdefault(job.task.id, {"per_fold": {}, "total": Counter()})
        task["per_fold"][str(job.fold)] = {str(c): n for c, n in sorted(counts.items())}
        task["total"].update(counts)
    for task in out.values():
        task["total"] = {str(c): n for c, n in sorted(task["total"].items())}
    return out
