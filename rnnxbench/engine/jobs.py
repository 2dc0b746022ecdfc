"""Independent jobs in worker processes, results in job order, whatever the number of workers.

Every job runs in a child process (pebble's process pool), also with one worker, so a job
that kills its process (a segfault, an out-of-memory kill, ``os._exit`` in a plugin) or runs
past ``timeout`` fails alone: its result is a :class:`JobFailure` naming the reason, the
pool replaces the worker and the other jobs go on. Neither joblib nor concurrent.futures
can do that: a dead worker breaks their whole pool.

On POSIX without CUDA in use the workers are forked, so they inherit the driver's state:
the ``shared`` object (task data) without copying, and components registered at run time
(``Registry.override``). Otherwise (CUDA, or no fork) they are spawned and ``shared`` is
sent to each worker once. Workers ignore Ctrl-C: the driver stops the pool and re-raises.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from pebble import ProcessExpired, ProcessPool
from tqdm.auto import tqdm

from rnnxbench.registry import PluginLoadWarning


@dataclass(frozen=True)
class JobFailure:
    """A job that did not return: its worker died, it timed out, or it raised."""

    reason: str


def n_workers(workers: int, n_jobs: int) -> int:
    """``workers <= 0`` means one per CPU core; never more than there are jobs."""
    if workers <= 0:
        workers = os.cpu_count() or 1
    return max(1, min(workers, n_jobs))


@contextmanager
def single_thread() -> Iterator[None]:
    """Every job computes with one intra-op thread, so results do not depend on --workers."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


#: what every job of the running pool receives as its first argument (None: nothing)
_shared: Any = None


def _init_worker(shared: Any, sent: bool, device: str | None = None) -> None:
    global _shared
    # One intra-op thread for the worker's whole life: results do not depend on --workers,
    # and a forked child never enters the OpenMP thread team its parent left behind (GNU
    # libgomp's team does not survive fork: the child would wait for it forever).
    torch.set_num_threads(1)
    if device is not None and device.startswith("cuda"):
        torch.cuda.set_device(device)  # the worker's device for its whole life
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C
    warnings.simplefilter("ignore", PluginLoadWarning)  # the driver warned already
    if sent:
        _shared = shared


def _call(fn: Callable[..., Any], args: Sequence[Any], with_shared: bool) -> Any:
    with single_thread():
        return fn(_shared, *args) if with_shared else fn(*args)


def start_method() -> str:
    """``fork`` where it is safe (POSIX, CUDA not initialised), else ``spawn``."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and sys.platform != "darwin" and not torch.cuda.is_initialized():
        return "fork"
    return "spawn"


def describe_failure(exc: BaseException, timeout: float | None) -> str:
    """A job failure's reason in one line."""
    if isinstance(exc, ProcessExpired):
        code = exc.exitcode
        how = (f"killed by signal {-code}" if code is not None and code < 0
               else f"exit code {code}")
        return f"worker process died ({how}) while running this job"
    if isinstance(exc, FutureTimeout):
        return f"job timed out after {timeout:g} s (--job-timeout)"
    return f"{type(exc).__name__}: {exc}"


def run_jobs(fn: Callable[..., Any], jobs: Sequence[Sequence[Any]], *, workers: int,
             desc: str, progress: bool = True, costs: Sequence[float] | None = None,
             shared: Any = None, timeout: float | None = None,
             method: str | None = None, devices: Sequence[str] | None = None,
             workers_per_device: int | None = None) -> list[Any]:
    """``[fn(*args) for args in jobs]`` on ``workers`` processes, results in job order.

    With ``shared`` given, each call is ``fn(shared, *args)``; ``shared`` reaches every
    worker once. A job that raised, died or ran past ``timeout`` seconds gives a
    :class:`JobFailure` in its place. ``costs`` (estimated work per job) sets the dispatch
    order, most expensive first, so no worker is left with one long job at the end.

    ``devices`` (one per job) pins workers to devices: one pool of ``workers_per_device``
    workers per distinct device, each worker on its device for its whole life (a CUDA
    worker calls ``torch.cuda.set_device`` once), and every job runs in a worker of its
    own device's pool.
    """
    global _shared
    jobs = list(jobs)
    if not jobs:
        return []
    order = list(range(len(jobs)))
    if costs is not None:
        order.sort(key=lambda i: -costs[i])
    method = method or start_method()
    with_shared = shared is not None
    results: list[Any] = [None] * len(jobs)
    keys = list(devices) if devices is not None else [None] * len(jobs)
    previous, _shared = _shared, shared  # forked workers inherit it
    bar = tqdm(total=len(jobs), desc=desc, unit="job", disable=not progress, leave=True)
    pools: dict[str | None, ProcessPool] = {}
    for key in dict.fromkeys(keys):
        size = (workers_per_device if key is not None and workers_per_device
                else n_workers(workers, len(jobs)))
        pools[key] = ProcessPool(max_workers=min(size, keys.count(key)),
                                 context=multiprocessing.get_context(method),
                                 initializer=_init_worker,
                                 initargs=(shared if method != "fork" else None,
                                           method != "fork", key))
    try:
        futures = {pools[keys[i]].schedule(_call, args=(fn, jobs[i], with_shared),
                                           timeout=timeout): i for i in order}
        for future in as_completed(futures):
            i = futures[future]
            try:
                results[i] = future.result()
            except Exception as exc:  # noqa: BLE001 - a failed job fails alone
                results[i] = JobFailure(describe_failure(exc, timeout))
            bar.update()
        for pool in pools.values():
            pool.close()
    except BaseException:
        for pool in pools.values():
            pool.stop()  # Ctrl-C or a driver error: end the workers now
        raise
    finally:
        for pool in pools.values():
            pool.join()
        bar.close()
        _shared = previous
    return results


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
