"""The thesis-style relevance heatmap grid of one task: rows are architectures, columns the
inputs and then each explainer; every cell stacks the same few sequences, ground-truth blocks
outlined, on its own colour scale symmetric around 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image

from rnnxbench.report.exploration import Exploration
from rnnxbench.report.input_images import as_image, evidence_spans

_COL_IN, _IMAGE_IN, _GAP = 1.1, 0.35, 2  # column width, stacked image height (in), gap rows
_LEFT_IN, _TOP_IN, _PAD_IN = 1.3, 0.75, 0.28  # margins and the room for a cell's caption


def heatmap_sequences(label: np.ndarray, n: int = 4) -> list[int]:
    """Positions of up to ``n`` sequences to show, ordered by class: the first sequence of
    each class (of ``n`` evenly spaced classes when there are more), then further sequences of
    each class in turn while fewer than ``n`` are chosen."""
    label = np.asarray(label)
    classes = np.unique(label)
    if n <= 0 or len(label) == 0:
        return []
    if len(classes) > n:
        classes = classes[np.round(np.linspace(0, len(classes) - 1, n)).astype(int)]
    members = [list(np.flatnonzero(label == c)) for c in classes]
    chosen = [m[0] for m in members]
    depth = 1
    while len(chosen) < n and any(len(m) > depth for m in members):
        chosen += [m[depth] for m in members if len(m) > depth][:n - len(chosen)]
        depth += 1
    return sorted((int(p) for p in chosen), key=lambda p: (label[p], p))


def _check(explorations: list[Exploration]) -> Exploration:
    if not explorations:
        raise ValueError("plot_heatmaps needs at least one exploration")
    first = explorations[0]
    for e in explorations[1:]:
        if (e.task, e.fold) != (first.task, first.fold):
            raise ValueError(f"explorations of different tasks/folds: {first.task} fold "
                             f"{first.fold} and {e.task} fold {e.fold}")
        if not np.array_equal(np.asarray(e.sample), np.asarray(first.sample)):
            raise ValueError(f"explorations of {first.task} explain different sequences: "
                             f"{first.architecture} and {e.architecture} differ in `sample`")
    return first


def _stack(images: list[np.ndarray]) -> tuple[np.ndarray, list[int]]:
    """The images one under another (NaN gap rows) and the top row of each."""
    gap = np.full((_GAP, images[0].shape[1]), np.nan)
    rows = [a for img in images for a in (img.astype(float), gap)][:-1]
    tops = [i * (images[0].shape[0] + _GAP) for i in range(len(images))]
    return np.concatenate(rows, axis=0), tops


def _outline(ax, e: Exploration, chosen: list[int], tops: list[int], height: int) -> None:
    for top, i in zip(tops, chosen, strict=True):
        truth = e.ground_truth[i] if e.ground_truth.shape[1] else np.zeros(0, dtype=bool)
        for start, stop in evidence_spans(e.step_block, truth, e.step_shape):
            ax.add_patch(Rectangle((start - 0.5, top - 0.5), stop - start, height, fill=False,
                                   edgecolor="lime", linewidth=1.0))


def draw_heatmaps(explorations: list[Exploration], n: int = 4) -> Figure:
    """The heatmap grid (see :func:`plot_heatmaps`) as a matplotlib Figure (Agg canvas)."""
    first = _check(explorations)
    chosen = heatmap_sequences(first.label, n)
    columns = list(dict.fromkeys(x for e in explorations for x in e.explainers))
    nrows, ncols, k = len(explorations), len(columns) + 1, max(len(chosen), 1)
    cell_in = k * _IMAGE_IN
    width = _LEFT_IN + ncols * _COL_IN + 0.15
    height = _TOP_IN + nrows * (cell_in + _PAD_IN) + 0.1
    fig = Figure(figsize=(width, height), dpi=110)
    axes = fig.subplots(nrows, ncols, squeeze=False, gridspec_kw=dict(
        left=_LEFT_IN / width, right=1 - 0.15 / width, top=1 - _TOP_IN / height,
        bottom=0.1 / height, wspace=0.08 / _COL_IN, hspace=_PAD_IN / cell_in))
    lo, hi = first.bounds
    for r, e in enumerate(explorations):
        for c, name in enumerate(["input", *columns]):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=7, pad=3)
            if c == 0:
                ax.set_ylabel(e.architecture, fontsize=7, labelpad=2)
            if not chosen or (c and name not in e.relevance):
                ax.set_facecolor("0.8")
                ax.text(0.5, 0.5, "n/a", ha="center", va="center", fontsize=7,
                        transform=ax.transAxes)
                continue
            source = e.x if c == 0 else e.relevance[name]
            images = [as_image(source[i], e.step_shape, "mean" if c == 0 else "sum")
                      for i in chosen]
            stacked, tops = _stack(images)
            if c == 0:
                vmin, vmax = (lo, hi) if hi > lo else (np.nanmin(stacked), np.nanmax(stacked))
                ax.imshow(stacked, cmap="gray", vmin=vmin, vmax=vmax, aspect="auto",
                          interpolation="nearest")
                ax.set_yticks([t + images[0].shape[0] / 2 for t in tops])
                ax.set_yticklabels([f"label {e.label[i]} / pred {e.predicted[i]}"
                                    for i in chosen], fontsize=4.5)
                for tick, i in zip(ax.get_yticklabels(), chosen, strict=True):
                    tick.set_color("black" if e.label[i] == e.predicted[i] else "red")
                ax.tick_params(axis="y", length=0, pad=1)
            else:
                finite = np.abs(stacked[np.isfinite(stacked)])
                lim = float(finite.max()) if finite.size else 0.0
                ax.imshow(stacked, cmap="bwr", vmin=-(lim or 1.0), vmax=lim or 1.0,
                          aspect="auto", interpolation="nearest")
                ax.set_xlabel(f"±{lim:.1e}" if lim else "all 0", fontsize=5, labelpad=1)
            _outline(ax, e, chosen, tops, images[0].shape[0])
    shown = ", ".join(str(int(first.sample[i])) for i in chosen)
    fig.suptitle(f"{first.task}, fold {first.fold}, sequences {shown}\ncolour: relevance / "
                 "max |relevance| per cell; green boxes: ground-truth blocks", fontsize=8,
                 y=1 - 0.08 / height, va="top")
    return fig


def plot_heatmaps(explorations: list[Exploration], path: Path, n: int = 4) -> Path:
    """Write the heatmap grid of one task to a PNG at ``path`` and return ``path``.

    Rows are the explorations' architectures (in order), columns the inputs (grey; label and
    the row model's prediction per sequence, red when wrong) then every explainer (the union
    of ``explainers``, in order). Each cell stacks the :func:`heatmap_sequences` of the task,
    ground-truth blocks outlined in green; relevance uses a diverging map symmetric around 0
    scaled to the cell's max |relevance| (stated under the cell). A missing explainer shows
    grey "n/a". ValueError when ``explorations`` is empty or mixes tasks, folds or samples.
    """
    fig = draw_heatmaps(explorations, n)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        pixels = Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("RGB")
    finally:
        fig.clear()
    # a 256-colour palette keeps a large grid small (a third of the RGB PNG's bytes)
    pixels.quantize(256, method=Image.Quantize.FASTOCTREE).save(path, format="PNG")
    return path
