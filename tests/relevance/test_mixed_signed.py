"""The mixed rule on signed states (first layer of a tanh/LSTM cell with bounded input)."""

import pytest
import torch

from rnnxbench.relevance.rules import Mixed, linear_op


@pytest.mark.parametrize(("alpha", "beta"), [(1.0, 0.0), (1.5, 0.5)])
def test_mixed_rule_with_signed_states_matches_formula_and_conserves(alpha, beta):
    torch.manual_seed(0)
    W = torch.randn(5, 7, dtype=torch.float64)
    pixels = torch.rand(3, 3, dtype=torch.float64) * 2 - 1
    states = torch.randn(3, 4, dtype=torch.float64)
    x = torch.cat([pixels, states], dim=1)
    R = torch.rand(3, 5, dtype=torch.float64)
    got = Mixed(3, alpha, beta, stabilizer=0.0)(linear_op(W), x, R)
    expected = torch.zeros_like(x)
    for n in range(3):
        # per (input, output) contribution; pixels: z-beta terms, states: signed alpha-beta
        c = torch.zeros(7, 5, dtype=torch.float64)
        for i in range(7):
            for j in range(5):
                w = W[j, i]
                if i < 3:
                    c[i, j] = x[n, i] * w + 1.0 * max(w, 0) - 1.0 * min(w, 0)
                else:
                    zij = x[n, i] * w
                    # the thesis writes alpha p w+ - beta p w- (w- <= 0) in one denominator
                    c[i, j] = alpha * max(zij, 0) - beta * min(zij, 0)
        expected[n] = (c / c.sum(0)) @ R[n]
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(got.sum(1), R.sum(1), rtol=1e-10, atol=0)
