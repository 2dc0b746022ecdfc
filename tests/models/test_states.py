"""Hidden states and expected predictions (rnnxbench.models.states) for every architecture."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnxbench.models.states import (
    STATES,
    expected_predictions,
    hidden_states,
    register_states,
)
from rnnxbench.registry import ARCHITECTURES
from rnnxbench.tasks.base import InputSpec

DT = torch.float64
SEQ = InputSpec(n_steps=5, step_dim=3, step_shape=(3,), n_classes=4)
IMG = InputSpec(n_steps=4, step_dim=12, step_shape=(1, 4, 3), n_classes=3)
DEEP = {"in_units": 7, "cell_units": 6, "rec_units": 5, "head_units": 4}
RLSTM = {"in_units": 7, "units": 5}
#: conv models without the -softplus biases, so that tiny random ones are not all-zero
CONV = {"filters": (2, 3), "bias": "none"}
SIZES = {"shallow": {"hidden": 6}, "deep": DEEP, "deep_sd": DEEP,
         "deep_v2": {**DEEP, "pre_units": 5}, "convdeep": {**DEEP, **CONV},
         "conv_plus_deep": {**DEEP, **CONV}, "rlstm": RLSTM, "rlstm_sd": RLSTM,
         "convrlstm": {**RLSTM, **CONV}, "convrlstm_sd": {**RLSTM, **CONV},
         "conv_plus_rlstm_sd": {**RLSTM, **CONV}}
NAMES = ARCHITECTURES.names()
#: stacked / bidirectional torch-RNN variants (the bidirectional ones rerun prefixes)
VARIANTS = [("gru", {"bidirectional": True}), ("lstm", {"depth": 2}),
            ("rnn_avg", {"bidirectional": True, "depth": 2}),
            ("lstm_avg", {"bidirectional": True}), ("attn_gru", {"bidirectional": True}),
            ("nv_gru", {"bidirectional": True, "depth": 2}), ("nv_rnn", {"depth": 3})]


def spec_of(name: str) -> InputSpec:
    return IMG if "image_steps" in ARCHITECTURES.get(name).accepts else SEQ


def small(name: str, **options) -> nn.Module:
    torch.manual_seed(0)
    sizes = SIZES.get(name, {"hidden": 5})
    return ARCHITECTURES.get(name)(spec_of(name), **{**sizes, **options}).to(DT).eval()


def inputs(spec: InputSpec, n: int = 3, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, spec.n_steps, spec.step_dim, generator=g, dtype=DT)


def check_shapes_and_last(model: nn.Module, x: torch.Tensor, tol: float = 1e-10) -> None:
    n, t = x.shape[:2]
    h = hidden_states(model, x)
    ep = expected_predictions(model, x)
    assert h.dim() == 3 and h.shape[:2] == (n, t) and h.abs().max() > 0
    assert ep.shape == (n, t, model.spec.n_classes)
    torch.testing.assert_close(ep.sum(-1), torch.ones_like(ep[..., 0]), rtol=0, atol=tol)
    with torch.no_grad():
        want = torch.softmax(model(x), dim=-1)
    # EP at t = T is the model's output, for every architecture (by definition)
    assert (ep[:, -1] - want).abs().max().item() < tol


@pytest.mark.parametrize("name", NAMES)
def test_shapes_sums_and_last_step(name):
    model = small(name)
    check_shapes_and_last(model, inputs(model.spec))


@pytest.mark.parametrize("name", NAMES)
def test_last_step_in_float32(name):
    model = small(name).float()
    check_shapes_and_last(model, inputs(model.spec).float(), tol=1e-6)


@pytest.mark.parametrize("name", ["shallow", "deep", "rlstm", "gru_avg"])
def test_one_step(name):
    model = small(name)
    check_shapes_and_last(model, inputs(model.spec)[:, :1])


@pytest.mark.parametrize(("name", "options"), VARIANTS, ids=[v[0] + "-" + "-".join(
    f"{k}{v}" for k, v in v[1].items()) for v in VARIANTS])
def test_stacked_and_bidirectional(name, options):
    model = small(name, **options)
    x = inputs(model.spec)
    check_shapes_and_last(model, x)
    h = hidden_states(model, x)
    assert h.shape[2] == model.n_features  # top layer, directions concatenated
    torch.testing.assert_close(h, model.hidden_states(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", [n for n in NAMES if not n.startswith("nv_")])
def test_expected_is_the_prefix_output(name):
    """Apart from NV (fixed-length), EP_t is the model's output on x[:, :t]."""
    model = small(name)
    x = inputs(model.spec)
    ep = expected_predictions(model, x)
    with torch.no_grad():
        for t in range(1, x.shape[1]):
            want = torch.softmax(model(x[:, :t]), dim=-1)
            torch.testing.assert_close(ep[:, t - 1], want, rtol=0, atol=1e-10)


