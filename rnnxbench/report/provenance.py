"""Writing a run's results with their provenance (command, config hash, versions, git)."""

from __future__ import annotations

import importlib.metadata
import json
import platform
import subprocess
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
    """The git commit of the rnnxbench source tree (``+dirty`` when modified), or ''."""
    where = path or Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=where, capture_output=True, text=True, timeout=10).stdout
        return rev + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def write_results(scores: pd.DataFrame, board: pd.DataFrame, cfg: Any, info: dict[str, Any],
                  out_dir: Path) -> Path:
    """scores.csv, leaderboard.csv, one figure per metric and run.json in ``out_dir``."""
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
    run_info = {"created": datetime.now(UTC).isoformat(timespec="seconds"),
                **info, "versions": versions(), "git_revision": git_revision(),
                "platform": platform.platform(), "figures": figures}
    (out_dir / "run.json").write_text(json.dumps(run_info, indent=2, default=str))
    return out_dir
