"""Explanation time against a plain forward+backward of the same model and batch.

For each architecture (shallow, deep) the group holds one ``baseline`` benchmark -- an
ordinary training-style backward: ``model(x)``, the sum of the target logits, then
``loss.backward()`` (gradients reach the inputs and every parameter) -- and one benchmark per
explainer (``attribute(x, target)``). ``report.py`` divides each explainer's median by the
baseline median of the same architecture from the same run; the goal is a ratio <= 2.
The perturbation explainers (``erasure``, ``occlusion`` with whole-step windows) need one
forward pass of T erased copies of the batch (no backward), batched; they are measured so
that their cost is visible, not held to that goal.

On a shared machine the load can change between the baseline benchmark and an explainer's,
so each explanation round is also preceded by one baseline pass (in pedantic's ``setup``,
outside the timed call); the median of the per-round ratios goes to ``extra_info`` as
``paired_ratio`` (with its quartiles), a drift-resistant check on the ratio of medians.
"""

from __future__ import annotations

import statistics
import time

import pytest
import torch

from rnnxbench.registry import EXPLAINERS

ARCHITECTURES = ("shallow", "deep")
METHODS = ("baseline", "sa", "gb", "lrp", "lrp_eps", "dtd", "erasure", "occlusion")
WARMUP_ROUNDS = 5
ROUNDS = 40


def _forward_backward(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> None:
    loss = model(x).gather(1, target[:, None]).sum()
    loss.backward()


def _timed_forward_backward(model: torch.nn.Module, x: torch.Tensor,
                            target: torch.Tensor) -> float:
    """Seconds of one baseline pass (fresh input leaf, parameter grads cleared around it)."""
    xb = x.detach().clone().requires_grad_(True)
    for p in model.parameters():
        p.grad = None
    start = time.perf_counter()
    _forward_backward(model, xb, target)
    elapsed = time.perf_counter() - start
    for p in model.parameters():
        p.grad = None
    return elapsed


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_explainer_speed(benchmark, make_model, explain_batch, run_info, time_baseline,
                         architecture: str, method: str) -> None:
    model = make_model(architecture).eval()
    x, target = explain_batch
    benchmark.group = architecture
    benchmark.extra_info.update(run_info, kind="explain", architecture=architecture,
                                explainer=method, batch=x.shape[0], n_steps=x.shape[1],
                                step_dim=x.shape[2])

    if method == "baseline":
        time_baseline(benchmark, model, x, target, ROUNDS, WARMUP_ROUNDS)
        assert all(p.grad is not None for p in model.parameters())
        return

    explainer = EXPLAINERS.get(method)(model)
    paired: list[float] = []

    def setup():
        # an untimed-by-pytest-benchmark baseline pass right before each explanation
        paired.append(_timed_forward_backward(model, x, target))
        return (x, target), {}

    relevance = benchmark.pedantic(explainer.attribute, setup=setup, rounds=ROUNDS,
                                   warmup_rounds=WARMUP_ROUNDS)
    assert relevance.shape == x.shape
    assert bool(torch.isfinite(relevance).all())
    stats = getattr(benchmark.stats, "stats", None)  # None with --benchmark-disable
    if stats is not None and len(stats.data) >= 2:
        # stats.data: seconds of the timed rounds in order; `paired` also holds the warmups'
        ratios = [e / b for e, b in zip(stats.data, paired[WARMUP_ROUNDS:], strict=False)]
        q1, med, q3 = statistics.quantiles(ratios, n=4)
        benchmark.extra_info.update(paired_ratio=med, paired_ratio_q1=q1, paired_ratio_q3=q3)
