"""Unrolled nn.RNN / nn.GRU / nn.LSTM cells: forward equality and relevance conservation."""

from __future__ import annotations

import itertools
from contextlib import contextmanager

import pytest
import torch
from torch import nn

import rnnxbench
from rnnxbench.relevance import Composite, Epsilon, UnsupportedModel, relevance_mode
from rnnxbench.relevance import functions as rf
from rnnxbench.relevance.cells import recurrent_forward

KINDS = [(nn.RNN, {"nonlinearity": "tanh"}), (nn.RNN, {"nonlinearity": "relu"}),
         (nn.GRU, {}), (nn.LSTM, {})]
KIND_IDS = ["rnn_tanh", "rnn_relu", "gru", "lstm"]


@contextmanager
def mkldnn_disabled():
    """torch runs float32 nn.LSTM on CPU through oneDNN unless disabled."""
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before


def _flat(result, is_lstm: bool) -> list[torch.Tensor]:
    output, state = result
    return [output, *state] if is_lstm else [output, state]


@pytest.mark.parametrize(("cls", "kw"), KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_forward_equals_torch(cls, kw, dtype):
    """Same outputs (output, h_n[, c_n]) as torch's module in eval mode, for batch_first
    True/False, uni/bidirectional, 1-3 layers, given hx, unbatched input, with and without
    biases (float32 LSTM compared with torch's non-oneDNN CPU kernel): nn.RNN bit for bit;
    nn.GRU / nn.LSTM to rounding (their fused directions compute tanh as 2 sigmoid(2u) - 1
    on feature-major blocks: float32 within 1e-6, as torch's own oneDNN and native kernels
    agree, float64 within 1e-14)."""
    torch.manual_seed(0)
    comp = Composite(Epsilon())
    is_lstm = cls is nn.LSTM
    N, T, F_, H = 3, 5, 3, 4
    cases = itertools.product([True, False], [False, True], [1, 2, 3], [False, True],
                              [False, True])
    for batch_first, bidirectional, layers, given_hx, unbatched in cases:
        m = cls(F_, H, num_layers=layers, batch_first=batch_first, bidirectional=bidirectional,
                bias=not (given_hx and layers == 2), **kw).to(dtype).eval()
        D = 2 if bidirectional else 1
        if unbatched:
            x = torch.randn(T, F_, dtype=dtype)
        else:
            x = torch.randn((N, T, F_) if batch_first else (T, N, F_), dtype=dtype)
        hx = None
        if given_hx:
            shape = (layers * D, H) if unbatched else (layers * D, N, H)
            hx = torch.randn(shape, dtype=dtype)
            hx = (hx, torch.randn(shape, dtype=dtype)) if is_lstm else hx
        with torch.no_grad(), mkldnn_disabled():
            want = _flat(m(x, hx), is_lstm)
        got = _flat(recurrent_forward(m, x, hx, comp), is_lstm)
        case = (batch_first, bidirectional, layers, given_hx, unbatched)
        for w, g in zip(want, got, strict=True):
            assert g.shape == w.shape, case
            assert g.dtype == w.dtype, case
            if cls is nn.RNN:
                assert torch.equal(g, w), (case, (g - w).abs().max().item())
            else:
                atol = 1e-6 if dtype == torch.float32 else 1e-14
                torch.testing.assert_close(g, w, rtol=0, atol=atol, msg=str(case))


def test_float32_lstm_close_to_onednn_kernel():
    """With oneDNN (torch's default float32 CPU LSTM), the values agree to float32 rounding."""
    torch.manual_seed(1)
    m = nn.LSTM(5, 16, num_layers=2, batch_first=True, bidirectional=True).eval()
    x = torch.randn(4, 9, 5)
    with torch.no_grad():
        want = _flat(m(x), True)
    got = _flat(recurrent_forward(m, x, None, Composite(Epsilon())), True)
    for w, g in zip(want, got, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-6, atol=1e-6)


def test_forward_in_relevance_mode_keeps_model_outputs():
    torch.manual_seed(2)
    m = nn.GRU(3, 5, num_layers=2, batch_first=True, bidirectional=True).double().eval()
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    with torch.no_grad():
        want = m(x)
    with relevance_mode(m, Composite(Epsilon())):
        got = m(x.requires_grad_(True))
    torch.testing.assert_close(got[0], want[0], rtol=0, atol=1e-14)
    torch.testing.assert_close(got[1], want[1], rtol=0, atol=1e-14)
    assert "forward" not in vars(m)  # torch's forward is back after the block


def test_packed_sequence_and_projection_are_rejected():
    lstm = nn.LSTM(3, 4, batch_first=True).eval()
    packed = nn.utils.rnn.pack_padded_sequence(torch.randn(2, 5, 3), [5, 3], batch_first=True)
    with pytest.raises(UnsupportedModel, match="PackedSequence"):
        recurrent_forward(lstm, packed, None, Composite(Epsilon()))
    proj = nn.LSTM(3, 4, proj_size=2).eval()
    with pytest.raises(UnsupportedModel, match="proj_size"):
        recurrent_forward(proj, torch.randn(5, 2, 3), None, Composite(Epsilon()))


def test_wrong_state_shape_is_a_clear_error():
    gru = nn.GRU(3, 4, num_layers=2).eval()
    with pytest.raises(ValueError, match=r"h_0: expected shape \(2, 2, 4\)"):
        recurrent_forward(gru, torch.randn(5, 2, 3), torch.zeros(1, 2, 4), Composite(Epsilon()))


# ------------------------------------------------------------------ gated-sum relevance
def test_proportional_sum_splits_in_proportion():
    a = torch.tensor([[1.0, -2.0, 0.0]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([[3.0, 1.0, 0.0]], dtype=torch.float64, requires_grad=True)
    out = rf.proportional_sum(a, b, eps=0.5)
    R = torch.tensor([[2.0, 4.0, 1.0]], dtype=torch.float64)
    Ra, Rb = torch.autograd.grad(out, (a, b), R)
    # z = (4, -1, 0), z + eps sign z = (4.5, -1.5, 0.5)
    torch.testing.assert_close(Ra, torch.tensor([[2 / 4.5, 8 / 1.5, 0.0]], dtype=torch.float64))
    torch.testing.assert_close(Rb, torch.tensor([[6 / 4.5, -4 / 1.5, 0.0]],
                                                dtype=torch.float64))


def test_proportional_sum_bias_factor_spreads_the_stabiliser_share_like_the_reference():
    """bias_factor=1: as lrp_linear(identity weights, bias_nb_units = 2 H) for each summand,
    so every unit's stabiliser share is spread over all 2 H summand units; conserves."""
    torch.manual_seed(3)
    a = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    R = torch.randn(2, 3, dtype=torch.float64)
    eps = 0.1
    Ra, Rb = torch.autograd.grad(rf.proportional_sum(a, b, eps, bias_factor=1.0), (a, b), R)
    z = (a + b).detach()
    sign = torch.where(z >= 0, 1.0, -1.0).to(z)
    denom = z + eps * sign

    def lrp_linear_identity(hin):  # (N, H): R_in_i = sum_j (I_ij hin_i + eps s_j / 2H) / d_j R_j
        numer = torch.diag_embed(hin) + (eps * sign / 6)[:, None, :]
        return (numer / denom[:, None, :] * R[:, None, :]).sum(-1)

    torch.testing.assert_close(Ra, lrp_linear_identity(a.detach()), rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(Rb, lrp_linear_identity(b.detach()), rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(Ra.sum(1) + Rb.sum(1), R.sum(1), rtol=1e-14, atol=1e-14)


# ------------------------------------------------------------------ conservation
class Classifier(nn.Module):
    def __init__(self, cls, bidirectional, layers, **kw):
        super().__init__()
        self.rnn = cls(3, 5, num_layers=layers, batch_first=True, bidirectional=bidirectional,
                       **kw)
        self.head = nn.Linear(5 * (2 if bidirectional else 1), 4)

    def forward(self, x, hx=None):
        out, _ = self.rnn(x, hx)
        return self.head(out[:, -1])


@pytest.mark.parametrize(("cls", "kw"), KINDS, ids=KIND_IDS)
@pytest.mark.parametrize(("bidirectional", "layers"), [(False, 1), (False, 3), (True, 1),
                                                       (True, 2)])
def test_conservation_with_bias_factor_one(cls, kw, bidirectional, layers):
    """lrp_eps, bias_factor=1, float64, start="logit", zero initial states:
    sum(input relevance) + sum(initial-state relevance) == explained score (to 1e-10
    relative). The initial states' share is not zero: as in the reference implementation,
    a linear map's bias/stabiliser share is spread over all its inputs, the zero-valued
    initial h_0 (and the zero summand f*c_0) included; so sum(input relevance) alone is
    not the score."""
    torch.manual_seed(4)
    model = Classifier(cls, bidirectional, layers, **kw).double().eval()
    N, D, H = 3, 2 if bidirectional else 1, 5
    x = torch.randn(N, 6, 3, dtype=torch.float64)
    target = torch.tensor([0, 1, 3])
    R = rnnxbench.explain(model, x, target, method="lrp_eps", bias_factor=1.0, start="logit")
    score = model(x).gather(1, target[:, None])[:, 0].detach()

    # the same pass with the zero initial states as explicit inputs, to see their share
    comp = Composite(Epsilon(1e-3, 1.0), gate_epsilon=1e-3, gate_bias_factor=1.0)
    h0 = torch.zeros(layers * D, N, H, dtype=torch.float64, requires_grad=True)
    c0 = torch.zeros(layers * D, N, H, dtype=torch.float64, requires_grad=True)
    states = [h0, c0] if cls is nn.LSTM else [h0]
    xx = x.clone().requires_grad_(True)
    with relevance_mode(model, comp):
        y = model(xx, tuple(states) if cls is nn.LSTM else h0)
        R0 = torch.zeros_like(y).scatter(1, target[:, None], y.detach().gather(1, target[:, None]))
        Rx, *R_states = torch.autograd.grad(y, [xx, *states], R0)
    torch.testing.assert_close(Rx, R, rtol=0, atol=1e-12)
    R_init = sum(r.sum(dim=(0, 2)) for r in R_states)
    total = R.sum(dim=(1, 2)) + R_init
    assert torch.allclose(total, score, rtol=1e-10, atol=0), (total - score) / score
    assert R_init.abs().max() > 1e-3  # not negligible: the brief's "inputs only" fails


def test_conservation_without_biases_and_tiny_epsilon():
    """With no biases anywhere, a vanishing stabiliser and bias_factor=0, the initial states
    get nothing (their value is 0) and the input relevance alone is the score."""
    torch.manual_seed(5)
    for cls in (nn.LSTM, nn.GRU, nn.RNN):
        model = Classifier(cls, True, 2, bias=False).double().eval()
        model.head.bias = None
        x = torch.randn(3, 6, 3, dtype=torch.float64)
        target = torch.tensor([2, 0, 1])
        R = rnnxbench.explain(model, x, target, epsilon=1e-12, start="logit")
        score = model(x).gather(1, target[:, None])[:, 0].detach()
        torch.testing.assert_close(R.sum(dim=(1, 2)), score, rtol=1e-6, atol=0)
