"""Each relevance rule against a hand-written reference of its formula (spec §2).

The references work on the layer's explicit matrix ``M[j, i] = d out_j / d x_i`` (read off
the op by feeding it basis vectors, so a convolution becomes its dense equivalent) and
loop over samples, outputs j and inputs i. Every weight of a stride/padding convolution
appears at most once per (j, i), so clamping ``M`` is clamping the kernel; an entry of M that
is exactly zero means "not connected" (zero padding), which matters for ``bias_factor``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnxbench.models.layers import ThesisConv2d, ThesisLinear
from rnnxbench.relevance import (
    AlphaBeta,
    Epsilon,
    LinearOp,
    Mixed,
    Proportional,
    WSquare,
    ZBox,
    ZPlus,
)
from rnnxbench.relevance.propagate import module_op
from rnnxbench.relevance.rules import linear_op, stabilize

DT = torch.float64
N = 2


# ----------------------------------------------------------------------------- ops
def _dense(bias: bool = True) -> LinearOp:
    g = torch.Generator().manual_seed(1)
    w = torch.randn(6, 9, generator=g, dtype=DT) / 3
    b = torch.randn(6, generator=g, dtype=DT) / 4 if bias else None
    return linear_op(w, b)


def _conv(bias: bool = True) -> LinearOp:
    """nn.Conv2d, stride 2, symmetric padding."""
    torch.manual_seed(2)
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=bias).to(DT).requires_grad_(False)
    return module_op(conv)


def _thesis_conv(bias: bool = True) -> LinearOp:
    """ThesisConv2d: TF-SAME padding (asymmetric for the even kernel width)."""
    torch.manual_seed(3)
    op = module_op(ThesisConv2d(3, 4, (3, 2), bias="none").to(DT).requires_grad_(False))
    if bias:  # random signs, not just -softplus(b) < 0
        op.bias = torch.randn(4, dtype=DT) / 4
    return op


OPS = {"dense": (_dense, (9,)), "conv": (_conv, (3, 5, 4)),
       "thesis_conv": (_thesis_conv, (3, 5, 4))}


def _matrix(op: LinearOp, in_shape: tuple[int, ...]) -> np.ndarray:
    """``M[j, i]``: the op's output j for the unit input i (flattened)."""
    n = math.prod(in_shape)
    basis = torch.eye(n, dtype=DT).reshape(n, *in_shape)
    return op(basis).reshape(n, -1).T.numpy().copy()


