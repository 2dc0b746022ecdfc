"""How a run runs (workers, device, folders, time limits): :class:`RunOptions`, checked
against declared constraints before anything is computed."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from rnnxbench.engine.jobs import n_workers
from rnnxbench.validate import ANY, Interval, InvalidParameterError, Options, validate_params

#: where a run's jobs can run
BACKENDS = ("local", "dask")


@dataclass(frozen=True)
class RunOptions:
    """How :func:`run_suite` runs a suite (what it compares is the config's business)."""

    config: str | Path | None = None
    tasks: list[str] | None = None
    architectures: list[str] | None = None
    explainers: list[str] | None = None
    metrics: list[str] | None = None
    workers: int = 1
    device: str = "auto"
    seed: int = 0
    data_dir: str | Path | None = None
    cache_dir: str | Path | None = None
    results_dir: str | Path | None = "results"
    progress: bool = True
    profile_overrides: dict[str, Any] | None = None
    command: str | None = None
    baseline: str | None = None
    alpha: float = 0.05
    job_timeout: float | None = None
    #: train this many models of an architecture together (the profile's ``stack`` unless set)
    stack: int | None = None
    #: worker processes per GPU with a CUDA device (None: 4); CPU jobs use ``workers``
    workers_per_device: int | None = None
    #: where the jobs run: ``local`` worker processes or a ``dask`` cluster
    backend: str = "local"
    #: with ``backend = "dask"``: the scheduler's address (None: a LocalCluster)
    scheduler: str | None = None
    #: write the explorer pages of fold 0 (``results/<suite>/explore/``); the heatmap grids
    #: are written either way
    explore: bool = True


#: declared constraints of the numeric run options (checked before any compute)
RUN_PARAMETERS = {"workers": [Interval(int, 0, None, closed="left")],
                  "seed": [Interval(int, 0, 2**31 - 1, closed="both")],
                  "alpha": [Interval(float, 0, 1, closed="neither")],
                  "job_timeout": [Interval(float, 0, None, closed="neither"), None],
                  "workers_per_device": [Interval(int, 1, None), None],
                  "stack": [Interval(int, 1, None), None],
                  "backend": [Options(str, BACKENDS)],
                  "scheduler": [str, None], "explore": [bool]}


def run_options(options: dict[str, Any]) -> RunOptions:
    """:class:`RunOptions` from keyword arguments, validated (unknown names, types, ranges)."""
    names = {f.name: [ANY] for f in fields(RunOptions)}
    validate_params(options, {**names, **RUN_PARAMETERS}, where="run options")
    opts = RunOptions(**options)
    if opts.scheduler is not None and opts.backend != "dask":
        raise InvalidParameterError(
            f"run options: scheduler = {opts.scheduler!r} needs backend = 'dask' (got "
            f"{opts.backend!r})", where="run options", name="scheduler", problem="value")
    if opts.backend == "dask" and opts.job_timeout is not None:
        raise InvalidParameterError(
            "run options: job_timeout is not supported with backend = 'dask' (dask cannot "
            "stop a running task); leave it unset or use backend = 'local'",
            where="run options", name="job_timeout", problem="value")
    cores = n_workers(0, 1 << 30)
    if opts.workers > cores:
        warnings.warn(f"--workers {opts.workers} is more than the {cores} CPU cores here; "
                      "jobs will compete for them", RuntimeWarning, stacklevel=3)
    return opts
