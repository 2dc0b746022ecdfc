"""Independent jobs through joblib, with a progress bar, deterministic whatever the workers."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from joblib import Parallel, delayed
from tqdm.auto import tqdm


def n_workers(workers: int, n_jobs: int) -> int:
    """``workers <= 0`` means one per CPU core; never more than there are jobs."""
    if workers <= 0:
        workers = os.cpu_count() or 1
    return max(1, min(workers, n_jobs))


@contextmanager
def single_thread():
    """Every job computes with one intra-op thread, so results do not depend on --workers."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _call(fn: Callable[..., Any], args: Sequence[Any]) -> Any:
    with single_thread():
        return fn(*args)


def run_jobs(fn: Callable[..., Any], jobs: Iterable[Sequence[Any]], *, workers: int,
             desc: str, progress: bool = True,
             costs: Sequence[float] | None = None) -> list[Any]:
    """``[fn(*args) for args in jobs]`` on ``workers`` processes, results in job order.

    ``costs`` (estimated work per job) sets the dispatch order, most expensive first, so
    no worker is left with one long job at the end; results keep the order of ``jobs``.
    """
    jobs = list(jobs)
    if not jobs:
        return []
    workers = n_workers(workers, len(jobs))
    order = list(range(len(jobs)))
    if costs is not None:
        order.sort(key=lambda i: -costs[i])
    bar = tqdm(total=len(jobs), desc=desc, unit="job", disable=not progress, leave=True)
    results: list[Any] = [None] * len(jobs)
    try:
        if workers == 1:
            for i in order:
                results[i] = _call(fn, jobs[i])
                bar.update()
        else:
            parallel = Parallel(n_jobs=workers, return_as="generator_unordered")
            tagged = parallel(delayed(_indexed)(i, fn, jobs[i]) for i in order)
            for i, result in tagged:
                results[i] = result
                bar.update()
    finally:
        bar.close()
    return results


def _indexed(i: int, fn: Callable[..., Any], args: Sequence[Any]) -> tuple[int, Any]:
    return i, _call(fn, args)


def forward_flops(model: torch.nn.Module, example: torch.Tensor) -> int:
    """FLOPs of one eval-mode forward pass of ``model`` on ``example`` (torch's counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(example)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())
