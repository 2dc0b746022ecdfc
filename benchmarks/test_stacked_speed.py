"""Stacked training against one-by-one training: K = 7 folds' models of one architecture.

Each fold has its own small random MAJ-shaped dataset (sizes differing by 1-2 sequences, so
the stack pads and masks its last batch). Each round trains the 7 models one by one with
:func:`rnnxbench.engine.train.train_model` (a) and 7 fresh copies of the same initial
weights in one :func:`rnnxbench.engine.stacked.train_stacked` call (b), one epoch each,
alternating the order (a, b), (b, a), ... from round to round; all models are built outside
the timed calls. The first (warm-up) round pays the process's vmap warm-up and is left out.

Recorded: the median seconds of (a) and of (b), their ratio (one-by-one / stacked: the
stack's speed-up; above 1 it is faster), the median of the per-round ratios (less disturbed
by load changes on a shared machine) and the largest absolute difference between the
parameters (and epoch losses) the two ways give, as a sanity value. Only the losses are
checked (a wrong batch, mask or padding moves them by ~1e-2): in float32 a few parameters
can end up an Adam step (~lr) apart, since a near-zero gradient's rounding decides its sign
(ConvDeep, measured: 1.2e-3 in 51 of 1.06M elements, and train_model alone differs from its
float64 run as much; in float64 the two ways agree to 5e-14).
"""

from __future__ import annotations

import copy
import statistics
import time

import numpy as np
import pytest
import torch

from rnnxbench.engine.stacked import train_stacked
from rnnxbench.engine.train import train_model
from rnnxbench.registry import ARCHITECTURES

STACKED_ARCHITECTURES = ("shallow", "deep", "rlstm", "convdeep")
K = 7
SEEDS = list(range(K))
#: sequences of the largest fold; the others have 1 or 2 fewer (fold k: minus k % 3)
SEQUENCES = 300
#: per-architecture overrides of SEQUENCES (e.g. a slow architecture), none needed so far
SEQUENCES_BY_ARCHITECTURE: dict[str, int] = {}
EPOCHS, BATCH_SIZE, LEARNING_RATE = 1, 50, 1e-3
WARMUP_ROUNDS, ROUNDS = 1, 3
#: a loose sanity bound on the epoch losses' difference (measured <= 6.5e-6)
MAX_LOSS_DIFF = 1e-4


def fold_data(spec, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``k``'s ``n - k % 3`` random sequences in [-1, 1] and random labels."""
    rs = np.random.default_rng(k)
    size = n - k % 3
    X = rs.uniform(-1.0, 1.0, (size, spec.n_steps, spec.step_dim)).astype(np.float32)
    return X, rs.integers(0, spec.n_classes, size).astype(np.int64)


def max_param_diff(a: list[torch.nn.Module], b: list[torch.nn.Module]) -> float:
    return max(float((p - q).detach().abs().max())
               for m, n in zip(a, b, strict=True)
               for p, q in zip(m.parameters(), n.parameters(), strict=True))


@pytest.mark.parametrize("architecture", STACKED_ARCHITECTURES)
def test_stacked_training_speed(benchmark, maj_spec, run_info, architecture: str) -> None:
    n = SEQUENCES_BY_ARCHITECTURE.get(architecture, SEQUENCES)
    datasets = [fold_data(maj_spec, n, k) for k in range(K)]
    initial = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        initial.append(ARCHITECTURES.get(architecture)(maj_spec))
    seconds: dict[str, list[float]] = {"one_by_one": [], "stacked": []}
    last: dict[str, object] = {}

    def one_by_one(models: list[torch.nn.Module]) -> None:
        start = time.perf_counter()
        last["one_by_one_losses"] = [
            train_model(m, X, y, epochs=EPOCHS, lr=LEARNING_RATE, batch_size=BATCH_SIZE,
                        seed=seed)
            for m, (X, y), seed in zip(models, datasets, SEEDS, strict=True)]
        seconds["one_by_one"].append(time.perf_counter() - start)

    def stacked(models: list[torch.nn.Module]) -> None:
        start = time.perf_counter()
        last["stacked_losses"] = train_stacked(models, datasets, epochs=EPOCHS,
                                               lr=LEARNING_RATE, batch_size=BATCH_SIZE,
                                               seeds=SEEDS)
        seconds["stacked"].append(time.perf_counter() - start)

    def setup():
        return ([copy.deepcopy(m) for m in initial], [copy.deepcopy(m) for m in initial]), {}

    def both(one_models: list[torch.nn.Module], stacked_models: list[torch.nn.Module]) -> None:
        if len(seconds["stacked"]) % 2 == 0:
            one_by_one(one_models)
            stacked(stacked_models)
        else:
            stacked(stacked_models)
            one_by_one(one_models)
        last["models"] = one_models, stacked_models

    benchmark.group = "stacked training"
    benchmark.pedantic(both, setup=setup, rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS)
    one, stack = (seconds[w][WARMUP_ROUNDS:] for w in ("one_by_one", "stacked"))
    one_median, stacked_median = statistics.median(one), statistics.median(stack)
    param_diff = max_param_diff(*last["models"])
    loss_diff = max(abs(a - b) for la, lb in zip(last["one_by_one_losses"],
                                                  last["stacked_losses"], strict=True)
                    for a, b in zip(la, lb, strict=True))
    benchmark.extra_info.update(
        run_info, kind="stacked_train", architecture=architecture, K=K, sequences=n,
        fold_sizes=[len(y) for _, y in datasets], batch_size=BATCH_SIZE, optimizer="adam",
        lr=LEARNING_RATE, epochs=EPOCHS, n_steps=maj_spec.n_steps, step_dim=maj_spec.step_dim,
        one_by_one_seconds=one_median, stacked_seconds=stacked_median,
        ratio=one_median / stacked_median,
        paired_ratio=statistics.median(a / b for a, b in zip(one, stack, strict=True)),
        one_by_one_rounds=one, stacked_rounds=stack,
        warmup_one_by_one_seconds=seconds["one_by_one"][:WARMUP_ROUNDS],
        warmup_stacked_seconds=seconds["stacked"][:WARMUP_ROUNDS],
        max_param_diff=param_diff, max_loss_diff=loss_diff)
    assert loss_diff < MAX_LOSS_DIFF
