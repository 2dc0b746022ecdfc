"""Folds, devices and cost estimates (the cache and the job runner have their own files)."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from rnnxbench.engine.device import resolve_devices
from rnnxbench.engine.folds import fold_indices, image_overlap, task_splits
from rnnxbench.engine.jobs import forward_flops
from rnnxbench.tasks.maj import MajorityTask
from rnnxbench.tasks.sources import Images


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


def maj_data(split: str, n: int = 210, k: int = 7):
    rs = np.random.RandomState(0)
    x = rs.randint(0, 256, size=(n, 4, 3)).astype(np.uint8)
    y = np.arange(n) % 10
    task = MajorityTask(n_steps=3, split=split)
    return task.build_from_images(Images({"all": (x, y)}, "t"), "t", folds=(k, 71))


def test_task_splits_use_the_tasks_own_folds():
    data = maj_data("images")
    folds = task_splits(data.y, [0, 3, 6], 7, 71, data.test_split, fold_of=data.fold_of)
    assert list(folds) == [0, 3, 6]
    for f, (train, test) in folds.items():
        np.testing.assert_array_equal(test, np.flatnonzero(data.fold_of == f))
        np.testing.assert_array_equal(train, np.flatnonzero(data.fold_of != f))
    with pytest.raises(ValueError, match="n_folds = 5"):
        task_splits(data.y, [0], 5, 71, fold_of=data.fold_of)


def test_image_overlap_of_both_splits():
    default = maj_data("sequences")
    seq_splits = task_splits(default.y, list(range(7)), 7, 71)
    overlap = image_overlap(default, seq_splits)
    assert sorted(overlap) == list(range(7))
    for fold in overlap.values():
        assert 0.5 < fold["test_blocks_seen_in_training"] < 1
        assert 0.5 < fold["test_images_seen_in_training"] < 1
    own = maj_data("images")
    splits = task_splits(own.y, list(range(7)), 7, 71, fold_of=own.fold_of)
    assert all(v == 0.0 for fold in image_overlap(own, splits).values() for v in fold.values())
    # counted by hand: fold 0's test blocks whose image a training block shows
    train, test = seq_splits[0]
    seen = set(default.block_images[train].ravel())
    blocks = default.block_images[test].ravel()
    assert overlap[0]["test_blocks_seen_in_training"] == pytest.approx(
        np.mean([b in seen for b in blocks]))
    assert image_overlap(replace(default, block_images=None), seq_splits) == {}


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
