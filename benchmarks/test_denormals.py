"""Training on a long series with and without flushing denormal floats to zero.

A last-state RNN's gradients vanish along a long sequence into denormal floats, which the
CPU handles far slower than normal ones; :func:`rnnxbench.engine.train.train_model` flushes
them (:func:`rnnxbench.engine.device.denormals_flushed`). Both variants train the same
fresh model on ArrowHead's 36 training series of 251 steps (aeon's bundled copy), so the
ratio of the two medians in one run is the flush's speed-up.
"""

from __future__ import annotations

import pytest
import torch

from rnnxbench.engine.train import train_epochs, train_model
from rnnxbench.registry import ARCHITECTURES
from rnnxbench.tasks.ucr import UCRTask

EPOCHS, BATCH_SIZE, HIDDEN = 1, 16, 128


@pytest.fixture(scope="module")
def arrowhead():
    data = UCRTask(dataset="ArrowHead").build("aeon")
    train = ~data.test_split
    return data.spec, data.X[train], data.y[train]


@pytest.mark.parametrize("flush", [True, False], ids=["flushed", "kept"])
@pytest.mark.parametrize("architecture", ["lstm", "gru"])
def test_long_series_training(benchmark, arrowhead, run_info, architecture: str,
                              flush: bool) -> None:
    spec, X, y = arrowhead
    benchmark.group = "denormals"
    label = f"{architecture}-{HIDDEN}, ArrowHead T={spec.n_steps}, denormals " + (
        "flushed" if flush else "kept")
    benchmark.extra_info.update(run_info, kind="train", architecture=label,
                                n_sequences=len(y) * EPOCHS, batch_size=BATCH_SIZE,
                                optimizer="adam", epochs=EPOCHS, n_steps=spec.n_steps)

    def setup():
        torch.manual_seed(0)
        model = ARCHITECTURES.get(architecture)(spec, hidden=HIDDEN)
        return (model, X, y), {"epochs": EPOCHS, "lr": 3e-3, "batch_size": BATCH_SIZE,
                               "seed": 0, "device": "cpu"}

    losses = benchmark.pedantic(train_model if flush else train_epochs, setup=setup, rounds=5,
                                warmup_rounds=1)
    assert len(losses) == EPOCHS
