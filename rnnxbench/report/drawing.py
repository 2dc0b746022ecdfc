"""Drawing helpers shared by the figures: panel grids, dodged architectures, strips of fold
values, means with t-intervals, curves, legends and the palette."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@contextmanager
def autoscaled_once(axes: Any) -> Iterator[None]:
    """Autoscale ``axes`` once after the block has drawn on them, not after every artist
    (which rescales every shared panel): the same final limits, which depend only on the
    data limits. No ``set_xlim`` and the like inside."""
    for ax in axes:
        ax.set_autoscale_on(False)
    try:
        yield
    finally:
        for ax in axes:
            ax.set_autoscale_on(True)
        for ax in axes:  # an axis without data anywhere in its shared group keeps its limits
            scale = {f"scale{name}": any(
                np.isfinite(getattr(other.dataLim, f"interval{name}")).all()
                for other in getattr(ax, f"get_shared_{name}_axes")().get_siblings(ax))
                for name in "xy"}
            ax.autoscale_view(**scale)


def explainer_axis(ax: Any, task: Any, explainers: list) -> None:
    """A task panel's title, explainer names as x ticks (slanted when many), x range."""
    ax.set_title(str(task))
    ax.set_xticks(range(len(explainers)), [str(e) for e in explainers],
                  rotation=30 if len(explainers) > 4 else 0)
    ax.set_xlim(-0.6, max(len(explainers), 1) - 0.4)
    ax.set_xlabel("explainer")


def strips(ax: Any, points: pd.DataFrame, explainers: list, archs: list, colors: dict,
            offsets: dict, jitter: float) -> None:
    """Each fold's ``value`` at its explainer's dodged slot, as ``seaborn.stripplot(dodge=True,
    jitter=jitter, size=3.5, alpha=0.55)`` draws them, to the pixel, in a few scatters
    instead of one per explainer x architecture: the same order, colours and random jitter
    (uniform within +-``jitter`` / number of architectures, drawn in the same order
    but from a seeded generator, so a figure's file depends on its data only; none for a
    single point), the x grid off as on seaborn's categorical axis."""
    points = points.assign(__e=points["explainer"].map({e: i for i, e in enumerate(explainers)}),
                           __a=points["architecture"].map({a: i for i, a in enumerate(archs)}))
    points = points.sort_values(["__e", "__a"], kind="stable")
    sizes = points.groupby(["__e", "__a"], sort=False).size().to_numpy()
    limit = jitter / max(len(archs), 1)
    move = np.zeros(len(points))
    many = np.repeat(sizes > 1, sizes)
    rng = np.random.default_rng(0)  # seeded: the same file for the same data
    move[many] = rng.uniform(-limit, limit, size=int(many.sum()))
    x = (points["__e"].to_numpy(dtype=np.float64) + points["architecture"].map(offsets)
         .to_numpy(dtype=np.float64) + move)
    y = points["value"].to_numpy(dtype=np.float64)
    face = np.array([colors[a] for a in points["architecture"]], dtype=np.float64)
    # one scatter per run of multi-point groups, one per single point (matplotlib renders a
    # one-colour collection differently, snapped to pixels; seaborn has one per group)
    single = sizes == 1
    starts = single | np.r_[True, single[:-1]]
    chunk = np.repeat(np.cumsum(starts), sizes)
    for c in np.unique(chunk):
        at = chunk == c
        ax.scatter(x[at], y[at], s=3.5 ** 2, linewidths=0, facecolors=face[at], alpha=0.55,
                   zorder=3)
    ax.xaxis.grid(False)


def panel_grid(n_panels: int, max_cols: int, panel: tuple[float, float],
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


def dodge(archs: list) -> tuple[dict, float, dict]:
    """Colour, dodge width and x offset of each architecture (seaborn's dodge: the hue
    levels share a width of 0.8 around each explainer)."""
    width = 0.8 / max(len(archs), 1)
    offsets = {a: (i - (len(archs) - 1) / 2) * width for i, a in enumerate(archs)}
    return dict(zip(archs, palette(len(archs)), strict=False)), width, offsets


def task_panels(tasks: list, explainers: list) -> tuple[Figure, Any]:
    """A plain Figure with one panel per task (shared y), wide enough for the explainers."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(4.0, 1.1 * len(explainers) + 2) * len(tasks), 4.2),
                 layout="constrained")
    return fig, fig.subplots(1, len(tasks), sharey=True, squeeze=False)[0]


def architecture_legend(fig: Figure, archs: list, colors: dict, marker: str) -> None:
    """One legend entry (a marker in the architecture's colour) per architecture."""
    from matplotlib.lines import Line2D

    if archs:
        handles = [Line2D([], [], marker=marker, linestyle="none", color=colors[a])
                   for a in archs]
        fig.legend(handles, [str(a) for a in archs], title="architecture",
                   loc="outside right upper")


def means_and_cis(ax: Any, rows: pd.DataFrame, explainers: list, offsets: dict,
                   colors: dict, **marker: Any) -> None:
    """Leaderboard ``rows``, architecture by architecture (in the order of ``offsets``)."""
    groups = dict(iter(rows.groupby("architecture", sort=False)))
    for arch in (a for a in offsets if a in groups):
        mean_and_ci(ax, groups[arch], explainers, offsets[arch], colors[arch], **marker)


def mean_and_ci(ax: Any, rows: pd.DataFrame, explainers: list, offset: float, color: Any,
                 **marker: Any) -> None:
    """Leaderboard rows of one architecture: a marker at each explainer's mean and a bar for
    its 95% t-interval (none where the interval is NaN, e.g. a single fold)."""
    x = np.array([explainers.index(e) for e in rows["explainer"]]) + offset
    mean = rows["mean"].to_numpy(dtype=np.float64)
    low = rows["ci95_low"].to_numpy(dtype=np.float64)
    high = rows["ci95_high"].to_numpy(dtype=np.float64)
    has_ci = np.isfinite(low) & np.isfinite(high)
    if has_ci.any():
        ax.errorbar(x[has_ci], mean[has_ci], yerr=np.vstack([mean - low, high - mean])[:, has_ci],
                    fmt="none", ecolor=color, elinewidth=1.5, capsize=3)
    ax.plot(x, mean, linestyle="none", color=color, **marker)


def mean_curve(ax: Any, points: pd.DataFrame | None, color: Any) -> bool:
    """One architecture's curve from its ``points`` (mean, low, high of y per x, ascending
    x): the mean line, and a band (a bar for a single x) for the 95% t-interval where it
    exists; False if nothing was drawn."""
    if points is None or points.empty:
        return False
    x = points.index.get_level_values("x").to_numpy(dtype=np.float64)
    mean, low, high = (points[k].to_numpy(dtype=np.float64) for k in ("mean", "low", "high"))
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


def first_label(rows: pd.DataFrame, column: str, default: str) -> str:
    """The first non-empty ``column`` value of ``rows`` (an axis label), else ``default``."""
    if column not in rows:
        return default
    labels = [str(v) for v in rows[column] if isinstance(v, str) and v.strip()]
    return labels[0] if labels else default


def palette(n: int) -> list:
    """Distinct colours for ``n`` architectures (tab10 up to 10, then tab20, then husl)."""
    import seaborn as sns

    name = "tab10" if n <= 10 else "tab20" if n <= 20 else "husl"
    return sns.color_palette(name, max(n, 1))
