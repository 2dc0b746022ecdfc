"""``rnnxbench run | list | data``: a thin command-line layer over :func:`rnnxbench.run`."""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from rnnxbench.config import profile_names, suite_names
from rnnxbench.engine.device import DEVICE_CHOICES
from rnnxbench.registry import REGISTRIES, UnknownNameError
from rnnxbench.tasks.base import DataUnavailable

EXIT_OK, EXIT_FAILED_ROWS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
LIST_KINDS = [*REGISTRIES, "suites", "profiles"]


def _names(text: str | None) -> list[str] | None:
    """A comma-separated selection as a list (``""``: an empty one, which is refused);
    None when the option was not given (the suite's list)."""
    return None if text is None else [n.strip() for n in text.split(",") if n.strip()]


def _selection_arguments(p: argparse.ArgumentParser) -> None:
    """What is run: the suite, its profile and a selection of its tasks and architectures."""
    p.add_argument("--suite", default="maj", help=f"{' | '.join(suite_names())}, or a "
                   "path to a suite TOML")
    p.add_argument("--config", help="a suite TOML file of your own (instead of --suite)")
    p.add_argument("--profile", help=f"{' | '.join(profile_names())}, or a profile TOML "
                   "file (default: the suite's)")
    p.add_argument("--tasks", help="comma-separated task ids of the suite to run (a "
                   "subset of its [[tasks]])")
    p.add_argument("--architectures", help="comma-separated architectures to run instead "
                   "of the suite's (its ids or registered names), or +name[,+name] to add "
                   "registered ones to the suite's list")


