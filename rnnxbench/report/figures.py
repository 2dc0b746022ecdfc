"""Figures: the thesis' Fig. 3.12 style leaderboard plot (mean and 95% CI over folds), fold
values, relevance over time, metric curves and the test accuracy heatmap."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rnnxbench.report.drawing import (
    architecture_legend,
    autoscaled_once,
    dodge,
    explainer_axis,
    first_label,
    mean_curve,
    means_and_cis,
    palette,
    panel_grid,
    strips,
    task_panels,
)
from rnnxbench.report.tables import leaderboard, t_intervals

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def save_png(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` as a PNG at ``path`` (the parent folder is created); returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def plot_leaderboard(scores: pd.DataFrame, path: str | Path, metric: str = "cosine") -> Path:
    """Plot one metric's leaderboard (see :func:`leaderboard_figure`) to a PNG at ``path``."""
    return save_png(leaderboard_figure(scores, metric), path, dpi=120)


def leaderboard_figure(scores: pd.DataFrame, metric: str = "cosine") -> Figure:
    """The thesis' Fig. 3.12 for one metric, as a matplotlib Figure.

    One panel per task; x = explainer, hue = architecture (dodged), a point at the mean over
    folds and a vertical bar for the 95% t-interval, exactly as in :func:`leaderboard`.
    Failed, unsupported and NaN folds are ignored; a single fold gets a point without a bar.
    Built on a plain Figure (Agg canvas; no pyplot, no window, no global backend change).
    """
    import seaborn as sns  # imported here: the tables need neither seaborn nor matplotlib

    board = leaderboard(scores[scores["metric"] == metric])
    tasks = list(pd.unique(board["task"])) or ["(no data)"]
    shown = board[np.isfinite(board["mean"].to_numpy(dtype=np.float64))]
    # order of first appearance in scores, keeping only what has a finite mean somewhere
    explainers = [e for e in pd.unique(board["explainer"]) if e in set(shown["explainer"])]
    archs = [a for a in pd.unique(board["architecture"]) if a in set(shown["architecture"])]
    colors, width, offsets = dodge(archs)

    with sns.axes_style("whitegrid"):
        fig, axes = task_panels(tasks, explainers)
        for ax, task in zip(axes, tasks, strict=True):
            rows = shown[shown["task"] == task]
            means_and_cis(ax, rows, explainers, offsets, colors, marker="o", markersize=6)
            explainer_axis(ax, task, explainers)
            if rows.empty:
                ax.text(0.5, 0.5, "no successful folds", ha="center", va="center",
                        transform=ax.transAxes)
        axes[0].set_ylabel(f"{metric} (mean, 95% CI over folds)")
        architecture_legend(fig, archs, colors, "o")
    return fig


def plot_folds(scores: pd.DataFrame, path: str | Path, metric: str = "cosine") -> Path:
    """Plot one metric's per-fold values (see :func:`folds_figure`) to a PNG at ``path``."""
    return save_png(folds_figure(scores, metric), path, dpi=120)


def folds_figure(scores: pd.DataFrame, metric: str = "cosine") -> Figure:
    """Every fold's value for one metric, with the leaderboard's mean and 95% t-interval.

    One panel per task; x = explainer, hue = architecture (dodged), a small jittered point
    per fold (status ``ok``, finite value; drawn as seaborn's ``stripplot(dodge=True)``
    would, see :func:`strips`) and, at each group's centre, a diamond at the mean with a
    bar for the 95% t-interval of :func:`leaderboard` (no bar for a single fold). Plain
    Figure, as :func:`leaderboard_figure`.
    """
    import seaborn as sns

    sub = scores[scores["metric"] == metric]
    value = pd.to_numeric(sub["value"], errors="coerce")
    folds = sub.assign(value=value)[(sub["status"] == "ok") & np.isfinite(value)]
    board = leaderboard(folds)
    tasks = list(pd.unique(sub["task"])) or ["(no data)"]
    explainers = list(pd.unique(folds["explainer"]))
    archs = list(pd.unique(folds["architecture"]))
    colors, width, offsets = dodge(archs)

    with sns.axes_style("whitegrid"):
        fig, axes = task_panels(tasks, explainers)
        for ax, task in zip(axes, tasks, strict=True):
            points = folds[folds["task"] == task]
            if points.empty:
                ax.text(0.5, 0.5, "no successful folds", ha="center", va="center",
                        transform=ax.transAxes)
            else:
                strips(ax, points, explainers, archs, colors, offsets, 0.25 * width)
            means_and_cis(ax, board[board["task"] == task], explainers, offsets, colors,
                           marker="D", markersize=5, markeredgecolor="black",
                           markeredgewidth=0.6)
            explainer_axis(ax, task, explainers)
        axes[0].set_ylabel(f"{metric} (folds; mean, 95% CI)")
        architecture_legend(fig, archs, colors, "D")
    return fig


