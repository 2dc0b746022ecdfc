"""The R-LSTM cell (spec §1) and its relevance flow (spec §2, the thesis' R-LSTM rule).

Cross-architecture checks (shapes, training, stationary masks, conservation) are in
test_thesis_variants.py.
"""

from __future__ import annotations

import pytest
import torch

from rnnxbench.explainers.base import unsupported_reason
from rnnxbench.explainers.gradient import GuidedBackprop
from rnnxbench.explainers.propagation import LRP, DeepTaylor
from rnnxbench.models import (
    RLSTM,
    ConvPlusRLSTMSD,
    ConvRLSTM,
    Deep,
    RLSTMCell,
    thesis_parameter_count,
)
from rnnxbench.tasks.base import InputSpec

MAJ = InputSpec(n_steps=12, step_dim=196, step_shape=(1, 28, 7), n_classes=10)
SMALL = InputSpec(n_steps=3, step_dim=20, step_shape=(1, 4, 5), n_classes=4)
DT = torch.float64


def _small(**options) -> RLSTM:
    torch.manual_seed(0)
    return RLSTM(SMALL, **{"in_units": 9, "units": 7, **options}).to(DT).eval()


@pytest.mark.parametrize(("cls", "true", "thesis"), [
    (RLSTM, 145_914, 145_701), (ConvRLSTM, 152_410, 152_125),
    (ConvPlusRLSTMSD, 176_026, 175_741),
])
def test_true_and_thesis_parameter_counts(cls, true, thesis):
    model = cls(MAJ)
    assert model.n_parameters() == true
    assert thesis_parameter_count(model) == thesis == true - 3 * (model.units - 1)
    # without R-LSTM cells both counts agree
    assert thesis_parameter_count(Deep(MAJ)) == Deep(MAJ).n_parameters()


def test_cell_layout_and_init():
    cell = RLSTMCell(256, 72)
    assert cell.gates.weight.shape == (3 * 72, 328) and cell.g_layer.weight.shape == (72, 328)
    assert torch.equal(cell.gates.bias, torch.zeros(3 * 72))  # the thesis code: zeros
    std = 1 / 328**0.5
    assert cell.gates.weight.abs().max() <= 2 * std
    assert cell.gates.weight.std().item() == pytest.approx(std * 0.88, rel=0.1)  # truncated
    assert torch.allclose(cell.g_layer.effective_bias, torch.tensor(-0.01), atol=1e-7)
    assert RLSTMCell(10, 4, bias="none").g_layer.effective_bias is None


def _dense(layer, x):
    """``x W - softplus(b)`` of a ThesisLinear, written out."""
    b = layer.effective_bias
    return x @ layer.weight.T + (0.0 if b is None else b)


def _hand_forward(model: RLSTM, x: torch.Tensor):
    """The R-LSTM as a plain loop, from the parameters (spec §1)."""
    cell, H = model.cell, model.units
    a = torch.relu(_dense(model.in_layer, x))
    h = c = x.new_zeros(x.shape[0], H)
    hs, cs, xrs, fcs = [], [], [], []
    for t in range(x.shape[1]):
        xr = torch.cat([a[:, t], h], 1)
        w = cell.gates.weight
        i = torch.sigmoid(xr @ w[:H].T + cell.gates.bias[:H])
        f = torch.sigmoid(xr @ w[H:2 * H].T + cell.gates.bias[H:2 * H])
        o = torch.sigmoid(xr @ w[2 * H:].T + cell.gates.bias[2 * H:])
        g = torch.relu(_dense(cell.g_layer, xr))
        xrs.append(xr)
        fcs.append(f * c)
        c = f * c + i * g
        h = o * c
        hs.append(h)
        cs.append(c)
    y = _dense(model.out_layer, h)
    return y, {"a": a, "xr": xrs, "fc": fcs, "c": cs, "h": hs}


