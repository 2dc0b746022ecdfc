"""Jobs on a dask.distributed cluster (``--backend dask``): the same job functions as the
local process pool, with the data scattered to the workers once and every cache write
brought back to the driver, so the workers need no shared filesystem.

A job function receives its cache as an argument (a folder for the local pool). Here that
argument is :data:`SHIPPED` in the job's arguments, and the worker replaces it by a
:class:`~rnnxbench.engine.cache.ShippedCache` holding the trained models the job reads
(scattered once per model, not once per job); what the job saves comes back with its result
and the driver writes it into the real cache as each job finishes, so nothing computed is
lost when a later job or the driver fails.

``scheduler`` joins a running cluster (``tcp://HOST:PORT``); without one a LocalCluster of
``workers`` single-threaded worker processes is started and closed with the backend.
Workers must be able to import rnnxbench and every plugin the run uses:
:meth:`DaskBackend.check_components` asks each of them before any job is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tqdm.auto import tqdm

from rnnxbench.engine.cache import Cache, ShippedCache
from rnnxbench.engine.jobs import JobFailure, describe_failure, n_workers, single_thread

#: stands for the job's cache in its arguments; the worker puts a ShippedCache there
SHIPPED = "<cache shipped by the dask backend>"


def remote_call(fn: Callable[..., Any], shared: Any, models: dict[str, Any],
                args: Sequence[Any]) -> tuple[Any, list[tuple]]:
    """Run one job on a worker: ``fn(shared, *args)`` with :data:`SHIPPED` replaced by a
    cache of ``models``; returns the result and the cache writes for the driver."""
    cache = ShippedCache(models)
    args = [cache if isinstance(a, str) and a == SHIPPED else a for a in args]
    with single_thread():
        return fn(shared, *args), cache.writes


def missing_components(wanted: list[tuple[str, str]]) -> list[str]:
    """Which ``(kind, name)`` components this process cannot find in its registries."""
    from rnnxbench import registry

    kinds = {"architecture": registry.ARCHITECTURES, "explainer": registry.EXPLAINERS,
             "metric": registry.METRICS, "task": registry.TASKS}
    missing = []
    for kind, name in wanted:
        try:
            kinds[kind].get(name)
        except Exception:  # noqa: BLE001 - any failure to load it means it is missing
            missing.append(f"{kind} {name!r}")
    return missing


class DaskBackend:
    """A dask.distributed client, the task data scattered to its workers, and the trained
    models scattered on demand. Use as a context manager."""

    def __init__(self, scheduler: str | None, workers: int, shared: Any):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - distributed is a dependency
            raise RuntimeError("--backend dask needs dask.distributed: "
                               "pip install 'dask[distributed]'") from exc
        self.cluster = None
        if scheduler is None:
            self.cluster = LocalCluster(n_workers=n_workers(workers, 1 << 30),
                                        threads_per_worker=1, processes=True,
                                        dashboard_address=None)
            self.client = Client(self.cluster)
        else:
            self.client = Client(scheduler, timeout="30s")
        self.address = self.client.scheduler.address
        self.shared = self.client.scatter(shared, broadcast=True, hash=False)
        self._models: dict[str, Any] = {}

    def __enter__(self) -> DaskBackend:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def n_workers(self) -> int:
        return len(self.client.scheduler_info()["workers"])

    def check_components(self, wanted: list[tuple[str, str]]) -> None:
        """Raise a clear error naming every worker that lacks one of ``wanted``."""
        missing = {w: m for w, m in self.client.run(missing_components, wanted).items() if m}
        if missing:
            lines = "; ".join(f"{w}: {', '.join(m)}" for w, m in sorted(missing.items()))
            raise RuntimeError(
                f"dask workers cannot load components this run uses ({lines}). Install "
                "rnnxbench and the plugins that provide them (their entry points) on every "
                "worker, in the same versions as here.")

    def model(self, cache: Cache, model_hash: str) -> Any:
        """A future of ``(state_dict, meta)`` of a cached model (None if not in the cache),
        scattered once per run."""
        if model_hash not in self._models:
            self._models[model_hash] = self.client.scatter(cache.load_model(model_hash),
                                                           hash=False)
        return self._models[model_hash]

    def run(self, fn: Callable[..., Any], jobs: Sequence[Sequence[Any]], *, cache: Cache,
            models: Sequence[Sequence[str]] | None = None, desc: str, progress: bool = True,
            costs: Sequence[float] | None = None) -> list[Any]:
        """``[fn(shared, *args) for args in jobs]`` on the cluster, results in job order; a
        job that raised or whose worker died gives a :class:`JobFailure`. ``models[i]``:
        the model hashes job i reads from its cache; its writes go to ``cache`` here."""
        from distributed import as_completed

        jobs = list(jobs)
        if not jobs:
            return []
        futures = {}
        for i, args in enumerate(jobs):
            needed = {h: self.model(cache, h) for h in (models[i] if models else [])}
            priority = 0 if costs is None else costs[i]
            futures[self.client.submit(remote_call, fn, self.shared, needed, list(args),
                                       pure=False, priority=priority)] = i
        results: list[Any] = [None] * len(jobs)
        with tqdm(total=len(jobs), desc=desc, unit="job", disable=not progress) as bar:
            try:
                for future in as_completed(futures):
                    i = futures[future]
                    try:
                        result, writes = future.result()
                    except Exception as exc:  # noqa: BLE001 - a failed job fails alone
                        results[i] = JobFailure(describe_failure(exc, None))
                    else:
                        apply_writes(cache, writes)
                        results[i] = result
                    bar.update()
            except BaseException:
                self.client.cancel(list(futures))
                raise
        return results


def apply_writes(cache: Cache, writes: list[tuple]) -> None:
    """Write what a job saved into its shipped cache into the real one."""
    for kind, *args in writes:
        if kind == "model":
            cache.save_model(*args)
        elif kind == "arrays":
            cache.save_arrays(*args)
        else:
            cache.save_score(*args)
