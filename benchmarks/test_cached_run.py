"""A run served wholly from the cache, against the first run of the same command.

The first run trains and scores every model of the maj suite's smoke profile into a fresh
cache and results folder (timed once); the benchmark then times the same command again,
served from the cache, and records the ratio (cached / first, one run).
"""

from __future__ import annotations

import time

import pytest

import rnnxbench

SUITE, PROFILE, WORKERS = "maj", "smoke", 2
ROUNDS = 3


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> tuple[dict[str, object], float, dict[str, float]]:
    root = tmp_path_factory.mktemp("cached-run")
    dirs = {"cache_dir": root / "cache", "results_dir": root / "results"}
    start = time.perf_counter()
    result = rnnxbench.run_suite(SUITE, PROFILE, workers=WORKERS, progress=False, **dirs)
    return dirs, time.perf_counter() - start, result.info["timings_seconds"]


def test_cached_run(benchmark, first_run, run_info) -> None:
    dirs, first_seconds, first_timings = first_run
    timings: dict[str, float] = {}

    def again() -> None:
        result = rnnxbench.run_suite(SUITE, PROFILE, workers=WORKERS, progress=False, **dirs)
        assert result.info["models"]["trained"] == 0
        assert result.info["scores"]["computed"] == 0
        timings.update(result.info["timings_seconds"])

    benchmark.group = "cached run"
    benchmark.pedantic(again, rounds=ROUNDS, warmup_rounds=0)
    median = benchmark.stats.stats.median
    benchmark.extra_info.update(
        run_info, kind="cached_run", suite=SUITE, profile=PROFILE, workers=WORKERS,
        first_seconds=first_seconds, ratio=median / first_seconds,
        first_timings=first_timings, cached_timings=timings)
