"""Explanation time against a plain forward+backward of the same model and batch.

For each architecture (shallow, deep) the group holds one ``baseline`` benchmark -- an
ordinary training-style backward: ``model(x)``, the sum of the target logits, then
``loss.backward()`` (gradients reach the inputs and every parameter) -- and one benchmark per
explainer (``attribute(x, target)``). ``report.py`` divides each explainer's median by the
baseline median of the same architecture from the same run; the goal is a ratio <= 2.
"""

from __future__ import annotations

import pytest
import torch

from rnnxbench.registry import EXPLAINERS

ARCHITECTURES = ("shallow", "deep")
METHODS = ("baseline", "sa", "gb", "lrp", "lrp_eps", "dtd")
WARMUP_ROUNDS = 5
ROUNDS = 30


def _forward_backward(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> None:
    loss = model(x).gather(1, target[:, None]).sum()
    loss.backward()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_explainer_speed(benchmark, make_model, explain_batch, run_info, architecture: str,
                         method: str) -> None:
    model = make_model(architecture).eval()
    x, target = explain_batch
    benchmark.group = architecture
    benchmark.extra_info.update(run_info, kind="explain", architecture=architecture,
                                explainer=method, batch=x.shape[0], n_steps=x.shape[1],
                                step_dim=x.shape[2])

    if method == "baseline":

        def setup():
            # fresh leaves each round: no gradient accumulation is timed
            for p in model.parameters():
                p.grad = None
            return (model, x.detach().clone().requires_grad_(True), target), {}

        benchmark.pedantic(_forward_backward, setup=setup, rounds=ROUNDS,
                           warmup_rounds=WARMUP_ROUNDS)
        assert all(p.grad is not None for p in model.parameters())
        return

    explainer = EXPLAINERS.get(method)(model)
    relevance = benchmark.pedantic(explainer.attribute, args=(x, target), rounds=ROUNDS,
                                   warmup_rounds=WARMUP_ROUNDS)
    assert relevance.shape == x.shape
    assert bool(torch.isfinite(relevance).all())
