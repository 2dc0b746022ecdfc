"""``explore_suite()``: the explorer pages of one fold of a suite run, from its cached models.

Nothing is trained: every explored model (each task x architecture of the fold, the first
training seed) must be in the cache (a run of the same suite, profile and seed made it);
otherwise a :class:`ModelsNotCached` error names them before anything is computed. The
pages go to ``results/<suite>/explore/``, the heatmap grids beside them; the folder's
run.json and index.html are updated to list and link them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from rnnxbench.harness.exploration import explored_models
from rnnxbench.harness.options import run_options
from rnnxbench.harness.run import configure, planned_state
from rnnxbench.harness.stages import explore_models, job_backend
from rnnxbench.report.explore_outputs import write_explore_outputs
from rnnxbench.report.explorer_data import PROJECTIONS
from rnnxbench.report.index_page import write_index
from rnnxbench.validate import Options, validate_params


class ModelsNotCached(ValueError):
    """An explored model is not in the cache: explore never trains."""


def explore_suite(suite: str | Path = "maj", profile: str | Path | None = None,
                  fold: int = 0, projection: str = "pca", **options: Any) -> list[Path]:
    """Write the explorer pages of ``fold`` (``projection``: pca or tsne) and return them.

    ``options`` are those of :func:`~rnnxbench.harness.run.run_suite` (``tasks``,
    ``architectures``, ``cache_dir``, ``results_dir``, ``workers``, ...).
    """
    opts = run_options(options)
    cfg = configure(suite, profile, opts)
    folds = sorted({*cfg.profile.fold_ids(), *cfg.profile.fold_ids(own_split=True)})
    validate_params({"fold": fold, "projection": projection},
                    {"fold": [Options(int, folds)], "projection": [Options(str, PROJECTIONS)]},
                    where=f"explore options (profile {cfg.profile.name!r})")
    if opts.results_dir is None:
        raise ValueError("explore options: results_dir is None; the pages need a folder")
    state = planned_state(cfg, opts, {})
    wanted = {j.model_hash for j in explored_models(state.models, fold)}
    metas = {h: state.cache.load_meta(h) for h in wanted}
    missing = [f"{m.task.id}/{m.architecture.id}" for m in state.models
               if m.model_hash in wanted and metas[m.model_hash] is None]
    if missing:
        raise ModelsNotCached(
            f"{len(missing)} models of fold {fold} are not in the cache {state.cache.root} "
            f"({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}); explore never "
            f"trains: run `rnnxbench run --suite {cfg.suite} --profile {cfg.profile.name}` "
            "first (same seed and cache)")
    state.metas = [metas.get(m.model_hash) or {"status": "failed", "error": "not explored"}
                   for m in state.models]
    with job_backend(state):
        explore_models(state, fold)
    folder = Path(opts.results_dir) / cfg.suite
    folder.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {}
    write_explore_outputs(folder, state.explorations, info, True, opts.workers, projection)
    for key, reason in state.explore_errors.items():
        info.setdefault("figure_errors", {})[key] = reason
    update_folder(folder, info)
    return [folder / name for name in info["explorer_pages"]]


def update_folder(folder: Path, info: dict[str, Any]) -> None:
    """List the new pages and grids in the folder's run.json (if any) and rewrite its
    index.html (if the folder holds a run's leaderboard)."""
    path = folder / "run.json"
    try:
        run_info = json.loads(path.read_text())
    except (OSError, ValueError):
        run_info = None
    if not isinstance(run_info, dict):
        return
    for key in ("explorer_pages", "heatmap_figures"):
        run_info[key] = list(dict.fromkeys([*run_info.get(key, []), *info.get(key, [])]))
    if info.get("figure_errors"):
        run_info.setdefault("figure_errors", {}).update(info["figure_errors"])
    path.write_text(json.dumps(run_info, indent=2, default=str))
    if (folder / "leaderboard.csv").exists() and (folder / "accuracy.csv").exists():
        write_index(pd.read_csv(folder / "leaderboard.csv"),
                    pd.read_csv(folder / "accuracy.csv"), run_info, folder, folder.name)
