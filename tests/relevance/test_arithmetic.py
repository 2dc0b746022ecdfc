"""Arithmetic between modules: sums split relevance in proportion to their terms, scaling
by a constant and indexing pass it on, anything else is refused, never silently wrong."""

import pytest
import torch
from torch import nn

import rnnxbench
from rnnxbench.relevance import UnsupportedModel

D, N = 4, 5


class Head(nn.Module):
    """``logit = w . combine(x)`` for inputs ``(N, 2, D)`` (bias-free)."""

    def __init__(self, combine):
        super().__init__()
        self.combine = combine
        self.out = nn.Linear(D, 2, bias=False)

    def forward(self, x):
        return self.out(self.combine(x))


COMBINE = {
    "add": lambda x: x[:, 0] + x[:, 1],
    "torch.add alpha": lambda x: torch.add(x[:, 0], x[:, 1], alpha=2.0),
    "sub": lambda x: x[:, 0] - x[:, 1],
    "sum": lambda x: x.sum(dim=1),
    "mean": lambda x: x.mean(1),
    "cat + index": lambda x: torch.cat([x[:, 1], x[:, 0]], dim=1)[:, D:],
    "constant": lambda x: 3.0 * x[:, 0],
    "divide": lambda x: x[:, 1] / 4,
    "negate": lambda x: -x[:, 0],
}

#: the relevance each input value gets, by hand: LRP-epsilon (eps -> 0) on the bias-free
#: head gives its input z the relevance z_j w_j; a sum hands term i the share z_i / z
HAND = {
    "add": lambda x, w: torch.stack([x[:, 0] * w, x[:, 1] * w], 1),
    "torch.add alpha": lambda x, w: torch.stack([x[:, 0] * w, 2 * x[:, 1] * w], 1),
    "sub": lambda x, w: torch.stack([x[:, 0] * w, -x[:, 1] * w], 1),
    "sum": lambda x, w: x * w,
    "mean": lambda x, w: x * w / 2,
    "cat + index": lambda x, w: torch.stack([x[:, 0] * w, 0 * x[:, 1]], 1),
    "constant": lambda x, w: torch.stack([3 * x[:, 0] * w, 0 * x[:, 1]], 1),
    "divide": lambda x, w: torch.stack([0 * x[:, 0], x[:, 1] / 4 * w], 1),
    "negate": lambda x, w: torch.stack([-x[:, 0] * w, 0 * x[:, 1]], 1),
}


@pytest.mark.parametrize("case", list(COMBINE))
def test_arithmetic_between_modules_has_a_rule(case):
    torch.manual_seed(0)
    model = Head(COMBINE[case]).double().eval()
    x = torch.randn(N, 2, D, dtype=torch.float64)
    R = rnnxbench.explain(model, x, 1, method="lrp_eps", epsilon=1e-12)
    w = model.out.weight[1].detach()
    torch.testing.assert_close(R, HAND[case](x, w), rtol=1e-6, atol=1e-8)  # stabiliser 1e-9
    torch.testing.assert_close(R.sum((1, 2)), model(x)[:, 1].detach(), rtol=1e-6, atol=1e-8)


class SummedGRU(nn.Module):
    """The case that was silently wrong: a bias-free GRU whose head reads
    ``h[:, -1] + h[:, 0]`` (relevance summed to twice the logit)."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(3, 6, batch_first=True, bias=False)
        self.head = nn.Linear(6, 4, bias=False)

    def forward(self, x):
        h, _ = self.gru(x)
        return self.head(h[:, -1] + h[:, 0])


def test_a_sum_of_gru_states_conserves_relevance():
    torch.manual_seed(1)
    model = SummedGRU().double().eval()
    x = torch.randn(N, 7, 3, dtype=torch.float64)
    R = rnnxbench.explain(model, x, 2, method="lrp_eps", epsilon=1e-12)
    logit = model(x)[:, 2].detach()
    torch.testing.assert_close(R.sum((1, 2)), logit, rtol=1e-7, atol=1e-12)


class Added(nn.Module):
    """A parameter-free module of the user's own that adds its inputs."""

    def forward(self, a, b):
        return a + b


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(D, D, bias=False)
        self.act = nn.ReLU()
        self.add = Added()
        self.out = nn.Linear(D, 2, bias=False)

    def forward(self, x):
        return self.out(self.add(self.act(self.inner(x)), x))


def test_a_residual_connection_conserves_relevance():
    torch.manual_seed(2)
    model = Residual().double().eval()
    x = torch.randn(N, D, dtype=torch.float64)
    R = rnnxbench.explain(model, x, 0, method="lrp_eps", epsilon=1e-12)
    torch.testing.assert_close(R.sum(1), model(x)[:, 0].detach(), rtol=1e-7, atol=1e-12)


REFUSED = {
    "matmul": (lambda x: x[:, 0] @ torch.eye(D, dtype=x.dtype), "matmul"),
    "product": (lambda x: x[:, 0] * x[:, 1], "mul"),
    "softmax": (lambda x: torch.softmax(x[:, 0], dim=1), "softmax"),
    "expand": (lambda x: x[:, :1].expand(-1, 2, -1).sum(1), "expand"),
    "in-place": (lambda x: x[:, 0].clone().add_(x[:, 1]), "add_"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_other_arithmetic_is_refused_naming_the_operation(case):
    combine, name = REFUSED[case]
    model = Head(combine).double().eval()
    x = torch.randn(N, 2, D, dtype=torch.float64)
    with pytest.raises(UnsupportedModel, match=rf"'<model>' \(Head\) applies '{name}'"):
        rnnxbench.explain(model, x, 0, method="lrp_eps")


def test_gradient_methods_and_plain_forwards_are_untouched():
    model = Head(REFUSED["product"][0]).double().eval()
    x = torch.randn(N, 2, D, dtype=torch.float64)
    assert rnnxbench.explain(model, x, 0, method="sa").shape == x.shape
    with torch.enable_grad():
        y = model(x.requires_grad_(True))
    assert y.grad_fn is not None
