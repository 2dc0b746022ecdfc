import operator

import numpy as np
import pytest
import torch

from rnnxbench.engine.cache import Cache
from rnnxbench.engine.device import resolve_devices
from rnnxbench.engine.folds import fold_indices
from rnnxbench.engine.jobs import forward_flops, n_workers, run_jobs


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


def test_run_jobs_keeps_order_and_uses_one_thread():
    # worker processes import job functions by name: use importable ones
    squares = run_jobs(operator.mul, [(i, i) for i in range(5)], workers=2, desc="t",
                       progress=False)
    assert squares == [0, 1, 4, 9, 16]
    for workers in (1, 2):
        threads = run_jobs(torch.get_num_threads, [()] * 3, workers=workers, desc="t",
                           progress=False)
        assert threads == [1, 1, 1]
    assert n_workers(0, 3) >= 1 and n_workers(8, 3) == 3


def test_cache_roundtrip(tmp_path):
    cache = Cache(tmp_path)
    key = Cache.key({"a": 1})
    assert key == Cache.key({"a": 1}) != Cache.key({"a": 2})
    assert not cache.has_model(key)
    cache.save_model(key, {"w": torch.ones(2)}, {"accuracy": 0.5})
    state, meta = cache.load_model(key)
    assert cache.has_model(key) and meta["accuracy"] == 0.5 and state["w"].sum() == 2
    assert cache.load_score(key, "e", "m") is None
    cache.save_score(key, "e", "m", {"value": 0.25})
    assert cache.load_score(key, "e", "m") == {"value": 0.25}


def test_devices():
    assert resolve_devices("cpu") == ["cpu"]
    assert resolve_devices("auto") == (["cpu"] if not torch.cuda.is_available()
                                       else resolve_devices("cuda"))
    with pytest.raises(ValueError, match="valid choices"):
        resolve_devices("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_devices("cuda:0")


def test_run_jobs_dispatches_expensive_jobs_first():
    calls = []

    def work(i):
        calls.append(i)
        return i * 10

    out = run_jobs(work, [(i,) for i in range(4)], workers=1, desc="t", progress=False,
                   costs=[1.0, 5.0, 0.5, 3.0])
    assert out == [0, 10, 20, 30] and calls == [1, 3, 0, 2]
    assert run_jobs(operator.mul, [(i, 2) for i in range(4)], workers=2, desc="t",
                    progress=False, costs=[4, 3, 2, 1]) == [0, 2, 4, 6]


def test_forward_flops_counts_matmuls_and_restores_mode():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 4, bias=False))
    model.train()
    assert forward_flops(model, torch.zeros(1, 2, 3)) == 2 * 6 * 4
    assert model.training