def _bias_vector(op: LinearOp, in_shape: tuple[int, ...], n_out: int) -> np.ndarray:
    if op.bias is None:
        return np.zeros(n_out)
    b = op.bias.numpy()
    return np.repeat(b, n_out // len(b))  # outputs are (C, ...) flattened, channel-major


def _inputs(kind: str, shape: tuple[int, ...], seed: int = 0, n_bounded: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(N, *shape, generator=g, dtype=DT)
    if kind == "signed":
        return 2 * u - 1
    if kind == "positive":
        return u + 0.05
    if kind == "relu":  # non-negative with exact zeros, like ReLU outputs
        return (2 * u - 1).clamp(min=0)
    if kind == "unit":  # in [0, 1]
        return u
    if kind == "mixed":  # the first n_bounded features (channels) in [-1, 1], the rest >= 0
        x = (2 * u - 1).clamp(min=0)
        x[:, :n_bounded] = 2 * u[:, :n_bounded] - 1
        return x
    raise ValueError(kind)


def _relevance(op: LinearOp, x: torch.Tensor, seed: int = 5) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(op(x).shape, generator=g, dtype=DT)


# ------------------------------------------------------------------------ references
def _stab(z: float, eps: float) -> float:
    return z + eps if z >= 0 else z - eps


def _redistribute(x, R, M, contributions, shift=None) -> np.ndarray:
    """``R_i = sum_j c_ij / stab(z_j) R_j``, looping over samples n and outputs j.

    ``contributions(x_n, j)`` gives ``c_ij`` for all inputs i (only the connected ones,
    ``M[j, i] != 0``, are used); ``z_j = sum_i c_ij``, plus ``shift(x_n, j)`` if given.
    """
    x = x.reshape(x.shape[0], -1)
    R = R.reshape(len(x), -1)
    J, I = M.shape
    out = np.zeros((len(x), I))
    for n in range(len(x)):
        for j in range(J):
            conn = M[j] != 0.0
            c = np.where(conn, contributions(x[n], j), 0.0)
            z = float(c.sum()) + (shift(x[n], j) if shift else 0.0)
            out[n] += c / z * R[n, j]
    return out


def ref_epsilon(M, b, x, R, eps, bias_factor):
    """``R_i = sum_j (x_i w_ij + bf s_j / n_j) / (z_j + eps sign z_j) R_j`` with
    ``z_j = sum_i x_i w_ij + b_j``, ``s_j = b_j + eps sign z_j`` (the bias + stabiliser
    share) and ``n_j`` the number of inputs connected to output j."""
    def share(xn, j):
        wx = float(xn @ M[j])
        return _stab(wx + b[j], eps) - wx

    def contributions(xn, j):
        return xn * M[j] + bias_factor * share(xn, j) / np.count_nonzero(M[j])

    return _redistribute(x, R, M, contributions,
                         lambda xn, j: (1.0 - bias_factor) * share(xn, j))


def ref_alpha_beta(M, x, R, alpha, beta, eps):
    """``R_i = sum_j (alpha (x_i w_ij)^+ / z+_j - beta (x_i w_ij)^- / z-_j) R_j``."""
    def stabilised(sign):
        def shift(xn, j):
            z = float(np.clip(sign * xn * M[j], 0.0, None).sum()) * sign
            return _stab(z, eps) - z
        return shift

    pos = _redistribute(x, R, M, lambda xn, j: np.maximum(xn * M[j], 0.0), stabilised(1.0))
    neg = _redistribute(x, R, M, lambda xn, j: np.minimum(xn * M[j], 0.0), stabilised(-1.0))
    return alpha * pos - beta * neg


def _box(M, j, xn, low, high):
    w = M[j]
    return xn * w - low * np.maximum(w, 0.0) - high * np.minimum(w, 0.0)


def ref_zbox(M, x, R, low, high, eps):
    """``R_i = sum_j (x_i w_ij - l w+_ij - h w-_ij) / z_j R_j``."""
    return _redistribute(x, R, M, lambda xn, j: _box(M, j, xn, low, high),
                         lambda xn, j: eps)  # z_j >= 0


def ref_mixed(M, x, R, bounded, alpha, beta, low, high, eps):
    """Pixels: the z-beta terms; states p: ``alpha p w+ - beta p w-``; one denominator."""
    def c(xn, j):
        w = M[j]
        state = alpha * xn * np.maximum(w, 0.0) - beta * xn * np.minimum(w, 0.0)
        return np.where(bounded, _box(M, j, xn, low, high), state)

    return _redistribute(x, R, M, c, lambda xn, j: eps)  # z_j >= 0


def ref_wsquare(M, x, R, eps):
    return _redistribute(x, R, M, lambda xn, j: M[j] ** 2, lambda xn, j: eps)


def ref_proportional(M, x, R, eps):
    def shift(xn, j):
        return eps if float(xn @ M[j]) >= 0 else -eps

    return _redistribute(x, R, M, lambda xn, j: xn * M[j], shift)


def _check(got: torch.Tensor, want: np.ndarray) -> None:
    got = got.reshape(got.shape[0], -1).numpy()
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10 * scale)


# ----------------------------------------------------------------- rules vs references
@pytest.mark.parametrize("op_name", list(OPS))
@pytest.mark.parametrize(("eps", "bias_factor"), [(1e-3, 0.0), (0.3, 0.0), (0.3, 1.0),
                                                  (1e-3, 0.5)])
@pytest.mark.parametrize("inputs", ["signed", "relu"])
def test_epsilon(op_name, eps, bias_factor, inputs):
    make, shape = OPS[op_name]
    op = make()
    x = _inputs(inputs, shape)
    R = _relevance(op, x)
    M = _matrix(op, shape)
    b = _bias_vector(op, shape, M.shape[0])
    _check(Epsilon(eps, bias_factor)(op, x, R), ref_epsilon(M, b, x.numpy(), R.numpy(), eps,
                                                            bias_factor))


@pytest.mark.parametrize("op_name", list(OPS))
@pytest.mark.parametrize(("alpha", "beta"), [(1.0, 0.0), (1.5, 0.5), (2.0, 1.0)])
@pytest.mark.parametrize("inputs", ["signed", "relu", "positive"])
def test_alpha_beta(op_name, alpha, beta, inputs):
    make, shape = OPS[op_name]
    op = make()  # the bias is ignored by the rule
    x = _inputs(inputs, shape)
    R = _relevance(op, x)
    want = ref_alpha_beta(_matrix(op, shape), x.numpy(), R.numpy(), alpha, beta, 1e-9)
    _check(AlphaBeta(alpha, beta)(op, x, R), want)
    if beta == 0.0:
        _check(ZPlus()(op, x, R), want)


@pytest.mark.parametrize("op_name", list(OPS))
@pytest.mark.parametrize(("low", "high", "inputs"), [(-1.0, 1.0, "signed"), (0.0, 1.0, "unit"),
                                                     (-2.0, 1.5, "signed")])
def test_zbox(op_name, low, high, inputs):
    make, shape = OPS[op_name]
    op = make()
    x = _inputs(inputs, shape)
    R = _relevance(op, x)
    want = ref_zbox(_matrix(op, shape), x.numpy(), R.numpy(), low, high, 1e-9)
    _check(ZBox(low, high)(op, x, R), want)


@pytest.mark.parametrize("op_name", list(OPS))
@pytest.mark.parametrize(("alpha", "beta"), [(1.0, 0.0), (1.5, 0.5)])
def test_mixed(op_name, alpha, beta):
    make, shape = OPS[op_name]
    op = make()
    n_bounded = 4 if op_name == "dense" else 1  # features (dense) or channels (conv)
    x = _inputs("mixed", shape, n_bounded=n_bounded)
    R = _relevance(op, x)
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[:n_bounded] = True
    want = ref_mixed(_matrix(op, shape), x.numpy(), R.numpy(), mask.reshape(-1).numpy(),
                     alpha, beta, -1.0, 1.0, 1e-9)
    _check(Mixed(n_bounded, alpha, beta, -1.0, 1.0)(op, x, R), want)


@pytest.mark.parametrize("op_name", list(OPS))
def test_wsquare(op_name):
    make, shape = OPS[op_name]
    op = make()
    x = _inputs("signed", shape)
    R = _relevance(op, x)
    _check(WSquare()(op, x, R), ref_wsquare(_matrix(op, shape), x.numpy(), R.numpy(), 1e-9))


@pytest.mark.parametrize("pool", [nn.AvgPool2d(2), nn.AvgPool2d(3, stride=2, padding=1),
                                  nn.AdaptiveAvgPool2d((2, 3))])
def test_proportional_pooling(pool):
    op = module_op(pool)
    shape = (2, 6, 5)
    x = _inputs("positive", shape)
    R = _relevance(op, x)
    _check(Proportional()(op, x, R), ref_proportional(_matrix(op, shape), x.numpy(),
                                                      R.numpy(), 1e-9))


def test_proportional_dense():
    op = _dense()
    x = _inputs("signed", (9,))
    R = _relevance(op, x)
    _check(Proportional()(op, x, R), ref_proportional(_matrix(op, (9,)), x.numpy(), R.numpy(),
                                                      1e-9))


def test_stabilizer_sign_of_zero_is_plus():
    z = torch.tensor([-2.0, 0.0, 3.0], dtype=DT)
    assert stabilize(z, 0.5).tolist() == [-2.5, 0.5, 3.5]


# ------------------------------------------------------------------------ conservation
def _sums(R_in: torch.Tensor, R: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    return R_in.reshape(N, -1).sum(1).numpy(), R.reshape(N, -1).sum(1).numpy()


def _assert_conserves(R_in, R, rtol=1e-6):
    got, want = _sums(R_in, R)
    np.testing.assert_allclose(got, want, rtol=rtol)


@pytest.mark.parametrize("op_name", list(OPS))
def test_conserving_rules(op_name):
    make, shape = OPS[op_name]
    op = make()
    n_bounded = 4 if op_name == "dense" else 1
    x_box, x_pos = _inputs("signed", shape), _inputs("positive", shape)
    x_mix = _inputs("mixed", shape, n_bounded=n_bounded)
    R = _relevance(op, x_box)
    _assert_conserves(ZBox(-1.0, 1.0)(op, x_box, R), R)
    _assert_conserves(Mixed(n_bounded)(op, x_mix, R), R)
    _assert_conserves(Mixed(n_bounded, 2.0, 1.0)(op, x_mix, R), R)
    _assert_conserves(ZPlus()(op, x_pos, R), R)
    _assert_conserves(WSquare()(op, x_box, R), R)
    # epsilon spreads the bias + stabiliser share over the inputs (padding excluded)
    _assert_conserves(Epsilon(0.3, bias_factor=1.0)(op, x_box, R), R, rtol=1e-12)
    # alpha - beta = 1 conserves for outputs with positive and negative contributions
    # (a border output of a conv may see only positive weights: z- = 0 there)
    M = _matrix(op, shape)
    for x in (x_box, x_pos):
        c = x.reshape(N, 1, -1).numpy() * M[None]  # (N, J, I) contributions x_i w_ij
        both = (c > 0).any(-1) & (c < 0).any(-1)
        assert both.mean() > 0.8
        R_both = R * torch.from_numpy(both).reshape(R.shape)
        _assert_conserves(AlphaBeta(2.0, 1.0)(op, x, R_both), R_both)
        _assert_conserves(AlphaBeta(1.5, 0.5)(op, x, R_both), R_both)


def test_non_conserving_cases_are_detected():
    """The checks above can fail: absorbed bias, and alpha-beta without negative parts."""
    op = _dense()
    x = _inputs("signed", (9,))
    R = _relevance(op, x)
    got, want = _sums(Epsilon(0.3)(op, x, R), R)
    assert np.abs(got - want).max() > 1e-2
    # only inputs with positive weights to output 0 are active: z-_0 = 0, R_0 gets alpha R_0
    w = op.weight.clone()
    w[0] = w[0].abs()
    op = linear_op(w)
    R = torch.zeros(N, 6, dtype=DT)
    R[:, 0] = 1.0
    x = _inputs("positive", (9,))
    got, want = _sums(AlphaBeta(2.0, 1.0)(op, x, R), R)
    np.testing.assert_allclose(got, 2.0 * want, rtol=1e-7)


@pytest.mark.parametrize(("alpha", "beta"), [(2.0, 0.5), (1.0, 1.0), (0.5, -0.5), (-1.0, -2.0),
                                             (1.5, 0.0)])
def test_alpha_beta_rejects_invalid(alpha, beta):
    with pytest.raises(ValueError, match="alpha"):
        AlphaBeta(alpha, beta)


# ------------------------------------------------------------- fast paths == generic path
def _generic(op: LinearOp) -> LinearOp:
    """The same dense layer without the dense fast paths (autograd transposes)."""
    return LinearOp(lambda x, w: F.linear(x, w), op.weight, op.bias, -1, dense=False)


RULES = [
    Epsilon(1e-3), Epsilon(0.3, 1.0), AlphaBeta(1.0, 0.0), AlphaBeta(1.5, 0.5), AlphaBeta(2.0, 1.0),
    ZPlus(), ZBox(-1.0, 1.0), ZBox(0.0, 1.0), Mixed(4), Mixed(4, 1.5, 0.5), WSquare(),
    Proportional(),
]


@pytest.mark.parametrize("rule", RULES, ids=repr)
@pytest.mark.parametrize("inputs", ["signed", "relu", "mixed"])
@pytest.mark.parametrize("shape", [(9,), (3, 9)], ids=["2d", "3d"])
def test_dense_fast_path_equals_generic(rule, inputs, shape):
    op = _dense()
    x = _inputs("relu" if inputs == "mixed" else inputs, shape)
    if inputs == "mixed":  # the first 4 features (last axis) bounded, the rest >= 0
        x[..., :4] = _inputs("signed", shape)[..., :4]
    R = _relevance(op, x)
    fast, slow = rule(op, x, R), rule(_generic(op), x, R)
    assert fast.shape == x.shape
    torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-12)


def test_memoised_weights_do_not_leak_between_rules():
    """One op (as inside a recurrence) used by every rule, repeatedly, in any order."""
    shared = _dense()
    x = _inputs("mixed", (9,), n_bounded=4)
    R = _relevance(shared, x)
    fresh = [rule(_dense(), x, R) for rule in RULES]
    for _ in range(2):
        for rule, want in zip(reversed(RULES), reversed(fresh), strict=True):
            torch.testing.assert_close(rule(shared, x, R), want, rtol=0, atol=0)


def test_rules_on_thesis_linear_ignore_bias_except_epsilon():
    """module_op carries the ThesisLinear's effective bias -softplus(b) to epsilon only."""
    torch.manual_seed(0)
    layer = ThesisLinear(9, 6).to(DT).requires_grad_(False)
    op, op_nobias = module_op(layer), linear_op(layer.weight.detach())
    torch.testing.assert_close(op.bias, -F.softplus(layer.raw_bias))
    x = _inputs("relu", (9,))
    R = _relevance(op, x)
    for rule in (ZPlus(), AlphaBeta(1.5, 0.5), ZBox(), WSquare()):
        torch.testing.assert_close(rule(op, x, R), rule(op_nobias, x, R), rtol=0, atol=0)
    assert not torch.allclose(Epsilon()(op, x, R), Epsilon()(op_nobias, x, R))