def _machine_arguments(p: argparse.ArgumentParser) -> None:
    """Where and how: workers, device, seed and folders."""
    p.add_argument("--workers", type=int, default=0,
                   help="parallel jobs (0: one per CPU core; results do not depend on it)")
    p.add_argument("--device", default="auto", help=f"one of {DEVICE_CHOICES}")
    p.add_argument("--workers-per-device", type=int, metavar="K",
                   help="with a CUDA device: worker processes per GPU, each pinned to its "
                   "GPU for its whole life (default 4; CPU jobs use --workers)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", help="where IDX files are (default: $RNNXBENCH_DATA "
                   "or ./datasets)")
    p.add_argument("--cache-dir", help="trained models and scores (default: "
                   "$RNNXBENCH_CACHE or ~/.cache/rnnxbench)")
    p.add_argument("--results-dir", default="results", help="results go to DIR/<suite>/")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnxbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a benchmark suite and write its leaderboard")
    _selection_arguments(run)
    run.add_argument("--explainers", help="comma-separated explainers to run instead of the "
                     "suite's (its ids or registered names), or +name[,+name] to add "
                     "registered ones to the suite's list (e.g. +gxi)")
    run.add_argument("--metrics", help="comma-separated metrics to run instead of the "
                     "suite's (its ids or registered names), or +name[,+name] to add "
                     "registered ones to the suite's list")
    _machine_arguments(run)
    run.add_argument("--no-explore", action="store_true", help="do not write the explorer "
                     "pages of fold 0 (the heatmap grids are written either way)")
    run.add_argument("--baseline", help="architecture the others are t-tested against "
                     "(default: the suite's baseline, else the first architecture)")
    run.add_argument("--alpha", type=float, default=0.05,
                     help="significance level of the Holm-corrected tests (default 0.05)")
    run.add_argument("--job-timeout", type=float, metavar="SECONDS",
                     help="time limit of one training or scoring job; a job past it becomes "
                     "failed rows and the run goes on (default: none)")
    run.add_argument("--stack", type=int, metavar="K", help="train K models of an "
                     "architecture (its folds x seeds) together as one stacked model "
                     "(default: the profile's stack, 1)")
    run.add_argument("--backend", default="local", help="where the jobs run: local (worker "
                     "processes here, default) or dask (a dask.distributed cluster)")
    run.add_argument("--scheduler", metavar="ADDRESS", help="with --backend dask: the "
                     "scheduler to join, e.g. tcp://10.0.0.5:8786 (default: start a "
                     "LocalCluster of --workers processes)")

    explore = sub.add_parser("explore", help="write the hidden-state explorer pages of one "
                             "fold of a suite run, from its cached models (never trains)")
    _selection_arguments(explore)
    explore.add_argument("--explainers", help="comma-separated explainers to show instead "
                         "of the suite's, or +name[,+name] to add registered ones")
    explore.add_argument("--fold", type=int, default=0, help="which fold's models (default 0)")
    explore.add_argument("--projection", default="pca", help="pca (default, deterministic) "
                         "or tsne (scikit-learn, seeded)")
    _machine_arguments(explore)

    lst = sub.add_parser("list", help="list registered components with a description")
    lst.add_argument("kind", nargs="?", help=f"one of {', '.join(LIST_KINDS)} (default: all)")
    lst.add_argument("--task", help="with architectures: which take this task (a task name "
                     "such as maj, or a suite's task id such as digits-maj) and their sizes")
    lst.add_argument("--data-dir")

    data = sub.add_parser("data", help="manage data sets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    dl = dsub.add_parser("download", help="fetch the official IDX files (needs a network)")
    dl.add_argument("name", help="mnist | fashion-mnist")
    dl.add_argument("--data-dir")
    return parser


def cmd_list_fits(task: str, data_dir: str | None) -> int:
    from rnnxbench.catalog import architectures_for, task_spec

    spec = task_spec(task, data_dir=data_dir)
    print(f"architectures for task {task} (T={spec.n_steps}, step {spec.step_shape}, "
          f"{spec.n_classes} classes):")
    fits = architectures_for(spec)
    width = max((len(f.name) for f in fits), default=0)
    for f in fits:
        size = f"{f.n_parameters:>10,}" if f.n_parameters is not None else f"{'-':>10}"
        text = f.description if f.reason is None else f"cannot take this task: {f.reason}"
        print(f"  {f.name:<{width}}  {size}  {text}")
    return EXIT_OK


def cmd_list(kind: str | None) -> int:
    from rnnxbench.config import package_files
    from rnnxbench.registry import ordered_by_similarity

    kinds = [kind] if kind else LIST_KINDS
    for k in kinds:
        key = {"architecture": "architectures", "task": "tasks", "explainer": "explainers",
               "metric": "metrics", "source": "sources", "suite": "suites",
               "profile": "profiles"}.get(k, k)
        if key not in LIST_KINDS:
            choices = ordered_by_similarity(k, LIST_KINDS)
            print(f"unknown kind {k!r}; valid choices (closest first): {', '.join(choices)}",
                  file=sys.stderr)
            return EXIT_USAGE
        if len(kinds) > 1:
            print(f"{key}:")
        if key in ("suites", "profiles"):
            import tomllib

            items = {}
            for name, path in sorted(package_files(key).items()):
                with open(path, "rb") as fh:
                    items[name] = str(tomllib.load(fh).get("description", ""))
        else:
            registry = REGISTRIES[key]
            items = registry.descriptions()
            for name, err in registry.plugin_errors.items():
                items[name] = f"(plugin failed to load) {err}"
        width = max((len(n) for n in items), default=0)
        for name, text in items.items():
            print(f"  {name:<{width}}  {text}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from rnnxbench.harness import run_suite
    from rnnxbench.harness.options import RUN_PARAMETERS
    from rnnxbench.validate import validate_params

    flags = {f"--{name.replace('_', '-')}": name for name in RUN_PARAMETERS
             if name != "explore"}
    validate_params({flag: getattr(args, name) for flag, name in flags.items()},
                    {flag: RUN_PARAMETERS[name] for flag, name in flags.items()},
                    where="command line")
    result = run_suite(args.suite, args.profile, config=args.config, tasks=_names(args.tasks),
                       architectures=_names(args.architectures),
                       explainers=_names(args.explainers), metrics=_names(args.metrics),
                       workers=args.workers, device=args.device, seed=args.seed,
                       data_dir=args.data_dir, cache_dir=args.cache_dir,
                       results_dir=args.results_dir, progress=not args.no_progress,
                       command="rnnxbench " + shlex.join(argv), baseline=args.baseline,
                       alpha=args.alpha, job_timeout=args.job_timeout,
                       backend=args.backend, scheduler=args.scheduler,
                       workers_per_device=args.workers_per_device, stack=args.stack,
                       explore=not args.no_explore)
    board = result.leaderboard
    cols = [c for c in ("task", "architecture", "explainer", "metric", "mean", "ci95_low",
                        "ci95_high", "n_folds", "rank", "accuracy_mean") if c in board]
    import pandas as pd

    with pd.option_context("display.width", 140, "display.max_rows", 500,
                           "display.float_format", "{:.4f}".format):
        print(board[cols].to_string(index=False))
        if len(result.tests):
            print(f"\npaired t-tests against {result.baseline!r} over folds (one-sided by "
                  "the metric's direction; Holm within each task x explainer x metric):")
            print(result.tests[["task", "architecture", "explainer", "metric", "alternative",
                                "n_pairs", "mean_diff", "t", "p", "p_holm", "significant"]]
                  .to_string(index=False))
        ranks = result.explainer_ranks.dropna(subset=["mean_rank"])
        if len(ranks):
            print("\nmean rank of each explainer over architectures (1 = best):")
            print(ranks[["task", "metric", "explainer", "mean_rank", "n_architectures"]]
                  .to_string(index=False))
    info = result.info
    print(f"\nmodels trained: {info['models']['trained']}, from cache: "
          f"{info['models']['from_cache']}; scores computed: {info['scores']['computed']}, "
          f"from cache: {info['scores']['from_cache']}")
    for task_id, why in result.skipped.items():
        print(f"skipped {task_id}: {why}")
    if result.results_dir is not None:
        print(f"results written to {result.results_dir}/ (open index.html; "
              f"{len(info.get('explorer_pages', []))} explorer pages)")
    failed = result.failures
    if len(failed):
        print(f"\n{len(failed)} explainer/metric combinations did not score:", file=sys.stderr)
        for line in failure_lines(failed):
            print(line, file=sys.stderr)
        if (failed["status"] == "failed").any():
            return EXIT_FAILED_ROWS
    return EXIT_OK


def failure_lines(failed: Any, width: int = 160) -> list[str]:
    """The non-ok combinations for the terminal: every ``failed`` one on its own line, the
    ``unsupported`` and ``degenerate`` ones one line per status x task x explainer (which
    architectures and metrics, and the first reason); the full list is in scores.csv."""
    lines = [f"  failed      {r.task} {r.architecture} {r.explainer} {r.metric}: {r.error}"
             for r in failed[failed["status"] == "failed"].itertuples(index=False)]
    rest = failed[failed["status"] != "failed"]
    for (status, task, explainer), g in rest.groupby(["status", "task", "explainer"],
                                                     sort=False):
        archs, metrics = list(dict.fromkeys(g["architecture"])), list(dict.fromkeys(g["metric"]))
        what = (f"{len(archs)} architectures" if len(archs) > 3 else ", ".join(archs))
        which = f"{len(metrics)} metrics" if len(metrics) > 3 else ", ".join(metrics)
        reason = str(g["error"].iloc[0])
        line = f"  {status:<11} {task} {explainer} on {what} ({which}): {reason}"
        lines.append(line if len(line) <= width else line[:width - 3] + "...")
    return lines


def cmd_explore(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from rnnxbench.harness.explore_run import explore_suite

    pages = explore_suite(args.suite, args.profile, fold=args.fold,
                          projection=args.projection, config=args.config,
                          tasks=_names(args.tasks), architectures=_names(args.architectures),
                          explainers=_names(args.explainers),
                          workers=args.workers, device=args.device, seed=args.seed,
                          data_dir=args.data_dir, cache_dir=args.cache_dir,
                          results_dir=args.results_dir, progress=not args.no_progress,
                          command="rnnxbench " + shlex.join(argv),
                          workers_per_device=args.workers_per_device)
    for page in pages:
        print(page)
    print(f"{len(pages)} explorer pages written")
    return EXIT_OK


def cmd_data(args: argparse.Namespace) -> int:
    from rnnxbench.tasks.download import download

    paths = download(args.name, args.data_dir)
    for p in paths:
        print(p)
    return EXIT_OK


def _show_warning(message: Warning | str, category: type[Warning], *args: object,
                  **kwargs: object) -> None:
    print(f"rnnxbench: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():  # warnings as one line each, not source locations
        warnings.showwarning = _show_warning
        return _dispatch(args, argv)


def _dispatch(args: argparse.Namespace, argv: list[str]) -> int:
    try:
        if args.command == "list":
            if args.task:
                return cmd_list_fits(args.task, args.data_dir)
            return cmd_list(args.kind)
        if args.command == "data":
            return cmd_data(args)
        if args.command == "explore":
            return cmd_explore(args, argv)
        return cmd_run(args, argv)
    except UnknownNameError as exc:
        print(f"rnnxbench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (DataUnavailable, FileNotFoundError, ValueError) as exc:
        print(f"rnnxbench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:  # RunInterrupted says what is cached
        print(str(exc) if str(exc) else "interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
