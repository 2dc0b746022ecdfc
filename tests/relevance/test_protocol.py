"""A module of its own joins propagation through ``relevance_op()`` (rnnxbench.relevance's
docstring): the composite's rule for its role, or the proportional split when it says so."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnxbench.relevance import (
    Composite,
    Epsilon,
    LinearOp,
    Proportional,
    UnsupportedModel,
    ZPlus,
    linear_op,
    propagate,
)
from rnnxbench.relevance.propagate import module_op

DT = torch.float64


class MyDense(nn.Module):
    """``x @ W.T + b``, not an nn.Linear."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in, dtype=DT) / 2)
        self.bias = nn.Parameter(torch.randn(n_out, dtype=DT) / 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)

    def relevance_op(self) -> LinearOp:
        return linear_op(self.weight, self.bias)


class FeatureMean(nn.Module):
    """Mean over the last axis, declared proportional."""

    def __init__(self, proportional: bool = True):
        super().__init__()
        self.proportional = proportional

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=-1, keepdim=True)

    def relevance_op(self) -> LinearOp:
        return LinearOp(lambda x, w: x.mean(dim=-1, keepdim=True), None,
                        proportional=self.proportional)


def test_own_dense_layer_gets_the_composite_rule_of_its_role():
    """Same relevance as nn.Linear with the same weights: the input rule (epsilon) on the
    first layer, the hidden rule (z+) on the second."""
    torch.manual_seed(0)
    own = nn.Sequential(MyDense(5, 4), nn.ReLU(), MyDense(4, 3))
    plain = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3)).to(DT)
    plain.load_state_dict(own.state_dict())
    composite = Composite(ZPlus(), input=Epsilon())
    x = torch.randn(6, 5, dtype=DT)
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    R_own = propagate(own, x, target, composite, bounded_input=True, start="logit")
    R_plain = propagate(plain, x, target, composite, bounded_input=True, start="logit")
    assert R_own.abs().sum() > 0
    assert torch.equal(R_own, R_plain)
    assert not module_op(own[0]).proportional


def test_proportional_op_gets_the_proportional_split():
    model = nn.Sequential(MyDense(5, 4), nn.ReLU(), FeatureMean())
    x = torch.randn(3, 5, dtype=DT)
    R = propagate(model, x, torch.zeros(3, dtype=torch.long), Composite(Epsilon(1e-9)),
                  start="logit")
    h = torch.relu(model[0](x)).detach()
    R_h = Proportional()(module_op(model[2]), h, model(x).detach())
    R_ref = Epsilon(1e-9)(module_op(model[0]), x, R_h)
    torch.testing.assert_close(R, R_ref, rtol=1e-14, atol=0)


def test_parameter_free_op_must_say_it_is_proportional():
    with pytest.raises(UnsupportedModel, match="proportional=True"):
        module_op(FeatureMean(proportional=False))
