"""Folds, devices and cost estimates (the cache and the job runner have their own files)."""

import numpy as np
import pytest
import torch

from rnnxbench.engine.device import resolve_devices
from rnnxbench.engine.folds import fold_indices
from rnnxbench.engine.jobs import forward_flops


def test_folds_are_stratified_partitions_and_reproducible():
    y = np.repeat(np.arange(10), 21)
    folds = fold_indices(y, 7, 71)
    assert len(folds) == 7
    tests = np.concatenate([t for _, t in folds])
    assert sorted(tests) == list(range(len(y)))
    for train, test in folds:
        assert np.bincount(y[test]).tolist() == [3] * 10
        assert not set(train) & set(test)
    again = fold_indices(y, 7, 71)
    assert all((a[1] == b[1]).all() for a, b in zip(folds, again, strict=True))
    with pytest.raises(ValueError, match="fewer than 7"):
        fold_indices(np.array([0] * 6 + [1] * 10), 7, 0)


def test_devices():
    assert resolve_devices("cpu") == ["cpu"]
    assert resolve_devices("auto") == (["cpu"] if not torch.cuda.is_available()
                                       else resolve_devices("cuda"))
    with pytest.raises(ValueError, match="valid choices"):
        resolve_devices("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_devices("cuda:0")


def test_forward_flops_counts_matmuls_and_restores_mode():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 4, bias=False))
    model.train()
    assert forward_flops(model, torch.zeros(1, 2, 3)) == 2 * 6 * 4
    assert model.training
