"""``results/<suite>/index.html``: the run's leaderboard as one self-contained page.

Bokeh (its JavaScript and CSS inlined from the wheel: ``bokeh.resources.INLINE``; no CDN, no
server) renders per task and metric a sortable table of architectures x explainers (mean,
95% t-interval, rank, folds, gate), the accuracy table, the run's figures and links to its
CSV files; an environment header gives the command, config hash, commit, package versions,
devices and timings. The page opens from ``file://`` with the network off.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd

#: leaderboard columns shown per task x metric (those present)
BOARD_COLUMNS = ["architecture", "explainer", "mean", "ci95_low", "ci95_high", "rank",
                 "n_folds", "accuracy_mean", "explained_accuracy_mean", "gate_passed_all",
                 "status"]
ACCURACY_COLUMNS = ["task", "architecture", "mean", "ci95_low", "ci95_high", "n_folds",
                    "gate", "gate_passed_all"]
CSV_FILES = ["scores.csv", "leaderboard.csv", "tests.csv", "accuracy.csv", "explained.csv",
             "explainer_ranks.csv", "step_profile.csv", "curves.csv", "run.json"]


def data_table(frame: pd.DataFrame, columns: list[str], height: int = 320) -> Any:
    """A sortable Bokeh DataTable of ``frame``'s ``columns`` (floats to 4 decimals)."""
    from bokeh.models import ColumnDataSource, DataTable, NumberFormatter, TableColumn

    cols = [c for c in columns if c in frame]
    view = frame[cols].copy()
    for c in cols:  # JSON cannot hold NaN in every browser: show it as empty
        if view[c].dtype == bool or view[c].dtype == object:
            view[c] = view[c].astype(str)
    source = ColumnDataSource(view.where(view.notna(), None).to_dict("list"))
    table_cols = [TableColumn(field=c, title=c, formatter=NumberFormatter(format="0.0000"))
                  if pd.api.types.is_float_dtype(frame[c]) else TableColumn(field=c, title=c)
                  for c in cols]
    return DataTable(source=source, columns=table_cols, sortable=True, index_position=None,
                     reorderable=False, width=1100, height=height, name="table")


def header_html(info: dict[str, Any]) -> str:
    """The environment header: command, config hash, commit, versions, devices, timings."""
    versions = ", ".join(f"{k} {v}" for k, v in sorted((info.get("versions") or {}).items()))
    timings = ", ".join(f"{k} {v:.0f} s" for k, v in (info.get("timings_seconds") or {}).items()
                        if isinstance(v, int | float))
    rows = [("command", info.get("command", "")), ("config hash", info.get("config_hash", "")),
            ("commit", info.get("git_revision", "")), ("devices", info.get("devices", "")),
            ("CPU", f"{info.get('cpu', '')} ({info.get('cpu_count', '')} cores)"),
            ("timings", timings), ("versions", versions)]
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                    for k, v in rows)
    return f"<table class='env'>{cells}</table>"


def figure_html(name: str, caption: str = "") -> str:
    return (f"<figure><img src='{html.escape(name)}' style='max-width:1100px'>"
            f"<figcaption>{html.escape(caption or name)}</figcaption></figure>")


def explore_html(info: dict[str, Any], folder: Path) -> str:
    """Links to the explorer pages (per task, one per architecture) and the heatmap grids."""
    pages: dict[str, list[str]] = {}
    for name in info.get("explorer_pages", []):
        if (folder / name).exists():
            task, arch, fold_part = (Path(name).stem.split("__") + ["", ""])[:3]
            pages.setdefault(f"{task}, {fold_part.replace('fold', 'fold ')}", []).append(
                f"<a href='{html.escape(name)}'>{html.escape(arch)}</a>")
    fold = (info.get("explore") or {}).get("fold", 0)
    out = ""
    if pages:
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(t)}</th><td>"
                       + " · ".join(links) + "</td></tr>" for t, links in pages.items())
        out += ("<h2>Hidden-state explorer</h2><p>One page per task x "
                "architecture: projection of the hidden states, trajectories, expected "
                "predictions, step distances, and every explainer's relevance over the "
                f"selected input.</p><table>{rows}</table>")
    grids = [n for n in info.get("heatmap_figures", []) if (folder / n).exists()]
    if grids:
        out += ("<h2>Explanations at a glance</h2><p>The same explained sequences of fold "
                f"{fold} (one per class where possible) in every cell: architectures x "
                "explainers, relevance for the true class, one colour scale per cell (its "
                "limit under the cell), green boxes the ground-truth blocks.</p>"
                + "".join(figure_html(n) for n in grids))
    return out


def index_page(leaderboard: pd.DataFrame, accuracy: pd.DataFrame, info: dict[str, Any],
               folder: Path, suite: str) -> str:
    """The page's HTML: tabs per task x metric with the leaderboard, the accuracy table, the
    figures found in ``folder`` and links to its CSV files."""
    from bokeh.embed import file_html
    from bokeh.layouts import column
    from bokeh.models import Div, TabPanel, Tabs
    from bokeh.resources import INLINE

    parts: list[Any] = [Div(text=f"<h1>rnnxbench: {html.escape(suite)}</h1>"
                                 + header_html(info), width=1100)]
    panels = []
    for (task, metric), rows in leaderboard.groupby(["task", "metric"], sort=False):
        hib = rows["higher_is_better"].dropna() if "higher_is_better" in rows else []
        direction = ("higher is better" if len(hib) and bool(hib.iloc[0]) else
                     "lower is better" if len(hib) else "descriptive (no direction)")
        note = Div(text=f"<p><b>{html.escape(str(metric))}</b> on {html.escape(str(task))}: "
                        f"{direction}; mean and 95% t-interval over folds; click a column "
                        "header to sort.</p>", width=1100)
        panels.append(TabPanel(child=column(note, data_table(rows, BOARD_COLUMNS)),
                               title=f"{task} {metric}"))
    if panels:
        parts.append(Tabs(tabs=panels, name="leaderboard"))
    parts.append(Div(text="<h2>Model accuracy</h2>", width=1100))
    parts.append(data_table(accuracy, ACCURACY_COLUMNS, height=260))
    files = [f for f in CSV_FILES if (folder / f).exists() or (folder / f"{f}.gz").exists()]
    links = " · ".join(f"<a href='{f if (folder / f).exists() else f + '.gz'}'>{f}</a>"
                       for f in files)
    heatmaps = [n for n in info.get("heatmap_figures", []) if (folder / n).exists()]
    figures = "".join(figure_html(p.name) for p in sorted(folder.glob("*.png"))
                      if p.name not in heatmaps)
    parts.append(Div(text=explore_html(info, folder) + f"<h2>Files</h2><p>{links}</p>"
                          f"<h2>Figures</h2>{figures}", width=1100))
    return file_html(column(*parts), resources=INLINE, title=f"rnnxbench {suite}")


def write_index(leaderboard: pd.DataFrame, accuracy: pd.DataFrame, info: dict[str, Any],
                folder: Path, suite: str) -> Path:
    path = folder / "index.html"
    path.write_text(index_page(leaderboard, accuracy, info, folder, suite), encoding="utf-8")
    return path