def plot_step_profile(profile: pd.DataFrame, path: str | Path, task: str) -> Path:
    """Plot one task's relevance distribution over time (see :func:`step_profile_figure`)."""
    return save_png(step_profile_figure(profile, task), path, dpi=110)


def step_profile_figure(profile: pd.DataFrame, task: str) -> Figure:
    """The thesis' Fig. 3.7: each step's share of the positive relevance, per explainer.

    ``profile`` is the run's ``step_profile.csv`` (task, architecture, explainer, fold, step,
    share). One panel per explainer, x = time step, hue = architecture, a line through the
    mean share over folds (each fold's share is a mean over its explained samples) with the
    folds' min-max band. A dashed line marks the uniform share 1/T.
    """
    import seaborn as sns

    rows = profile[profile["task"] == task]
    explainers = list(pd.unique(rows["explainer"])) or ["(no data)"]
    archs = list(pd.unique(rows["architecture"]))
    colors = dict(zip(archs, palette(len(archs)), strict=False))
    # mean, min and max share over folds per explainer x architecture x step, in one go
    bands = (rows.groupby(["explainer", "architecture", "step"], sort=False)["share"]
             .agg(["mean", "min", "max"]).sort_index(level="step", sort_remaining=False))
    bands = dict(iter(bands.groupby(level=["explainer", "architecture"], sort=False)))
    n_steps = rows.groupby("explainer", sort=False)["step"].nunique()
    with sns.axes_style("whitegrid"):
        fig, axes, n_cols = panel_grid(len(explainers), 4, (3.4, 2.6), (2, 0.6))
        with autoscaled_once(axes):
            for ax, explainer in zip(axes, explainers, strict=False):
                ax.set_title(str(explainer))
                for arch in (a for a in archs if (explainer, a) in bands):
                    band = bands[(explainer, arch)]
                    step = band.index.get_level_values("step") + 1
                    ax.plot(step, band["mean"].to_numpy(), marker="o", markersize=3,
                            color=colors[arch], label=str(arch))
                    ax.fill_between(step, band["min"].to_numpy(), band["max"].to_numpy(),
                                    color=colors[arch], alpha=0.15, linewidth=0)
                if explainer in n_steps.index:
                    ax.axhline(1 / n_steps[explainer], color="0.4", linestyle="--",
                               linewidth=0.8)
        for ax in axes[-n_cols:]:
            ax.set_xlabel("time step")
        for ax in axes[::n_cols]:
            ax.set_ylabel("share of positive relevance")
        if archs:
            handles, labels = axes[0].get_legend_handles_labels()
            fig.legend(handles, labels, title="architecture", loc="outside right upper")
        fig.suptitle(f"{task}: relevance over time (mean over folds, band = fold range)")
    return fig


def plot_curves(curves: pd.DataFrame, path: str | Path, task: str, metric: str) -> Path:
    """Plot one task's and metric's curves (see :func:`curves_figure`) to a PNG at ``path``."""
    return save_png(curves_figure(curves, task, metric), path, dpi=110)


