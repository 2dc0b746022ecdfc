"""Every output of a run, written into a new folder that replaces ``results/<suite>/`` whole.

Tables are written first, then the figures, then run.json. Figures are drawn in worker
processes behind one guard: a figure that raises (or whose worker dies) is recorded in
``run.json["figure_errors"]`` and never costs a computed result. A figure whose data and
code did not change since the folder's previous run is taken from it instead of being
drawn again (``figure_digests`` in run.json).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from rnnxbench.engine.code import module_source_hash
from rnnxbench.engine.jobs import JobFailure, run_jobs
from rnnxbench.report import figures
from rnnxbench.report.explore_outputs import write_explore_outputs
from rnnxbench.report.index_page import write_index
from rnnxbench.report.provenance import cpu_model, git_revision, versions
from rnnxbench.report.publish import publishing


@dataclass
class RunTables:
    """The tables of one run's results folder."""

    scores: pd.DataFrame
    leaderboard: pd.DataFrame
    tests: pd.DataFrame
    explainer_ranks: pd.DataFrame
    step_profiles: pd.DataFrame
    curves: pd.DataFrame
    accuracy: pd.DataFrame
    explained: pd.DataFrame


@dataclass(frozen=True)
class Figure:
    """One figure file: what draws it, from which rows, and where run.json lists it."""

    name: str
    kind: str  # leaderboard | folds | step_profile | curves | accuracy
    args: tuple[Any, ...]
    listed_in: str  # the run.json key that lists it


def _leaderboard(t: RunTables, path: Path, metric: str) -> Path:
    return figures.plot_leaderboard(t.scores, path, metric=metric)


def _folds(t: RunTables, path: Path, metric: str) -> Path:
    return figures.plot_folds(t.scores, path, metric)


def _step_profile(t: RunTables, path: Path, task: str) -> Path:
    return figures.plot_step_profile(t.step_profiles, path, task)


def _curves(t: RunTables, path: Path, metric: str, task: str) -> Path:
    return figures.plot_curves(t.curves, path, task, metric)


def _accuracy(t: RunTables, path: Path) -> Path:
    return figures.plot_accuracy(t.accuracy, path)


DRAW: dict[str, Callable[..., Path]] = {"leaderboard": _leaderboard, "folds": _folds,
                                        "step_profile": _step_profile, "curves": _curves,
                                        "accuracy": _accuracy}


def plan_figures(t: RunTables) -> list[Figure]:
    """Every figure of a results folder, in the order run.json lists them."""
    ok = t.scores[t.scores["status"] == "ok"]
    metrics = [m for m in dict.fromkeys(t.scores["metric"]) if (ok["metric"] == m).any()]
    plan = [Figure(f"{m}.png", "leaderboard", (m,), "figures") for m in metrics]
    plan += [Figure(f"{m}_folds.png", "folds", (m,), "fold_figures") for m in metrics]
    plan += [Figure(f"step_profile_{task}.png", "step_profile", (task,),
                    "step_profile_figures") for task in dict.fromkeys(t.step_profiles["task"])]
    pairs = dict.fromkeys(zip(t.curves["metric"], t.curves["task"], strict=True))
    plan += [Figure(f"{m}_curve_{task}.png", "curves", (m, task), "curve_figures")
             for m, task in pairs]
    return [*plan, Figure("accuracy.png", "accuracy", (), "accuracy_figure")]


def figure_rows(t: RunTables, fig: Figure) -> pd.DataFrame:
    """The rows a figure shows (what its digest covers)."""
    if fig.kind in ("leaderboard", "folds"):
        return t.scores[t.scores["metric"] == fig.args[0]]
    if fig.kind == "step_profile":
        return t.step_profiles[t.step_profiles["task"] == fig.args[0]]
    if fig.kind == "curves":
        c = t.curves
        return c[(c["metric"] == fig.args[0]) & (c["task"] == fig.args[1])]
    return t.accuracy


def figure_digest(t: RunTables, fig: Figure) -> str:
    """A hash of a figure's rows, arguments, drawing code and plotting library versions."""
    found = versions()
    h = hashlib.sha256(json.dumps([fig.kind, fig.args, module_source_hash(figures.__name__),
                                   found.get("matplotlib"), found.get("seaborn")]).encode())
    h.update(figure_rows(t, fig).to_csv(index=False).encode())
    return h.hexdigest()[:16]


