"""Training throughput on a GPU (skipped where none is visible): one epoch of 1,000
MAJ-shaped random sequences, batch 50, for one model alone and for 7 stacked models
(``rnnxbench.engine.stacked``) on ``cuda:0``; ``report.py --device cuda`` prints the table
(sequences per second, and the stacked speed-up per model, both from this run).
"""

from __future__ import annotations

import time

import pytest
import torch

from rnnxbench.engine.stacked import train_stacked
from rnnxbench.engine.train import train_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

ARCHITECTURES = ("shallow", "deep", "rlstm", "convdeep", "convrlstm_sd", "conv_plus_deep")
K, BATCH_SIZE, LR, ROUNDS = 7, 50, 1e-3, 3


def _synced(fn) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_cuda_training_speed(benchmark, make_model, train_data, run_info,
                             architecture: str) -> None:
    X, y = train_data
    device = "cuda:0"
    stacked_seconds: list[float] = []

    def alone() -> None:
        train_model(make_model(architecture).to(device), X, y, epochs=1, lr=LR,
                    batch_size=BATCH_SIZE, seed=0, device=device)

    def stacked() -> None:
        models = [make_model(architecture).to(device) for _ in range(K)]
        train_stacked(models, [(X, y)] * K, epochs=1, lr=LR, batch_size=BATCH_SIZE,
                      seeds=list(range(K)), device=device)

    _synced(stacked)  # warm-up: vmap and the CUDA kernels
    for _ in range(ROUNDS):
        stacked_seconds.append(_synced(stacked))
    benchmark.group = "cuda training"
    benchmark.pedantic(lambda: _synced(alone), rounds=ROUNDS, warmup_rounds=1)
    one = benchmark.stats.stats.median
    many = sorted(stacked_seconds)[len(stacked_seconds) // 2]
    benchmark.extra_info.update(
        run_info, kind="cuda_train", architecture=architecture, device=device,
        gpu=torch.cuda.get_device_name(0), n_sequences=len(y), batch_size=BATCH_SIZE, k=K,
        alone_seconds=one, stacked_seconds=many,
        alone_seq_per_s=len(y) / one, stacked_seq_per_s=K * len(y) / many,
        speedup_per_model=K * one / many)
