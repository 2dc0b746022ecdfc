"""Training throughput: one epoch of 1,000 MAJ-shaped random sequences, batch 50, Adam.

Each round trains a freshly initialised model (built outside the timed call) with
:func:`rnnxbench.engine.train.train_model`; ``report.py`` turns the median epoch time into
sequences per second.
"""

from __future__ import annotations

import pytest

from rnnxbench.engine.train import train_model
from rnnxbench.registry import ARCHITECTURES as REGISTRY

#: every registered architecture (plugins included)
ARCHITECTURES = tuple(REGISTRY.names())
BATCH_SIZE = 50
LEARNING_RATE = 1e-3
WARMUP_ROUNDS = 1
ROUNDS = 3


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_training_speed(benchmark, make_model, train_data, run_info, architecture: str) -> None:
    X, y = train_data
    benchmark.group = "training"
    benchmark.extra_info.update(run_info, kind="train", architecture=architecture,
                                n_sequences=len(y), batch_size=BATCH_SIZE, optimizer="adam",
                                lr=LEARNING_RATE, epochs=1, n_steps=X.shape[1],
                                step_dim=X.shape[2])

    def setup():
        return (make_model(architecture), X, y), {
            "epochs": 1, "lr": LEARNING_RATE, "batch_size": BATCH_SIZE, "seed": 0}

    losses = benchmark.pedantic(train_model, setup=setup, rounds=ROUNDS,
                                warmup_rounds=WARMUP_ROUNDS)
    assert len(losses) == 1