def draw(t: RunTables, fig: Figure, folder: str) -> str | None:
    """Draw one figure into ``folder``: None, or the error (a figure must not lose computed
    results, so its failure is only recorded)."""
    try:
        DRAW[fig.kind](t, Path(folder) / fig.name, *fig.args)
    except Exception as exc:  # noqa: BLE001 - the one guard around every figure
        return f"{type(exc).__name__}: {exc}"
    return None


def write_figures(t: RunTables, folder: Path, previous: Path, info: dict[str, Any],
                  workers: int) -> None:
    """Every figure into ``folder`` (unchanged ones taken from ``previous``), listed in
    ``info`` with their digests; failures go to ``info["figure_errors"]``."""
    plan = plan_figures(t)
    digests = {fig.name: figure_digest(t, fig) for fig in plan}
    before = _previous_digests(previous)
    todo = []
    for fig in plan:
        if before.get(fig.name) == digests[fig.name] and _reuse(previous / fig.name,
                                                                folder / fig.name):
            continue
        todo.append(fig)
    errors = run_jobs(draw, [(fig, str(folder)) for fig in todo], shared=t, workers=workers,
                      desc="figures", progress=False)
    failed = {}
    for fig, err in zip(todo, errors, strict=True):
        if err is not None:
            failed[fig.name] = err.reason if isinstance(err, JobFailure) else err
    for fig in plan:
        if fig.name in failed:
            continue
        if fig.listed_in == "accuracy_figure":
            info["accuracy_figure"] = fig.name
        else:
            info.setdefault(fig.listed_in, []).append(fig.name)
    for key in ("figures", "fold_figures", "step_profile_figures"):
        info.setdefault(key, [])
    if failed:
        info["figure_errors"] = failed
    info["figure_digests"] = {k: v for k, v in digests.items() if k not in failed}
    info["figures_reused"] = len(plan) - len(todo)


def _previous_digests(previous: Path) -> dict[str, str]:
    try:
        return dict(json.loads((previous / "run.json").read_text()).get("figure_digests", {}))
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _reuse(old: Path, new: Path) -> bool:
    """Hard-link (else copy) an unchanged figure from the previous folder."""
    if not old.is_file():
        return False
    try:
        os.link(old, new)
    except OSError:
        try:
            new.write_bytes(old.read_bytes())
        except OSError:
            return False
    return True


def write_tables(t: RunTables, folder: Path) -> None:
    """The CSV files (curves.csv only when a metric has curves)."""
    csv = {"float_format": "%.10g", "index": False}
    t.scores.to_csv(folder / "scores.csv", **csv)
    t.leaderboard.to_csv(folder / "leaderboard.csv", **csv)
    t.tests.to_csv(folder / "tests.csv", **csv)
    t.explainer_ranks.to_csv(folder / "explainer_ranks.csv", **csv)
    t.step_profiles.to_csv(folder / "step_profile.csv", **csv)
    t.accuracy.to_csv(folder / "accuracy.csv", **csv)
    t.explained.to_csv(folder / "explained.csv", **csv)
    if not t.curves.empty:
        t.curves.to_csv(folder / "curves.csv", **csv)


def write_run(out_dir: Path, t: RunTables, info: dict[str, Any], started: float,
              workers: int = 1, explorations: list[Any] | None = None,
              pages: bool = True) -> Path:
    """Publish a run's results as ``out_dir``: tables, figures, the heatmap grids and
    explorer pages of ``explorations`` (no pages unless ``pages``), index.html and
    run.json (with the writing time and the run's total in ``info["timings_seconds"]``),
    swapped in whole."""
    begin = time.perf_counter()
    with publishing(out_dir) as folder:
        write_tables(t, folder)
        write_figures(t, folder, out_dir, info, workers)
        write_explore_outputs(folder, explorations or [], info, pages, workers)
        now = time.perf_counter()
        info.setdefault("timings_seconds", {}).update(write_results=now - begin,
                                                      total=now - started)
        run_info = {"created": datetime.now(UTC).isoformat(timespec="seconds"), **info,
                    "versions": versions(), "git_revision": git_revision(),
                    "platform": platform.platform(), "cpu": cpu_model(),
                    "cpu_count": os.cpu_count()}
        try:  # like a figure, a page that fails to render costs nothing else
            write_index(t.leaderboard, t.accuracy, run_info, folder, out_dir.name)
        except Exception as exc:  # noqa: BLE001 - recorded in run.json
            run_info.setdefault("figure_errors", {})["index.html"] = (
                f"{type(exc).__name__}: {exc}")
        (folder / "run.json").write_text(json.dumps(run_info, indent=2, default=str))
    return out_dir