@pytest.mark.parametrize("n_steps", [1, 3, 6])
def test_forward_equals_hand_written_loop(n_steps):
    model = _small()
    with torch.no_grad():
        for p in model.cell.gates.parameters():
            p.add_(0.3 * torch.randn_like(p))  # non-trivial gate biases
        x = torch.rand(5, n_steps, 20, dtype=DT) * 2 - 1
        y, acts = _hand_forward(model, x)
        torch.testing.assert_close(model(x), y, rtol=1e-12, atol=1e-12)
        assert all((c >= 0).all() for c in acts["c"])  # g >= 0, c_0 = 0: c_t >= 0


def test_relevance_forward_equals_forward():
    """The relevance-mode pass (per-step module calls) computes the same logits."""
    model = _small()
    x = torch.rand(4, 3, 20, dtype=DT) * 2 - 1
    with torch.no_grad():
        h = model.cell(model.in_act(model.in_layer(x)))
        h_rel = model.cell.relevance_forward(object(), model.in_act(model.in_layer(x)))
    torch.testing.assert_close(h_rel, h, rtol=1e-12, atol=1e-14)


def _zplus(w, x, R, eps=1e-9):
    wp = w.clamp(min=0)
    return x * ((R / (x @ wp.T + eps)) @ wp)


def _zbox(w, x, R, lo=-1.0, hi=1.0, eps=1e-9):
    wp, wn = w.clamp(min=0), w.clamp(max=0)
    ones = torch.ones_like(x)
    z = x @ w.T - lo * ones @ wp.T - hi * ones @ wn.T + eps
    s = R / z
    return x * (s @ w) - lo * (s @ wp) - hi * (s @ wn)


def _thesis_dtd(model: RLSTM, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The thesis code's R-LSTM DTD, written out (bias-free model): z+ on the output layer
    and W_g, the proportional split of R(c_t) (stabiliser 1e-10, the rest to g), z-beta on
    the input layer, R(c_{t-1}) = R_prev + R(h_{t-1})."""
    y, acts = _hand_forward(model, x)
    A, n_steps = model.in_units, x.shape[1]
    R_out = torch.zeros_like(y).scatter(1, target[:, None],
                                        y.gather(1, target[:, None]).clamp(min=0))
    R_c = _zplus(model.out_layer.weight, acts["h"][-1], R_out)
    R_x = torch.zeros_like(x)
    for t in reversed(range(n_steps)):
        share = acts["fc"][t] / (acts["c"][t] + 1e-10)
        R_xr = _zplus(model.cell.g_layer.weight, acts["xr"][t], (1 - share) * R_c)
        R_x[:, t] = _zbox(model.in_layer.weight, x[:, t], R_xr[:, :A])
        R_c = share * R_c + R_xr[:, A:]
    return R_x


def test_dtd_is_the_thesis_r_lstm_rule():
    model = _small(bias="none")
    with torch.no_grad():
        for p in model.cell.gates.parameters():
            p.add_(0.3 * torch.randn_like(p))
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, 3, 20, generator=g, dtype=DT) * 2 - 1
    target = torch.randint(0, 4, (6,), generator=g)
    R = DeepTaylor(model).attribute(x, target)
    torch.testing.assert_close(R, _thesis_dtd(model, x, target), rtol=1e-7, atol=1e-12)
    torch.testing.assert_close(LRP(model, alpha=1.0, beta=0.0).attribute(x, target), R,
                               rtol=1e-12, atol=1e-14)


def test_gates_get_no_relevance_and_explainers_run():
    """Relevance mode never calls the gate module: the gates are computed on detached
    inputs and enter only as constants (signal-take-all), so they receive no relevance."""
    model = _small(bias="none")
    assert unsupported_reason(DeepTaylor, model) is None  # "relu": gates are constants
    assert {"relu", "gated"} <= model.instance_properties()
    x = torch.rand(3, 3, 20, dtype=DT) * 2 - 1
    calls = []
    model.cell.gates.register_forward_hook(lambda m, a, out: calls.append(1))
    DeepTaylor(model).attribute(x, 0)
    assert not calls  # relevance mode computes the gates functionally, on detached inputs
    # guided backprop guides the ReLU modules (in_act, cell.g_act); gates keep their gradient
    gb = GuidedBackprop(model).attribute(x, 0)
    assert gb.shape == x.shape and torch.isfinite(gb).all() and gb.abs().sum() > 0