def test_neuroview_running_sum():
    model = small("nv_lstm")
    x = inputs(model.spec)
    contrib = model.step_contributions(x)  # (N, C, T)
    logits = contrib[:, :, :2].sum(-1) + model.classifier.bias
    torch.testing.assert_close(expected_predictions(model, x)[:, 1],
                               torch.softmax(logits, -1), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["shallow", "deep_v2", "rlstm", "conv_plus_deep", "gru",
                                  "lstm_avg", "attn_gru"])
def test_causal(name):
    model = small(name)
    x = inputs(model.spec)
    h, ep = hidden_states(model, x), expected_predictions(model, x)
    assert h.abs().max() > 0
    for t in range(x.shape[1] - 1):
        y = x.clone()
        y[:, t + 1:] = torch.rand_like(y[:, t + 1:]) * 3
        torch.testing.assert_close(hidden_states(model, y)[:, : t + 1], h[:, : t + 1],
                                   rtol=0, atol=1e-12)
        torch.testing.assert_close(expected_predictions(model, y)[:, : t + 1],
                                   ep[:, : t + 1], rtol=0, atol=1e-12)


def test_gru_matches_its_own_states():
    model = small("gru")
    x = inputs(model.spec)
    h = hidden_states(model, x)
    torch.testing.assert_close(h, model.hidden_states(x), rtol=0, atol=0)
    torch.testing.assert_close(h[:, -1], model.recurrent(x)[1], rtol=0, atol=0)


def test_thesis_states_are_what_the_next_step_receives():
    shallow = small("shallow")
    x = inputs(shallow.spec)
    trace = shallow.forward_steps(x)[1]
    r_in = trace["in_layer"][0][:, 1:, shallow.spec.step_dim:]  # r_{t-1} in [x_t | r_{t-1}]
    torch.testing.assert_close(hidden_states(shallow, x)[:, :-1], r_in, rtol=0, atol=0)

    rlstm = small("conv_plus_rlstm_sd")
    x = inputs(rlstm.spec)
    h_last = rlstm.forward_steps(x)[1]["out_layer"][0]  # the cell's own h_T
    torch.testing.assert_close(hidden_states(rlstm, x)[:, -1], h_last, rtol=0, atol=1e-12)


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(2, 3, batch_first=True)
        self.out = nn.Linear(3, 2)

    def forward(self, x):
        return self.out(self.rnn(x)[0][:, -1])


def test_unregistered_module_raises():
    with pytest.raises(TypeError, match=r"Linear.*supported.*Deep.*register_states"):
        hidden_states(nn.Linear(2, 2), torch.zeros(1, 1, 2))
    with pytest.raises(TypeError, match="Toy"):
        expected_predictions(Toy(), torch.zeros(1, 1, 2))


def test_register_states_for_a_plugin():
    class SubToy(Toy):
        pass

    register_states(Toy, hidden=lambda m, x: m.rnn(x)[0],
                    expected=lambda m, x: torch.softmax(m.out(m.rnn(x)[0]), -1))
    try:
        model = SubToy().train()
        x = torch.rand(2, 4, 2)
        assert hidden_states(model, x).shape == (2, 4, 3)
        ep = expected_predictions(model, x)
        torch.testing.assert_close(ep[:, -1], torch.softmax(model(x), -1))
        assert model.training
    finally:
        STATES.pop(Toy)
    with pytest.raises(TypeError):
        hidden_states(SubToy(), x)
    with pytest.raises(TypeError, match="needs a class"):
        register_states(Toy(), hidden=len, expected=len)


@pytest.mark.parametrize("name", ["shallow", "deep_sd", "rlstm_sd", "gru_avg"])
def test_modes_are_restored(name):
    model = small(name, **({} if name == "gru_avg" else {"dropout": 0.5}))
    x = inputs(model.spec)
    h, ep = hidden_states(model, x), expected_predictions(model, x)  # eval: stays eval
    assert not any(m.training for m in model.modules())
    model.train()
    if name == "gru_avg":
        model.rnn.eval()  # mixed modes are restored module by module
    before = {k: m.training for k, m in model.named_modules()}
    torch.testing.assert_close(hidden_states(model, x), h, rtol=0, atol=0)  # no dropout
    torch.testing.assert_close(expected_predictions(model, x), ep, rtol=0, atol=0)
    assert {k: m.training for k, m in model.named_modules()} == before
    assert not hidden_states(model, x).requires_grad
