"""Rules in closed form over all steps (``Rule.step_form``) give the values of the rule
called at each step, and decline where they have no such form."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnxbench.relevance import AlphaBeta, Epsilon, LinearOp, Mixed, ZBox, ZPlus, linear_op

T, N, F_IN, O, N_PIX = 4, 5, 7, 6, 3


def _case(signed_states: bool, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    op = linear_op(torch.randn(O, F_IN, generator=gen, dtype=torch.float64),
                   torch.randn(O, generator=gen, dtype=torch.float64))
    X = torch.rand(T, N, F_IN, generator=gen, dtype=torch.float64)
    X[..., :N_PIX] = X[..., :N_PIX] * 2 - 1  # pixels in [-1, 1]
    if signed_states:
        X[..., N_PIX:] -= 0.5
    Z = op.add_bias(op(X))
    R = torch.randn(T, N, O, generator=gen, dtype=torch.float64)
    return op, X, Z, R


RULES = {
    "epsilon": (lambda: Epsilon(1e-2), False),
    "alpha-beta": (lambda: AlphaBeta(1.5, 0.5), False),
    "alpha2-beta1": (lambda: AlphaBeta(2.0, 1.0), False),
    "alpha-beta, signed inputs": (lambda: AlphaBeta(1.5, 0.5), True),
    "z+": (lambda: ZPlus(), False),
    "zbox": (lambda: ZBox(-1.0, 1.0), True),
    "mixed": (lambda: Mixed(N_PIX, 1.5, 0.5), False),
    "mixed, signed states": (lambda: Mixed(N_PIX, 1.5, 0.5), True),
}


@pytest.mark.parametrize("name", list(RULES))
def test_step_form_equals_the_rule_at_every_step(name):
    make, signed = RULES[name]
    rule = make()
    op, X, Z, R = _case(signed)
    if isinstance(rule, AlphaBeta) and not signed:
        X = X.clamp(min=0)  # inputs after a ReLU: the x+ terms only
        Z = op.add_bias(op(X))
    if signed:
        assert bool((X < 0).any())
    form = rule.step_form(op, X, Z)
    assert form is not None
    for t in range(T):
        # a fresh op per step: the rule called alone derives its own weights
        fresh = linear_op(op.weight, op.bias)
        uses_out = getattr(rule, "uses_output", False)
        expected = rule(fresh, X[t], R[t], out=Z[t]) if uses_out else rule(fresh, X[t], R[t])
        torch.testing.assert_close(form(t, X[t], R[t]), expected, rtol=1e-12, atol=1e-12)


def test_mixed_form_covers_signed_states_at_steps_without_any():
    """One negative state anywhere gives the signed form; at the other steps it equals the
    unsigned rule (its extra terms are exact zeros there)."""
    op, X, Z, R = _case(False, seed=3)
    X[2, 1, -1] = -0.25
    Z = op.add_bias(op(X))
    rule = Mixed(N_PIX, 1.5, 0.5)
    form = rule.step_form(op, X, Z)
    for t in range(T):
        expected = rule(linear_op(op.weight, op.bias), X[t], R[t])
        torch.testing.assert_close(form(t, X[t], R[t]), expected, rtol=1e-12, atol=1e-12)


def test_rules_without_a_form_decline():
    op, X, Z, _ = _case(True)
    assert Epsilon(1e-2, bias_factor=1.0).step_form(op, X, Z) is None
    conv = LinearOp(lambda x, w: F.conv1d(x, w), torch.ones(2, 1, 3))
    x = torch.rand(T, N, 1, 8)
    for rule in (Epsilon(), ZBox(), Mixed(1), AlphaBeta()):
        assert rule.step_form(conv, x, x) is None
