"""The hidden-state explorer: one self-contained page per task x architecture of a fold.

After Garcia, Munz and Weiskopf's visual analytics of recurrent hidden states, as a static
Bokeh page (JavaScript inlined, opens from ``file://`` offline). Views, all linked to the
selected sequence (a table row or a point of the projection):

- overview: fold accuracy, the confusion matrix on the fold's held-out sequences and a
  table of the explained sequences (label, prediction, correct, confidence);
- projection: every explained sequence's hidden state at every step in 2-D (PCA or
  t-SNE), coloured by the expected prediction's class (alpha its probability) or by the
  true class, the selected sequence's trajectory drawn through it, steps whose state
  moved more than the threshold labelled;
- input: the selected sequence with its ground-truth blocks outlined, and every
  explainer's relevance for the true class as a heatmap over it (one colour scale per map,
  stated in its title);
- expected predictions: a time x class heatmap, the argmax class of each step marked;
- step distances ``||h_t - h_{t-1}||`` as bars with a threshold slider.

Bokeh models carry names the browser tests read (``sequences``, ``points``,
``trajectory``, ``input``, ``relevance:<explainer>``, ``expected``, ``distances``,
``jumps``, ``threshold``, ``colour``).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from rnnxbench.report.exploration import Exploration
from rnnxbench.report.explorer_data import project_states, sequence_store, step_distances
from rnnxbench.report.input_images import as_image

JS_PATH = Path(__file__).with_name("explorer.js")
WIDTH = 1250


def page_name(task: str, architecture: str, fold: int) -> str:
    """The page's file name inside ``results/<suite>/explore/``."""
    return f"{task}__{architecture}__fold{fold}.html"


def class_palette(n: int) -> list[str]:
    from bokeh.palettes import Category10_10, Category20_20, turbo

    return list(Category10_10[:n] if n <= 10 else Category20_20[:n] if n <= 20 else turbo(n))


