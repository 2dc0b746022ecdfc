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
so each explanation round is also preceded by one baseline pass (``time_paired`` in
conftest.py); the median of the per-round ratios goes to ``extra_info`` as
``paired_ratio`` (with its quartiles), a drift-resistant check on the ratio of medians.
"""

from __future__ import annotations

import pytest
import torch

from rnnxbench.registry import EXPLAINERS

ARCHITECTURES = ("shallow", "deep")
METHODS = ("baseline", "sa", "gb", "lrp", "lrp_eps", "dtd", "erasure", "occlusion")
WARMUP_ROUNDS = 5
ROUNDS = 40


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_explainer_speed(benchmark, make_model, explain_batch, run_info, time_baseline,
                         time_paired, architecture: str, method: str) -> None:
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
    relevance = time_paired(benchmark, explainer.attribute, model, x, target, ROUNDS,
                            WARMUP_ROUNDS)
    assert relevance.shape == x.shape
    assert bool(torch.isfinite(relevance).all())
