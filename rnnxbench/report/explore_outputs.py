"""What a run writes from its explorations: ``heatmaps_<task>.png`` (architectures x
explainers, the same few explained sequences in every cell) and, unless told not to, one
explorer page per task x architecture in ``explore/``. Each file is drawn in a worker
process behind the same guard as the figures: one that fails is recorded in
``info["figure_errors"]`` and costs nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnxbench.engine.jobs import JobFailure, run_jobs
from rnnxbench.report.exploration import Exploration
from rnnxbench.report.explorer_page import page_name, write_explorer
from rnnxbench.report.heatmaps import plot_heatmaps

EXPLORE_FOLDER = "explore"


def heatmap_name(task: str, fold: int = 0) -> str:
    """``heatmaps_<task>.png`` (fold 0, what every run writes), else with ``_fold<F>``."""
    return f"heatmaps_{task}.png" if fold == 0 else f"heatmaps_{task}_fold{fold}.png"


def by_task(explorations: list[Exploration]) -> dict[str, list[Exploration]]:
    out: dict[str, list[Exploration]] = {}
    for exp in explorations:
        out.setdefault(exp.task, []).append(exp)
    return out


def draw_one(explorations: list[Exploration], kind: str, key: Any, folder: str,
             projection: str) -> str | None:
    """Draw one heatmap grid (``key``: the task) or page (``key``: its index); None, or
    the error."""
    try:
        if kind == "heatmaps":
            shown = by_task(explorations)[key]
            plot_heatmaps(shown, Path(folder) / heatmap_name(key, shown[0].fold))
        else:
            write_explorer(explorations[key], Path(folder) / EXPLORE_FOLDER, projection)
    except Exception as exc:  # noqa: BLE001 - the one guard around every output
        return f"{type(exc).__name__}: {exc}"
    return None


def write_explore_outputs(folder: Path, explorations: list[Exploration], info: dict[str, Any],
                          pages: bool = True, workers: int = 1, projection: str = "pca"
                          ) -> None:
    """The heatmap grids (and pages) into ``folder``, listed in ``info`` as
    ``heatmap_figures`` and ``explorer_pages`` (paths relative to ``folder``)."""
    todo: list[tuple[str, Any, str]] = [
        ("heatmaps", task, heatmap_name(task, found[0].fold))
        for task, found in by_task(explorations).items()]
    if pages:
        todo += [("page", i, f"{EXPLORE_FOLDER}/{page_name(e.task, e.architecture, e.fold)}")
                 for i, e in enumerate(explorations)]
    errors = run_jobs(draw_one, [(kind, key, str(folder), projection) for kind, key, _ in todo],
                      shared=explorations, workers=workers, desc="pages", progress=False)
    info["heatmap_figures"], info["explorer_pages"] = [], []
    for (kind, _, name), err in zip(todo, errors, strict=True):
        if err is None:
            info["heatmap_figures" if kind == "heatmaps" else "explorer_pages"].append(name)
        else:
            info.setdefault("figure_errors", {})[name] = (
                err.reason if isinstance(err, JobFailure) else err)