def diverging_palette() -> list[str]:
    """256 colours from blue (negative) over white (0) to red (positive)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    return [to_hex(c) for c in colormaps["bwr"](np.linspace(0, 1, 256))]


def overview(exp: Exploration) -> tuple[Any, Any]:
    """The confusion matrix figure and the explained sequences' table (its source is the
    selection every view follows)."""
    from bokeh.models import ColumnDataSource, DataTable, NumberFormatter, TableColumn
    from bokeh.plotting import figure

    c = exp.n_classes
    conf = exp.confusion.astype(float)
    share = conf / np.maximum(conf.sum(1, keepdims=True), 1)
    true, pred = np.meshgrid(np.arange(c), np.arange(c), indexing="ij")
    cells = ColumnDataSource({"true": true.ravel(), "pred": pred.ravel(),
                              "count": exp.confusion.ravel().astype(int),
                              "share": share.ravel(), "text": [str(int(v)) for v in
                                                               exp.confusion.ravel()]})
    fig = figure(width=330, height=330, title="confusion (fold's held-out sequences)",
                 x_axis_label="predicted", y_axis_label="true", tools="hover",
                 tooltips=[("true", "@true"), ("predicted", "@pred"), ("count", "@count")],
                 x_range=(-0.5, c - 0.5), y_range=(c - 0.5, -0.5))
    from bokeh.models import LinearColorMapper

    mapper = LinearColorMapper(palette="Blues256", low=1, high=0)
    fig.rect("pred", "true", 1, 1, source=cells, fill_color={"field": "share",
                                                              "transform": mapper},
             line_color="white")
    fig.text("pred", "true", text="text", source=cells, text_align="center",
             text_baseline="middle", text_font_size="8pt")
    proba = exp.proba
    rows = {"position": np.arange(len(exp.label)), "sample": exp.sample.astype(int),
            "label": exp.label.astype(int), "predicted": exp.predicted.astype(int),
            "correct": [str(bool(v)) for v in exp.label == exp.predicted],
            "confidence": proba.max(1).astype(float),
            "p_true": proba[np.arange(len(exp.label)), exp.label].astype(float)}
    seqs = ColumnDataSource(rows, name="sequences")
    seqs.selected.indices = [0]
    fmt = NumberFormatter(format="0.000")
    cols = [TableColumn(field=k, title=k, formatter=fmt) if k in ("confidence", "p_true")
            else TableColumn(field=k, title=k) for k in rows]
    table = DataTable(source=seqs, columns=cols, width=560, height=330, sortable=True,
                      index_position=None, selectable=True, reorderable=False,
                      name="sequence_table")
    return fig, table


def projection_view(exp: Exploration, coords: np.ndarray, method: str
                    ) -> tuple[Any, dict[str, Any]]:
    """The projection figure and its sources (points; the trajectory and labelled jumps
    of the selected sequence, which the page's script fills)."""
    from bokeh.models import ColumnDataSource, HoverTool, TapTool
    from bokeh.plotting import figure

    n, t, _ = coords.shape
    palette = class_palette(exp.n_classes)
    ep_class = exp.expected.argmax(2)
    seq, step = np.meshgrid(np.arange(n), np.arange(1, t + 1), indexing="ij")
    label = np.repeat(exp.label[:, None], t, 1)
    color_ep = [palette[k] for k in ep_class.ravel()]
    points = ColumnDataSource({
        "x": coords[..., 0].ravel(), "y": coords[..., 1].ravel(), "seq": seq.ravel(),
        "sample": exp.sample[seq.ravel()], "step": step.ravel(), "label": label.ravel(),
        "ep_class": ep_class.ravel(), "ep_conf": exp.expected.max(2).ravel(),
        "color": color_ep, "color_ep": color_ep,
        "color_label": [palette[k] for k in label.ravel()]}, name="points")
    fig = figure(width=620, height=520, tools="pan,wheel_zoom,box_zoom,reset,save",
                 title=f"hidden states of all explained sequences and steps ({method.upper()})",
                 x_axis_label=f"{method} 1", y_axis_label=f"{method} 2")
    dots = fig.scatter("x", "y", source=points, size=6, fill_color="color",
                       line_color=None, fill_alpha="ep_conf",
                       nonselection_fill_alpha="ep_conf", selection_fill_alpha=1.0)
    fig.add_tools(TapTool(renderers=[dots]),
                  HoverTool(renderers=[dots], tooltips=[
                      ("sample", "@sample"), ("step", "@step"), ("label", "@label"),
                      ("expected", "@ep_class (@ep_conf{0.00})")]))
    traj = ColumnDataSource({"x": [], "y": [], "step": []}, name="trajectory")
    fig.line("x", "y", source=traj, line_color="black", line_width=2)
    fig.scatter("x", "y", source=traj, size=5, color="black")
    jumps = ColumnDataSource({"x": [], "y": [], "text": []}, name="jumps")
    fig.text("x", "y", text="text", source=jumps, text_font_size="9pt", x_offset=4,
             y_offset=-4, text_color="black")
    return fig, {"points": points, "traj": traj, "jumps": jumps}


def input_views(exp: Exploration) -> tuple[list[Any], dict[str, Any]]:
    """The input figure and one relevance figure per explainer (a note for the others);
    their sources hold the selected sequence, filled by the page's script."""
    from bokeh.models import ColumnDataSource, Div, LinearColorMapper
    from bokeh.plotting import figure

    shape = as_image(exp.x[0], exp.step_shape).shape  # (rows, cols)
    rows, cols = shape
    vector = len(exp.step_shape) < 2
    width = min(WIDTH // 2 - 20, max(300, 5 * cols))
    height = max(120, min(260, int(width * rows / cols) + 60)) if not vector else 150
    gt = ColumnDataSource({"left": [], "right": [], "top": [], "bottom": []},
                          name="gt_boxes")
    series = ColumnDataSource({"xs": [], "ys": []}, name="series")
    grey = LinearColorMapper(palette="Greys256", low=255, high=0)
    red_blue = LinearColorMapper(palette=diverging_palette(), low=0, high=255)
    inp = ColumnDataSource({"image": []}, name="input")

    def frame(title: str) -> Any:
        fig = figure(width=width, height=height, title=title, x_range=(0, cols),
                     y_range=(0, rows), tools="save", toolbar_location=None)
        fig.axis.visible = False
        fig.grid.visible = False
        return fig

    def outline(fig: Any) -> None:
        fig.quad(left="left", right="right", top="top", bottom="bottom", source=gt,
                 fill_color=None, line_color="lime", line_width=2)
        if vector:
            fig.multi_line("xs", "ys", source=series, line_color="black", line_width=1)

    first = frame("input (green: ground-truth blocks)")
    if not vector:
        first.image("image", x=0, y=0, dw=cols, dh=rows, source=inp, color_mapper=grey)
    outline(first)
    figs, sources, titles = [first], {}, {}
    for name in exp.explainers:
        if name not in exp.relevance:
            figs.append(Div(text=f"<p><b>{html.escape(name)}</b>: "
                                 f"{html.escape(exp.missing.get(name, 'not run'))}</p>",
                            width=width))
            continue
        src = ColumnDataSource({"image": []}, name=f"relevance:{name}")
        fig = frame(name)
        if not vector:  # the input shows faintly through the relevance
            fig.image("image", x=0, y=0, dw=cols, dh=rows, source=inp, color_mapper=grey,
                      global_alpha=0.3)
        fig.image("image", x=0, y=0, dw=cols, dh=rows, source=src, color_mapper=red_blue,
                  global_alpha=0.75)
        outline(fig)
        figs.append(fig)
        sources[name], titles[name] = src, fig.title
    return figs, {"input": inp, "gt": gt, "series": series, "rels": sources,
                  "titles": titles, "rows": rows}


def time_views(exp: Exploration, threshold: float, dmax: float
               ) -> tuple[list[Any], dict[str, Any]]:
    """The expected-prediction heatmap, the step-distance bars and the threshold slider
    (the sources of the selected sequence are filled by the page's script)."""
    from bokeh.models import ColumnDataSource, LinearColorMapper, Slider, Span
    from bokeh.plotting import figure

    c, t = exp.n_classes, exp.expected.shape[1]
    expected = ColumnDataSource({"image": []}, name="expected")
    argmax = ColumnDataSource({"x": [], "y": []}, name="argmax")
    ep = figure(width=600, height=250, title="expected prediction per step (white: argmax)",
                x_range=(0.5, t + 0.5), y_range=(-0.5, c - 0.5), x_axis_label="step",
                y_axis_label="class", tools="save", toolbar_location=None)
    ep.image("image", x=0.5, y=-0.5, dw=t, dh=c, source=expected,
             color_mapper=LinearColorMapper(palette="Viridis256", low=0, high=1))
    ep.scatter("x", "y", source=argmax, marker="square", size=7, fill_color="white",
               line_color="black")
    distances = ColumnDataSource({"step": [], "dist": [], "color": []}, name="distances")
    bars = figure(width=600, height=230, title="distance between consecutive hidden states",
                  x_axis_label="step", y_axis_label="||h_t - h_(t-1)||", tools="save",
                  toolbar_location=None, x_range=(0.5, t + 0.5))
    bars.vbar(x="step", top="dist", width=0.8, source=distances, fill_color="color",
              line_color=None)
    line = Span(location=threshold, dimension="width", line_color="red", line_dash="dashed")
    bars.add_layout(line)
    slider = Slider(start=0.0, end=max(dmax, 1e-9), value=threshold,
                    step=max(dmax, 1e-9) / 200, title="threshold", name="threshold",
                    width=600)
    return [ep, bars, slider], {"expected": expected, "argmax": argmax,
                                "distances": distances, "span": line, "slider": slider}


def explorer_page(exp: Exploration, projection: str = "pca",
                  index_href: str = "../index.html") -> str:
    """The page's HTML (``projection``: pca or tsne)."""
    from bokeh.document import Document
    from bokeh.embed import file_html
    from bokeh.layouts import column, gridplot, row
    from bokeh.models import ColumnDataSource, CustomJS, Div, Select
    from bokeh.resources import INLINE

    coords = project_states(exp.states, projection, seed=exp.seed)
    dist = step_distances(exp.states)
    store = sequence_store(exp, coords, dist)
    threshold = float(np.quantile(dist, 0.9)) if dist.size else 0.0
    confusion, table = overview(exp)
    proj, proj_src = projection_view(exp, coords, projection)
    inputs, input_src = input_views(exp)
    timed, time_src = time_views(exp, threshold, float(dist.max()) if dist.size else 1)
    colour = Select(title="colour by", value="expected prediction", name="colour",
                    options=["expected prediction", "true class"], width=200)
    info = Div(text="", width=WIDTH, name="selected")
    seqs = table.source
    rels, titles = input_src.pop("rels"), input_src.pop("titles")
    args = {"seqs": seqs, "store": ColumnDataSource(store, name="store"), "colour": colour,
            "info": info, "names": list(rels), "rels": list(rels.values()),
            "titles": list(titles.values()), "bounds": list(exp.bounds), **proj_src,
            **input_src, **time_src}
    update = CustomJS(args=args, code=JS_PATH.read_text(encoding="utf-8") + "\nupdate();")
    seqs.selected.js_on_change("indices", update)
    time_src["slider"].js_on_change("value", update)
    colour.js_on_change("value", update)
    proj_src["points"].selected.js_on_change("indices", CustomJS(
        args={"seqs": seqs, "points": proj_src["points"]}, code=(
            "const i = points.selected.indices;"
            "if (i.length) { const k = points.data.seq[i[0]];"
            " if (seqs.selected.indices[0] !== k) { seqs.selected.indices = [k]; } }")))
    acc = float(np.trace(exp.confusion) / max(exp.confusion.sum(), 1))
    head = Div(text=header(exp, acc, projection, index_href), width=WIDTH)
    grid = gridplot(inputs, ncols=2, toolbar_location=None)
    layout = column(head, row(confusion, table), row(column(colour, proj), column(*timed)),
                    info, Div(text="<h2>Input and relevance of the selected sequence</h2>"),
                    grid)
    doc = Document()
    doc.add_root(layout)
    doc.js_on_event("document_ready", update)  # the views of the first sequence
    return file_html(doc, resources=INLINE,
                     title=f"rnnxbench explorer: {exp.task} / {exp.architecture}")


def header(exp: Exploration, accuracy: float, projection: str, index_href: str) -> str:
    counts = np.bincount(exp.label, minlength=exp.n_classes)
    explained = float((exp.label == exp.predicted).mean()) if len(exp.label) else float("nan")
    rows = [("task", exp.task), ("architecture", exp.architecture),
            ("fold / training seed", f"{exp.fold} / {exp.seed}"), ("model", exp.model_hash),
            ("fold accuracy", f"{accuracy:.3f} on {int(exp.confusion.sum())} held-out "
                              "sequences"),
            ("explained", f"{len(exp.label)} sequences, accuracy {explained:.3f}; per class "
                          + ", ".join(f"{c}: {n}" for c, n in enumerate(counts))),
            ("projection", projection.upper() + " of the hidden states (N x T points)")]
    cells = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                    f"<td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return (f"<h1>Explorer: {html.escape(exp.architecture)} on {html.escape(exp.task)}</h1>"
            f"<p><a href='{html.escape(index_href)}'>back to the leaderboard</a> · select a "
            "sequence in the table or click a point of the projection; every view follows."
            f"</p><table>{cells}</table>")


def write_explorer(exp: Exploration, folder: Path, projection: str = "pca") -> Path:
    """Write the page into ``folder`` (``results/<suite>/explore/``) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / page_name(exp.task, exp.architecture, exp.fold)
    path.write_text(explorer_page(exp, projection), encoding="utf-8")
    return path
