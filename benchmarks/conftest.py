"""Shared set-up of the speed benchmarks (pytest-benchmark; not part of the test suite).

Every benchmark runs on the CPU with a fixed number of torch threads (:data:`THREADS`), on
MAJ-shaped inputs (T=12 steps of D=196 = 28x7 values, 10 classes), so that numbers from one
run are comparable with each other. Explanation times are reported as ratios to a plain
forward+backward of the same model and batch measured in the same run (see ``report.py``);
nothing here asserts on time.

At the end of a run with benchmarks, the ratio table is printed in the terminal summary.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnxbench.models.base import Architecture
from rnnxbench.registry import ARCHITECTURES
from rnnxbench.tasks.base import InputSpec

#: torch intra-op threads for every benchmark (fixed so that runs are comparable).
THREADS = 1
#: Explanation batch size.
BATCH = 256
#: Sequences of the training benchmark (one epoch).
TRAIN_SEQUENCES = 1000
SEED = 0

#: The MAJ task's input shape: 3 side-by-side 28x28 images read in 12 column slices of 28x7.
MAJ_SPEC = InputSpec(n_steps=12, step_dim=196, step_shape=(1, 28, 7), n_classes=10,
                     bounds=(-1.0, 1.0))

_RESULTS = pytest.StashKey[list]()


@pytest.fixture(scope="session", autouse=True)
def fixed_threads() -> Iterator[int]:
    """Pin torch to :data:`THREADS` intra-op threads for the whole session."""
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        yield THREADS
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def maj_spec() -> InputSpec:
    return MAJ_SPEC


@pytest.fixture(scope="session")
def explain_batch(maj_spec: InputSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """``BATCH`` random float32 sequences uniform in [-1, 1] and random target classes."""
    gen = torch.Generator().manual_seed(SEED)
    x = torch.rand(BATCH, maj_spec.n_steps, maj_spec.step_dim, generator=gen) * 2 - 1
    target = torch.randint(0, maj_spec.n_classes, (BATCH,), generator=gen)
    return x, target


@pytest.fixture(scope="session")
def train_data(maj_spec: InputSpec) -> tuple[np.ndarray, np.ndarray]:
    """``TRAIN_SEQUENCES`` random MAJ-shaped sequences in [-1, 1] and random labels."""
    rs = np.random.default_rng(SEED)
    X = rs.uniform(-1.0, 1.0, (TRAIN_SEQUENCES, maj_spec.n_steps, maj_spec.step_dim))
    y = rs.integers(0, maj_spec.n_classes, TRAIN_SEQUENCES)
    return X.astype(np.float32), y.astype(np.int64)


@pytest.fixture(scope="session")
def make_model(maj_spec: InputSpec) -> Callable[[str], Architecture]:
    """``make_model(name)``: a freshly initialised registered architecture (seeded)."""

    def make(name: str) -> Architecture:
        torch.manual_seed(SEED)
        return ARCHITECTURES.get(name)(maj_spec)

    return make


def timed_forward_backward(model: torch.nn.Module, x: torch.Tensor,
                           target: torch.Tensor) -> float:
    """Seconds of one baseline pass (fresh input leaf, parameter grads cleared around it)."""
    xb = x.detach().clone().requires_grad_(True)
    for p in model.parameters():
        p.grad = None
    start = time.perf_counter()
    model(xb).gather(1, target[:, None]).sum().backward()
    elapsed = time.perf_counter() - start
    for p in model.parameters():
        p.grad = None
    return elapsed


@pytest.fixture(scope="session")
def time_paired() -> Callable[..., torch.Tensor]:
    """``time_paired(benchmark, explain, model, x, target, rounds, warmup_rounds)``: times
    ``explain(x, target)`` with one untimed-by-pytest-benchmark baseline pass right before
    each round (in pedantic's ``setup``); the median of the per-round ratios goes to
    ``extra_info`` as ``paired_ratio`` (with its quartiles): on a shared machine the load
    can change between the baseline benchmark and an explainer's, the pairs drift less.
    Returns explain's result."""

    def run(benchmark, explain, model, x, target, rounds: int, warmup_rounds: int):
        paired: list[float] = []

        def setup():
            paired.append(timed_forward_backward(model, x, target))
            return (x, target), {}

        result = benchmark.pedantic(explain, setup=setup, rounds=rounds,
                                    warmup_rounds=warmup_rounds)
        stats = getattr(benchmark.stats, "stats", None)  # None with --benchmark-disable
        if stats is not None and len(stats.data) >= 2:
            # stats.data: the timed rounds in order; `paired` also holds the warmups'
            ratios = [e / b for e, b in zip(stats.data, paired[warmup_rounds:], strict=False)]
            q1, med, q3 = statistics.quantiles(ratios, n=4)
            benchmark.extra_info.update(paired_ratio=med, paired_ratio_q1=q1,
                                        paired_ratio_q3=q3)
        return result

    return run


@pytest.fixture(scope="session")
def time_baseline() -> Callable[..., None]:
    """``time_baseline(benchmark, model, x, target, rounds, warmup_rounds)``: a plain
    forward + backward (target logits summed; gradients reach the inputs and every
    parameter), fresh input leaves and cleared parameter grads each round."""

    def forward_backward(model, x, target):
        model(x).gather(1, target[:, None]).sum().backward()

    def run(benchmark, model, x, target, rounds: int, warmup_rounds: int) -> None:
        def setup():
            for p in model.parameters():
                p.grad = None
            return (model, x.detach().clone().requires_grad_(True), target), {}

        benchmark.pedantic(forward_backward, setup=setup, rounds=rounds,
                           warmup_rounds=warmup_rounds)

    return run


@pytest.fixture
def run_info(fixed_threads: int) -> dict[str, object]:
    """What every benchmark records in ``extra_info`` besides its own keys."""
    return {"threads": torch.get_num_threads(), "torch": torch.__version__, "device": "cpu"}


# ------------------------------------------------------------------ terminal summary
def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RESULTS] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    yield
    fixture = getattr(item, "funcargs", {}).get("benchmark")
    stats = getattr(fixture, "stats", None)
    if stats:  # None when benchmarks are disabled; falsy without rounds
        item.config.stash[_RESULTS].append(stats.as_dict(include_data=False))


def _load(filename: str):
    """A module of this folder by file name (benchmarks are not a package)."""
    spec = importlib.util.spec_from_file_location(f"_rnnxbench_bench_{Path(filename).stem}",
                                                  Path(__file__).with_name(filename))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_report():
    return _load("report.py")


@pytest.fixture(scope="session")
def numpy_lrp():
    """Arras et al.'s NumPy LRP for recurrent classifiers (``numpy_lrp.py``)."""
    return _load("numpy_lrp.py")


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    results = config.stash.get(_RESULTS, [])
    if not results:
        return
    report = _load_report()
    terminalreporter.write_sep("-", "explanation time / forward+backward time (same run)")
    terminalreporter.write_line(report.render({"benchmarks": results}, markdown=False))
