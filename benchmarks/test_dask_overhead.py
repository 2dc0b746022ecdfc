"""The dask backend's overhead: a smoke-profile run through a LocalCluster against the same
run on the local process pool, each into a fresh cache, alternating, in one session.

Recorded: the median wall time of each and their ratio (dask / local); the dask time
includes starting and closing the LocalCluster (what a user of ``--backend dask`` without a
scheduler pays).
"""

from __future__ import annotations

import statistics
import time

import pytest

import rnnxbench
from rnnxbench.harness import SCORE_COLUMNS

pytest.importorskip("distributed")

SUITE, PROFILE, WORKERS, ROUNDS = "digits", "smoke", 2, 3


def test_dask_overhead(benchmark, tmp_path, run_info) -> None:
    seconds: dict[str, list[float]] = {"local": [], "dask": []}
    scores: dict[str, object] = {}

    def one(backend: str, k: int) -> None:
        dirs = {"cache_dir": tmp_path / f"{backend}-{k}", "results_dir": None}
        start = time.perf_counter()
        result = rnnxbench.run_suite(SUITE, PROFILE, workers=WORKERS, backend=backend,
                                     progress=False, **dirs)
        seconds[backend].append(time.perf_counter() - start)
        scores[backend] = result.scores[list(SCORE_COLUMNS)]  # as in scores.csv

    def both() -> None:
        k = len(seconds["dask"])
        one("local", k)
        one("dask", k)

    benchmark.group = "dask backend"
    benchmark.pedantic(both, rounds=ROUNDS, warmup_rounds=0)
    assert scores["dask"].equals(scores["local"])
    local, dask = (statistics.median(seconds[b]) for b in ("local", "dask"))
    benchmark.extra_info.update(run_info, kind="dask_overhead", suite=SUITE, profile=PROFILE,
                                workers=WORKERS, local_seconds=local, dask_seconds=dask,
                                ratio=dask / local)
