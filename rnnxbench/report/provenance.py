"""Writing a run's results with their provenance (command, config hash, versions, git)."""

from __future__ import annotations

import importlib.metadata
import json
import platform
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

PACKAGES = ["rnnxbench", "torch", "numpy", "pandas", "scikit-learn", "scipy", "mlxtend",
            "seaborn", "matplotlib", "joblib", "captum", "statsmodels", "zennit",
            "quantus"]


def versions() -> dict[str, str]:
    """Python and package versions (absent packages are left out)."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def git_revision(path: Path | None = None) -> str:
    """The git commit of the rnnxbench source tree, or ''.

    ``+dirty`` when tracked files of the package itself differ from the commit (results or
    docs written next to it do not count: they do not change what ran).
    """
    where = path or Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                "."], cwd=where, capture_output=True, text=True,
                               timeout=10).stdout
        return rev + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def write_results(scores: pd.DataFrame, board: pd.DataFrame, cfg: Any, info: dict[str, Any],
                  out_dir: Path, clock: tuple[float, float] | None = None) -> Path:
    """scores.csv, leaderboard.csv, one figure per metric and run.json in ``out_dir``.

    ``clock`` = ``(run start, writing start)`` (``time.perf_counter`` values): the writing
    time and the run's total up to run.json go into ``info["timings_seconds"]``.
    """
    from rnnxbench.report.figures import plot_leaderboard

    out_dir.mkdir(parents=True, exist_ok=True)
    scores.to_csv(out_dir / "scores.csv", index=False, float_format="%.10g")
    board.to_csv(out_dir / "leaderboard.csv", index=False, float_format="%.10g")
    figures = []
    for metric in dict.fromkeys(scores["metric"]):
        ok = scores[(scores["metric"] == metric) & (scores["status"] == "ok")]
        if ok.empty:
            continue
        try:
            figures.append(str(plot_leaderboard(scores, out_dir / f"{metric}.png",
                                                metric=metric).name))
        except Exception as exc:  # noqa: BLE001 - a figure must not lose computed results
            info.setdefault("figure_errors", {})[metric] = f"{type(exc).__name__}: {exc}"
    if clock is not None:
        now = time.perf_counter()
        info.setdefault("timings_seconds", {}).update(
            write_results=now - clock[1], total=now - clock[0])
    run_info = {"created": datetime.now(UTC).isoformat(timespec="seconds"),
                **info, "versions": versions(), "git_revision": git_revision(),
                "platform": platform.platform(), "figures": figures}
    (out_dir / "run.json").write_text(json.dumps(run_info, indent=2, default=str))
    return out_dir