def curves_figure(curves: pd.DataFrame, task: str, metric: str) -> Figure:
    """A metric's curve (e.g. accuracy vs. fraction of erased steps), per explainer.

    ``curves`` is the run's ``curves.csv`` (task, architecture, explainer, metric, fold, x,
    y, x_label, y_label). One panel per explainer (wrapped, shared axes), hue =
    architecture: a line through the mean y over folds at each x, with a band (a bar for a
    single x) for the 95% t-interval of :func:`t_interval` where there are >= 2 finite
    folds. NaN y are ignored. Colours follow the architectures' first appearance in
    ``curves``. Raises ValueError if ``task`` or ``metric`` has no rows.
    """
    import seaborn as sns

    if not (curves["task"] == task).any():
        raise ValueError(f"no curves for task {task!r}; tasks: {list(pd.unique(curves['task']))}")
    rows = curves[(curves["task"] == task) & (curves["metric"] == metric)]
    if rows.empty:
        valid = list(pd.unique(curves.loc[curves["task"] == task, "metric"]))
        raise ValueError(f"no {metric!r} curves for task {task!r}; metrics: {valid}")
    rows = rows.assign(x=pd.to_numeric(rows["x"], errors="coerce"),
                       y=pd.to_numeric(rows["y"], errors="coerce"))
    rows = rows[np.isfinite(rows["x"].to_numpy(dtype=np.float64))]
    explainers = list(pd.unique(rows["explainer"])) or ["(no data)"]
    archs = list(pd.unique(curves["architecture"]))
    colors = dict(zip(archs, palette(len(archs)), strict=False))
    finite = rows[np.isfinite(rows["y"].to_numpy(dtype=np.float64))]
    shown = [a for a in archs if a in set(finite["architecture"])]
    # the t-interval of y at every explainer x architecture x x, in one go (x ascending)
    grouped = rows.groupby(["explainer", "architecture", "x"])
    keys, codes = grouped.size().index, grouped.ngroup().fillna(-1).to_numpy(np.int64)
    ci = t_intervals(rows["y"].to_numpy(np.float64, na_value=np.nan), codes, len(keys))
    points = pd.DataFrame({k: ci[k] for k in ("mean", "low", "high")}, index=keys)
    curve_of = dict(iter(points.groupby(level=["explainer", "architecture"], sort=False)))
    with sns.axes_style("whitegrid"):
        fig, axes, n_cols = panel_grid(len(explainers), 3, (3.6, 2.8), (2, 0.7))
        with autoscaled_once(axes):
            for ax, explainer in zip(axes, explainers, strict=False):
                ax.set_title(str(explainer))
                drawn = False
                for arch in shown:
                    drawn |= mean_curve(ax, curve_of.get((explainer, arch)), colors[arch])
                if not drawn:
                    ax.text(0.5, 0.5, "no data", ha="center", va="center",
                            transform=ax.transAxes)
        for i, ax in enumerate(axes[:len(explainers)]):
            if i + n_cols >= len(explainers):  # lowest visible panel of its column
                ax.xaxis.set_tick_params(labelbottom=True)
                ax.set_xlabel(first_label(rows, "x_label", "x"))
            if i % n_cols == 0:
                ax.set_ylabel(first_label(rows, "y_label", "y"))
        architecture_legend(fig, shown, colors, "o")
        fig.suptitle(f"{task}: {metric} (mean over folds, 95% CI)")
    return fig


def plot_accuracy(accuracy: pd.DataFrame, path: str | Path) -> Path:
    """Plot the test accuracy per task and architecture (see :func:`accuracy_figure`)."""
    return save_png(accuracy_figure(accuracy), path, dpi=120)


def accuracy_figure(accuracy: pd.DataFrame) -> Figure:
    """Mean test accuracy per architecture (rows) and task (columns) as a heatmap.

    ``accuracy`` is the run's ``accuracy.csv`` (one row per task x architecture with its
    ``mean``); rows and columns in order of first appearance, cells annotated with two
    decimals on a 0..1 colour scale, NaN cells blank. The height grows with the number of
    architectures so that every label stays legible.
    """
    import seaborn as sns
    from matplotlib.figure import Figure

    archs = list(pd.unique(accuracy["architecture"]))
    tasks = list(pd.unique(accuracy["task"]))
    mean = accuracy.assign(mean=pd.to_numeric(accuracy["mean"], errors="coerce"))
    grid = (mean.groupby(["architecture", "task"], sort=False)["mean"].mean().unstack()
            .reindex(index=archs, columns=tasks).astype(np.float64))
    fig = Figure(figsize=(max(4.0, 0.75 * len(tasks) + 3.5), max(2.5, 0.3 * len(archs) + 1.6)),
                 layout="constrained")
    ax = fig.subplots()
    if grid.size:
        sns.heatmap(grid, vmin=0.0, vmax=1.0, cmap="viridis", annot=True, fmt=".2f",
                    annot_kws={"fontsize": 8}, linewidths=0.5, xticklabels=True,
                    yticklabels=True, cbar_kws={"label": "accuracy"}, ax=ax)
        ax.tick_params(axis="x", labelrotation=45 if len(tasks) > 4 else 0)
        ax.tick_params(axis="y", labelrotation=0)
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("task")
    ax.set_ylabel("architecture")
    ax.set_title("test accuracy (mean over folds)")
    return fig


