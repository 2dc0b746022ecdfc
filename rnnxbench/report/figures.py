"""Figures: the thesis' Fig. 3.12 style leaderboard plot (mean and 95% CI over folds)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rnnxbench.report.tables import leaderboard

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
    from matplotlib.figure import Figure

    rows = profile[profile["task"] == task]
    explainers = list(pd.unique(rows["explainer"])) or ["(no data)"]
    archs = list(pd.unique(rows["architecture"]))
    colors = dict(zip(archs, _palette(len(archs)), strict=False))
    n_cols = min(4, len(explainers))
    n_rows = -(-len(explainers) // n_cols)
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(3.4 * n_cols + 2, 2.6 * n_rows + 0.6), layout="constrained")
        axes = fig.subplots(n_rows, n_cols, sharex=True, sharey=True, squeeze=False).ravel()
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
        for ax in axes[len(explainers):]:
            ax.set_visible(False)
        for ax in axes[-n_cols:]:
            ax.set_xlabel("time step")
        for ax in axes[::n_cols]:
            ax.set_ylabel("share of positive relevance")
        if archs:
            handles, labels = axes[0].get_legend_handles_labels()
            fig.legend(handles, labels, title="architecture", loc="outside right upper")
        fig.suptitle(f"{task}: relevance over time (mean over folds, band = fold range)")
    return fig


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


def _palette(n: int) -> list:
    """Distinct colours for ``n`` architectures (tab10 up to 10, then tab20, then husl)."""
    import seaborn as sns

    name = "tab10" if n <= 10 else "tab20" if n <= 20 else "husl"
    return sns.color_palette(name, max(n, 1))
