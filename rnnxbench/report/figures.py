"""Figures: the thesis' Fig. 3.12 style leaderboard plot (mean and 95% CI over folds), fold
values, relevance over time, metric curves and the test accuracy heatmap."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rnnxbench.report.tables import leaderboard, t_interval

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def save_png(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` as a PNG at ``path`` (the parent folder is created); returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def plot_leaderboard(scores: pd.DataFrame, path: str | Path, metric: str = "cosine") -> Path:
    """Plot one metric's leaderboard (see :func:`leaderboard_figure`) to a PNG at ``path``.

    The parent folder is created; returns ``path``.
    """
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
    colors, width, offsets = _dodge(archs)

    with sns.axes_style("whitegrid"):
        fig, axes = _task_panels(tasks, explainers)
        for ax, task in zip(axes, tasks, strict=True):
            rows = shown[shown["task"] == task]
            for arch in archs:
                _mean_and_ci(ax, rows[rows["architecture"] == arch], explainers,
                             offsets[arch], colors[arch], marker="o", markersize=6)
            ax.set_title(str(task))
            ax.set_xticks(range(len(explainers)), [str(e) for e in explainers],
                          rotation=30 if len(explainers) > 4 else 0)
            ax.set_xlim(-0.6, max(len(explainers), 1) - 0.4)
            ax.set_xlabel("explainer")
            if rows.empty:
                ax.text(0.5, 0.5, "no successful folds", ha="center", va="center",
                        transform=ax.transAxes)
        axes[0].set_ylabel(f"{metric} (mean, 95% CI over folds)")
        _architecture_legend(fig, archs, colors, "o")
    return fig


def plot_folds(scores: pd.DataFrame, path: str | Path, metric: str = "cosine") -> Path:
    """Plot one metric's per-fold values (see :func:`folds_figure`) to a PNG at ``path``.

    The parent folder is created; returns ``path``.
    """
    return save_png(folds_figure(scores, metric), path, dpi=120)


def folds_figure(scores: pd.DataFrame, metric: str = "cosine") -> Figure:
    """Every fold's value for one metric, with the leaderboard's mean and 95% t-interval.

    One panel per task; x = explainer, hue = architecture (dodged as seaborn's stripplot
    dodges), a small jittered point per fold (status ``ok``, finite value) and, at each
    group's centre, a diamond at the mean with a bar for the 95% t-interval of
    :func:`leaderboard` (no bar for a single fold). Plain Figure, as :func:`leaderboard_figure`.
    """
    import seaborn as sns

    sub = scores[scores["metric"] == metric]
    value = pd.to_numeric(sub["value"], errors="coerce")
    folds = sub.assign(value=value)[(sub["status"] == "ok") & np.isfinite(value)]
    board = leaderboard(folds)
    tasks = list(pd.unique(sub["task"])) or ["(no data)"]
    explainers = list(pd.unique(folds["explainer"]))
    archs = list(pd.unique(folds["architecture"]))
    colors, width, offsets = _dodge(archs)

    with sns.axes_style("whitegrid"):
        fig, axes = _task_panels(tasks, explainers)
        for ax, task in zip(axes, tasks, strict=True):
            points = folds[folds["task"] == task]
            if points.empty:
                ax.text(0.5, 0.5, "no successful folds", ha="center", va="center",
                        transform=ax.transAxes)
            else:
                sns.stripplot(data=points, x="explainer", y="value", hue="architecture",
                              order=explainers, hue_order=archs, palette=colors, dodge=True,
                              jitter=0.25 * width, size=3.5, alpha=0.55, legend=False, ax=ax)
            rows = board[board["task"] == task]
            for arch in archs:
                _mean_and_ci(ax, rows[rows["architecture"] == arch], explainers,
                             offsets[arch], colors[arch], marker="D", markersize=5,
                             markeredgecolor="black", markeredgewidth=0.6)
            ax.set_title(str(task))
            ax.set_xticks(range(len(explainers)), [str(e) for e in explainers],
                          rotation=30 if len(explainers) > 4 else 0)
            ax.set_xlim(-0.6, max(len(explainers), 1) - 0.4)
            ax.set_xlabel("explainer")
            ax.set_ylabel("")
        axes[0].set_ylabel(f"{metric} (folds; mean, 95% CI)")
        _architecture_legend(fig, archs, colors, "D")
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
    colors = dict(zip(archs, _palette(len(archs)), strict=False))
    with sns.axes_style("whitegrid"):
        fig, axes, n_cols = _panel_grid(len(explainers), 4, (3.4, 2.6), (2, 0.6))
        for ax, explainer in zip(axes, explainers, strict=False):
            sub = rows[rows["explainer"] == explainer]
            for arch in archs:
                by_step = sub[sub["architecture"] == arch].groupby("step")["share"]
                if not len(by_step):
                    continue
                mean = by_step.mean()
                ax.plot(mean.index + 1, mean.to_numpy(), marker="o", markersize=3,
                        color=colors[arch], label=str(arch))
                ax.fill_between(mean.index + 1, by_step.min().to_numpy(),
                                by_step.max().to_numpy(), color=colors[arch], alpha=0.15,
                                linewidth=0)
            if not sub.empty:
                ax.axhline(1 / sub["step"].nunique(), color="0.4", linestyle="--",
                           linewidth=0.8)
            ax.set_title(str(explainer))
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
    colors = dict(zip(archs, _palette(len(archs)), strict=False))
    finite = rows[np.isfinite(rows["y"].to_numpy(dtype=np.float64))]
    shown = [a for a in archs if a in set(finite["architecture"])]
    with sns.axes_style("whitegrid"):
        fig, axes, n_cols = _panel_grid(len(explainers), 3, (3.6, 2.8), (2, 0.7))
        for ax, explainer in zip(axes, explainers, strict=False):
            sub = rows[rows["explainer"] == explainer]
            drawn = False
            for arch in shown:
                drawn |= _mean_curve(ax, sub[sub["architecture"] == arch], colors[arch])
            if not drawn:
                ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(str(explainer))
        for i, ax in enumerate(axes[:len(explainers)]):
            if i + n_cols >= len(explainers):  # lowest visible panel of its column
                ax.xaxis.set_tick_params(labelbottom=True)
                ax.set_xlabel(_first_label(rows, "x_label", "x"))
            if i % n_cols == 0:
                ax.set_ylabel(_first_label(rows, "y_label", "y"))
        _architecture_legend(fig, shown, colors, "o")
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


def _panel_grid(n_panels: int, max_cols: int, panel: tuple[float, float],
                margin: tuple[float, float]) -> tuple[Figure, Any, int]:
    """A constrained Figure of ``n_panels`` shared-axis panels in rows of at most
    ``max_cols`` (``panel`` inches each, plus ``margin``): ``(fig, flat axes, n_cols)``;
    the grid's unused panels are hidden."""
    from matplotlib.figure import Figure

    n_cols = min(max_cols, n_panels)
    n_rows = -(-n_panels // n_cols)
    fig = Figure(figsize=(panel[0] * n_cols + margin[0], panel[1] * n_rows + margin[1]),
                 layout="constrained")
    axes = fig.subplots(n_rows, n_cols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes, n_cols


def _dodge(archs: list) -> tuple[dict, float, dict]:
    """Colour, dodge width and x offset of each architecture (seaborn's dodge: the hue
    levels share a width of 0.8 around each explainer)."""
    width = 0.8 / max(len(archs), 1)
    offsets = {a: (i - (len(archs) - 1) / 2) * width for i, a in enumerate(archs)}
    return dict(zip(archs, _palette(len(archs)), strict=False)), width, offsets


def _task_panels(tasks: list, explainers: list) -> tuple[Figure, Any]:
    """A plain Figure with one panel per task (shared y), wide enough for the explainers."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(4.0, 1.1 * len(explainers) + 2) * len(tasks), 4.2),
                 layout="constrained")
    return fig, fig.subplots(1, len(tasks), sharey=True, squeeze=False)[0]


def _architecture_legend(fig: Figure, archs: list, colors: dict, marker: str) -> None:
    """One legend entry (a marker in the architecture's colour) per architecture."""
    from matplotlib.lines import Line2D

    if archs:
        handles = [Line2D([], [], marker=marker, linestyle="none", color=colors[a])
                   for a in archs]
        fig.legend(handles, [str(a) for a in archs], title="architecture",
                   loc="outside right upper")


def _mean_and_ci(ax: Any, rows: pd.DataFrame, explainers: list, offset: float, color: Any,
                 **marker: Any) -> None:
    """Leaderboard rows of one architecture: a marker at each explainer's mean and a bar for
    its 95% t-interval (none where the interval is NaN, e.g. a single fold)."""
    if rows.empty:
        return
    x = np.array([explainers.index(e) for e in rows["explainer"]]) + offset
    mean = rows["mean"].to_numpy(dtype=np.float64)
    low = rows["ci95_low"].to_numpy(dtype=np.float64)
    high = rows["ci95_high"].to_numpy(dtype=np.float64)
    has_ci = np.isfinite(low) & np.isfinite(high)
    if has_ci.any():
        ax.errorbar(x[has_ci], mean[has_ci], yerr=np.vstack([mean - low, high - mean])[:, has_ci],
                    fmt="none", ecolor=color, elinewidth=1.5, capsize=3)
    ax.plot(x, mean, linestyle="none", color=color, **marker)


def _mean_curve(ax: Any, rows: pd.DataFrame, color: Any) -> bool:
    """One architecture's curve: the mean y over folds at each x, and a band (a bar for a
    single x) for the 95% t-interval where it exists; False if nothing was drawn."""
    cis = {x: t_interval(y.to_numpy(dtype=np.float64)) for x, y in rows.groupby("x")["y"]}
    if not cis:
        return False
    x = np.array(list(cis), dtype=np.float64)
    mean, _, low, high = np.array(list(cis.values()), dtype=np.float64).T
    keep = np.isfinite(mean)
    if not keep.any():
        return False
    x, mean, low, high = x[keep], mean[keep], low[keep], high[keep]
    has_ci = np.isfinite(low) & np.isfinite(high)
    if len(x) > 1 and has_ci.any():
        ax.fill_between(x, np.where(has_ci, low, np.nan), np.where(has_ci, high, np.nan),
                        color=color, alpha=0.15, linewidth=0)
    elif has_ci.any():
        ax.errorbar(x, mean, yerr=np.vstack([mean - low, high - mean]), fmt="none",
                    ecolor=color, elinewidth=1.5)
    ax.plot(x, mean, marker="o", markersize=3, color=color)
    return True


def _first_label(rows: pd.DataFrame, column: str, default: str) -> str:
    """The first non-empty ``column`` value of ``rows`` (an axis label), else ``default``."""
    if column not in rows:
        return default
    labels = [str(v) for v in rows[column] if isinstance(v, str) and v.strip()]
    return labels[0] if labels else default


def _palette(n: int) -> list:
    """Distinct colours for ``n`` architectures (tab10 up to 10, then tab20, then husl)."""
    import seaborn as sns

    name = "tab10" if n <= 10 else "tab20" if n <= 20 else "husl"
    return sns.color_palette(name, max(n, 1))
