"""Control explainers: seeded random relevance and uniform relevance, both model-free."""

from __future__ import annotations

import pytest
import torch

from rnnxbench.explainers import RandomRelevance, UniformRelevance
from rnnxbench.explainers.base import unsupported_reason
from rnnxbench.registry import EXPLAINERS, describe


def inputs(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(4, 5, 3, generator=torch.Generator().manual_seed(0), dtype=dtype)


def test_registered_model_free_with_descriptions():
    for name, cls in (("random", RandomRelevance), ("uniform", UniformRelevance)):
        assert EXPLAINERS.get(name) is cls
        assert cls.model_free is True
        assert describe(cls)
        assert unsupported_reason(cls, torch.nn.Identity()) is None
    assert not getattr(EXPLAINERS.get("sa"), "model_free", False)


def test_random_is_deterministic_per_seed_and_call_sequence():
    x = inputs()
    first = RandomRelevance(None)
    calls = [first.attribute(x, 0), first.attribute(x, 0)]
    assert not torch.equal(calls[0], calls[1])  # the generator advances between calls
    again = RandomRelevance(None, seed=0)
    assert all(torch.equal(c, again.attribute(x, 0)) for c in calls)
    other = RandomRelevance(None, seed=1).attribute(x, 0)
    assert not torch.allclose(other, calls[0])
    assert torch.equal(calls[0], torch.rand(x.shape, generator=torch.Generator().manual_seed(0)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_random_values_and_format(dtype):
    x = inputs(dtype)
    model = torch.nn.Linear(3, 2)
    state = torch.get_rng_state()
    rel = RandomRelevance(model, seed=5).attribute(x, torch.zeros(4))
    assert torch.equal(torch.get_rng_state(), state)  # the global generator is untouched
    assert rel.shape == x.shape and rel.dtype == dtype
    assert (rel >= 0).all() and (rel < 1).all()
    assert rel.unique().numel() == rel.numel()  # i.i.d. continuous values
    big = RandomRelevance(None).attribute(torch.zeros(200, 10, 5), 0)
    assert abs(big.mean().item() - 0.5) < 0.02


def test_uniform_is_all_ones_whatever_the_target():
    x = inputs(torch.float64)
    rel = UniformRelevance(None).attribute(x, 1)
    assert rel.dtype == torch.float64 and torch.equal(rel, torch.ones_like(x))
    assert torch.equal(UniformRelevance(None).attribute(x, torch.tensor([0, 1, 2, 3])), rel)
