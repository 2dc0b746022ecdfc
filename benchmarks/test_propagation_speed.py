"""The propagation explainers (lrp, lrp_eps, dtd) against a plain forward + backward of the
same model and batch (issue 15's goal: at most 1.5x), at batch 64 and 1,000.

Architectures: the thesis' shallow and deep models and torch's nn.LSTM / nn.GRU
classifiers of the registry (``lstm``, ``gru``), on MAJ-shaped inputs. Each architecture x
batch is one group (``architecture`` = "<name>, batch <B>" in ``extra_info``) with its own
``baseline``; ``report.py`` divides by it, and each explanation round is paired with a
baseline pass right before it (``paired_ratio``, the steadier number on a shared machine).
dtd on the LSTM and GRU is unsupported (it
assumes a ReLU network) and skipped. Nothing here asserts on time.
"""

from __future__ import annotations

import pytest
import torch

from rnnxbench.explainers.base import unsupported_reason
from rnnxbench.registry import EXPLAINERS

ARCHITECTURES = ("shallow", "deep", "lstm", "gru")
METHODS = ("baseline", "lrp", "lrp_eps", "dtd")
BATCHES = (64, 1000)
ROUNDS, WARMUP_ROUNDS = 10, 2
#: issue 15: each propagation explainer costs at most this many forward+backward passes
GOAL = 1.5


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_propagation_speed(benchmark, make_model, maj_spec, run_info, time_baseline, time_paired,
                           architecture: str, batch: int, method: str) -> None:
    model = make_model(architecture).eval()
    gen = torch.Generator().manual_seed(batch)
    x = torch.rand(batch, maj_spec.n_steps, maj_spec.step_dim, generator=gen) * 2 - 1
    target = torch.randint(0, maj_spec.n_classes, (batch,), generator=gen)
    group = f"{architecture}, batch {batch}"
    benchmark.group = group
    benchmark.extra_info.update(run_info, kind="explain", architecture=group, explainer=method,
                                batch=batch, n_steps=x.shape[1], step_dim=x.shape[2],
                                goal=GOAL)
    if method == "baseline":
        time_baseline(benchmark, model, x, target, ROUNDS, WARMUP_ROUNDS)
        return
    cls = EXPLAINERS.get(method)
    reason = unsupported_reason(cls, model)
    if reason:
        pytest.skip(reason)
    relevance = time_paired(benchmark, cls(model).attribute, model, x, target, ROUNDS,
                            WARMUP_ROUNDS)
    assert relevance.shape == x.shape and bool(torch.isfinite(relevance).all())
