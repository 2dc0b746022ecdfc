"""Recurrent classifiers on torch's nn.RNN / nn.GRU / nn.LSTM.

The first part checks what every one of them shares (the base class in
``rnnxbench.models.baselines``): options, shapes, parameter counts, declared properties,
relevance propagation and its conservation, training. Those tests run on all ten registered
names (baselines, NeuroView and attention); family-specific behaviour is tested here for the
baselines and in ``test_neuroview.py`` / ``test_attention.py`` for the others.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rnnxbench.engine.train import accuracy, train_model
from rnnxbench.explainers.base import unsupported_reason
from rnnxbench.explainers.gradient import GuidedBackprop, SensitivityAnalysis
from rnnxbench.explainers.propagation import LRP, DeepTaylor, LRPEpsilon
from rnnxbench.models import attention, baselines, neuroview
from rnnxbench.models.baselines import (
    GRUAvg,
    GRUClassifier,
    LSTMAvg,
    LSTMClassifier,
    RecurrentClassifier,
    RNNAvg,
    RNNClassifier,
    TimeMean,
)
from rnnxbench.registry import ARCHITECTURES
from rnnxbench.relevance import Composite, Epsilon, Proportional, propagate, relevance_mode
from rnnxbench.relevance.propagate import module_op, start_relevance
from rnnxbench.tasks.base import InputSpec

DT = torch.float64
BASELINES = {"rnn": RNNClassifier, "gru": GRUClassifier, "lstm": LSTMClassifier,
             "rnn_avg": RNNAvg, "gru_avg": GRUAvg, "lstm_avg": LSTMAvg}
NEUROVIEW = {"nv_rnn": neuroview.NVRNN, "nv_gru": neuroview.NVGRU,
             "nv_lstm": neuroview.NVLSTM}
ATTENTION = {"attn_gru": attention.AttentionGRU}
ALL = {**BASELINES, **NEUROVIEW, **ATTENTION}
ELMAN = [n for n, c in ALL.items() if c.cell == "rnn"]
#: (name, options) variants that cover every cell, head, direction and depth 1-2
VARIANTS = [(name, {}) for name in ALL] + [
    (name, {"bidirectional": True, "depth": 2}) for name in ALL] + [
    (name, {"nonlinearity": "relu"}) for name in ELMAN]



def _spec(n_steps: int = 5, step_dim: int = 3, n_classes: int = 4) -> InputSpec:
    return InputSpec(n_steps=n_steps, step_dim=step_dim, step_shape=(step_dim,),
                     n_classes=n_classes)


def build(name: str, spec: InputSpec | None = None, seed: int = 0, **options):
    torch.manual_seed(seed)
    return ALL[name](spec or _spec(), **{"hidden": 6, **options})


def _id(variant) -> str:
    name, options = variant
    return "-".join([name, *(f"{k}={v}" for k, v in options.items())])


# ------------------------------------------------------------------ registration, options
def test_registered():
    for name, cls in ALL.items():
        assert ARCHITECTURES.get(name) is cls
        assert issubclass(cls, RecurrentClassifier)
        assert cls.accepts == {"sequence"}
    assert {baselines.__name__, neuroview.__name__, attention.__name__} == {
        cls.__module__ for cls in ALL.values()}


@pytest.mark.parametrize("name", list(ALL))
def test_defaults_and_recorded_options(name):
    model = ALL[name](_spec())
    assert (model.hidden, model.bidirectional, model.depth) == (64, False, 1)
    rnn = model.rnn
    assert type(rnn) is {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[model.cell]
    assert (rnn.hidden_size, rnn.num_layers, rnn.bidirectional, rnn.batch_first) == (
        64, 1, False, True)
    expected = {"hidden": 64, "bidirectional": False, "depth": 1}
    if model.cell == "rnn":
        expected["nonlinearity"] = "tanh"
        assert rnn.nonlinearity == "tanh"
    assert {k: v for k, v in model.options.items() if k != "attention_size"} == expected
    model = ALL[name](_spec(), hidden=8, bidirectional=True, depth=3)
    assert (model.rnn.hidden_size, model.rnn.num_layers, model.rnn.bidirectional) == (8, 3, True)
    assert model.n_features == 16


@pytest.mark.parametrize("name", list(ALL))
@pytest.mark.parametrize("depth", [0, 5, -1, 2.0, True, "2"])
def test_depth_validated(name, depth):
    with pytest.raises(ValueError, match=r"depth must be one of 1, 2, 3, 4"):
        ALL[name](_spec(), depth=depth)


@pytest.mark.parametrize("name", list(ALL))
def test_hidden_and_bidirectional_validated(name):
    for hidden in (0, -3, 2.5, True, "64"):
        with pytest.raises(ValueError, match="hidden must be a positive integer"):
            ALL[name](_spec(), hidden=hidden)
    with pytest.raises(ValueError, match="bidirectional must be true or false"):
        ALL[name](_spec(), bidirectional="yes")


@pytest.mark.parametrize("name", ELMAN)
def test_elman_nonlinearity(name):
    assert build(name, nonlinearity="relu").rnn.nonlinearity == "relu"
    with pytest.raises(ValueError, match=r"tanh, relu.*sigmoid.*nn.RNN does not offer"):
        build(name, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="nonlinearity must be one of tanh, relu"):
        build(name, nonlinearity="gelu")


@pytest.mark.parametrize("name", [n for n in ALL if n not in ELMAN])
def test_gated_cells_take_no_nonlinearity(name):
    with pytest.raises(TypeError):
        build(name, nonlinearity="tanh")
    with pytest.raises(ValueError, match="applies to the Elman cell"):
        baselines.check_recurrent_options(ALL[name].cell, 4, False, 1, "tanh")


# ------------------------------------------------------------------ shapes
@pytest.mark.parametrize("name", list(ALL))
@pytest.mark.parametrize("n_steps", [1, 5, 12])
def test_output_shapes(name, n_steps):
    spec = _spec(n_steps)
    x = torch.randn(3, n_steps, spec.step_dim)
    for bidirectional in (False, True):
        for depth in (1, 2, 3, 4):
            model = build(name, spec, hidden=4, bidirectional=bidirectional, depth=depth)
            assert model(x).shape == (3, spec.n_classes)
            n = 4 * (2 if bidirectional else 1)
            assert model.hidden_states(x).shape == (3, n_steps, n)


@pytest.mark.parametrize("name", list(ALL))
def test_rejects_wrong_input(name):
    model = build(name)
    with pytest.raises(ValueError, match=r"expected \(N, T, 3\)"):
        model(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match=r"expected \(N, T, 3\)"):
        model(torch.randn(5, 3))


# ------------------------------------------------------------------ the baselines' heads
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_last_state_is_torch_h_n(cell, bidirectional):
    """Forward direction after step T, reverse direction after step 1 (torch's h_n)."""
    model = build(cell, bidirectional=bidirectional, depth=2).to(DT)
    x = torch.randn(4, 5, 3, dtype=DT)
    out = model.hidden_states(x)
    H = model.hidden
    last = out[:, -1] if not bidirectional else torch.cat([out[:, -1, :H], out[:, 0, H:]], 1)
    torch.testing.assert_close(model(x), model.classifier(last), rtol=0, atol=1e-14)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_avg_is_mean_state(cell):
    model = build(f"{cell}_avg", bidirectional=True).to(DT)
    x = torch.randn(4, 5, 3, dtype=DT)
    expected = model.classifier(model.hidden_states(x).mean(dim=1))
    torch.testing.assert_close(model(x), expected, rtol=0, atol=1e-14)
    assert isinstance(model.pool, TimeMean)


# ------------------------------------------------------------------ parameter counts
GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def _recurrent_count(cell: str, D: int, H: int, depth: int, bidirectional: bool) -> int:
    dirs = 2 if bidirectional else 1
    total = 0
    for layer in range(depth):
        d_in = D if layer == 0 else H * dirs
        total += dirs * GATES[cell] * (H * (d_in + H) + 2 * H)
    return total


@pytest.mark.parametrize("name", list(ALL))
@pytest.mark.parametrize(("bidirectional", "depth"), [(False, 1), (True, 1), (False, 3),
                                                      (True, 4)])
def test_parameter_counts(name, bidirectional, depth):
    spec = _spec(n_steps=7, step_dim=5, n_classes=3)
    H, D, T, C = 9, 5, 7, 3
    model = build(name, spec, hidden=H, bidirectional=bidirectional, depth=depth)
    n = H * (2 if bidirectional else 1)
    if name in NEUROVIEW:
        head = n * T * C + C
    elif name in ATTENTION:
        A = n  # default attention size
        head = (n * A + A) + A + (n * C + C)
    else:
        head = n * C + C
    expected = _recurrent_count(ALL[name].cell, D, H, depth, bidirectional) + head
    assert model.n_parameters() == expected


def test_parameter_count_paper_sized_lstm():
    """nn.LSTM's 4 (H (D + H) + 2 H) per layer and direction, by hand, H = 128."""
    model = LSTMClassifier(_spec(n_steps=20, step_dim=1, n_classes=2), hidden=128)
    assert model.n_parameters() == 4 * (128 * (1 + 128) + 2 * 128) + 128 * 2 + 2 == 67_330


# ------------------------------------------------------------------ declared properties
@pytest.mark.parametrize("name", list(ALL))
def test_properties_honest(name):
    model = build(name)
    assert "relu" not in model.instance_properties()
    assert "bias_free" not in model.instance_properties()
    assert unsupported_reason(DeepTaylor, model) is not None
    assert unsupported_reason(GuidedBackprop, model) is not None
    for cls in (LRP, LRPEpsilon, SensitivityAnalysis):
        assert unsupported_reason(cls, model) is None


@pytest.mark.parametrize("name", ELMAN)
@pytest.mark.filterwarnings("ignore:.*has no nn.ReLU modules")  # rnn, rnn_avg: see below
def test_relu_elman_declares_relu(name):
    model = build(name, nonlinearity="relu")
    assert model.instance_properties() == {"relu"}
    assert unsupported_reason(DeepTaylor, model) is None
    assert unsupported_reason(GuidedBackprop, model) is None
    # (guided backprop guides nn.ReLU modules only: NV's q_t = ReLU(h_t), not the ReLU
    # inside the fused nn.RNN; for rnn / rnn_avg it is the plain gradient)
    x = torch.randn(4, 5, 3)
    for cls in (DeepTaylor, GuidedBackprop):
        R = cls(model).attribute(x, 1)
        assert R.shape == x.shape and bool(torch.isfinite(R).all())


# ------------------------------------------------------------------ relevance
@pytest.mark.parametrize("variant", VARIANTS, ids=_id)
def test_explainers_run(variant):
    name, options = variant
    model = build(name, **options).eval()
    x = torch.rand(5, 5, 3) * 2 - 1
    target = torch.tensor([0, 1, 2, 3, 0])
    with torch.no_grad():
        logits = model(x)
    comp = Composite(Epsilon(1e-3))
    R = propagate(model, x, target, comp)
    assert R.shape == x.shape and bool(torch.isfinite(R).all())
    for cls in (LRP, LRPEpsilon, SensitivityAnalysis):
        R = cls(model).attribute(x, target)
        assert R.shape == x.shape and R.dtype == x.dtype and bool(torch.isfinite(R).all())
        assert float(R.abs().sum()) > 0
    # relevance mode leaves the model as it was
    with torch.no_grad():
        torch.testing.assert_close(model(x), logits, rtol=0, atol=0)


@pytest.mark.parametrize("variant", VARIANTS, ids=_id)
def test_relevance_mode_keeps_forward_values(variant):
    """The unrolled cells and custom relevance flows compute the model's own logits."""
    name, options = variant
    model = build(name, **options).to(DT).eval()
    x = torch.randn(4, 5, 3, dtype=DT)
    with torch.no_grad():
        expected = model(x)
    with relevance_mode(model, Composite(Epsilon())), torch.enable_grad():
        got = model(x.clone().requires_grad_(True))
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def relevance_with_states(model, x: torch.Tensor, target: torch.Tensor, composite: Composite
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Input relevance, the relevance of the zero initial states (per sample) and the
    logits. The recurrent module gets explicit zero initial states that collect relevance
    (the epsilon rule with ``bias_factor=1`` spreads a share onto them)."""
    L, N = model.depth * model.n_directions, x.shape[0]
    h0 = x.new_zeros(L, N, model.hidden).requires_grad_(True)
    c0 = x.new_zeros(L, N, model.hidden).requires_grad_(True)
    hx = (h0, c0) if model.cell == "lstm" else h0
    xg = x.clone().requires_grad_(True)
    with relevance_mode(model, composite), torch.enable_grad():
        unrolled = model.rnn.forward
        model.rnn.forward = lambda inp, _hx=None: unrolled(inp, hx)
        logits = model(xg)
        R0 = start_relevance(logits, target, "logit")
        R_x, R_h, R_c = torch.autograd.grad(logits, [xg, h0, c0], R0, allow_unused=True)
    R_states = R_h.sum(dim=(0, 2))
    if R_c is not None:
        R_states = R_states + R_c.sum(dim=(0, 2))
    return R_x, R_states, logits.detach()


@pytest.mark.parametrize("variant", VARIANTS, ids=_id)
@pytest.mark.parametrize("bias_free_classifier", [True, False])
def test_epsilon_bias_factor_conserves(variant, bias_free_classifier):
    """LRP-epsilon, bias_factor=1, start="logit", float64: the input relevance plus the
    zero initial states' relevance is the logit, through every gate, mean and attention."""
    name, options = variant
    model = build(name, **options).to(DT).eval().requires_grad_(False)
    with torch.no_grad():  # make the biases' shares visible
        for pname, p in model.named_parameters():
            if "bias" in pname:
                p.add_(torch.randn_like(p))
        if bias_free_classifier:
            model.classifier.bias.zero_()
    x = torch.rand(6, 5, 3, dtype=DT) * 2 - 1
    target = torch.arange(6) % 4
    explainer = LRPEpsilon(model, bias_factor=1.0, start="logit")
    R_x, R_states, logits = relevance_with_states(model, x, target,
                                                  explainer.composite(explainer.bounds))
    score = logits.gather(1, target[:, None])[:, 0]
    total = R_x.sum(dim=(1, 2)) + R_states
    torch.testing.assert_close(total, score, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(explainer.attribute(x, target), R_x, rtol=1e-12, atol=1e-14)


def test_time_mean_relevance_is_proportional():
    """TimeMean's relevance flow is the proportional rule of its relevance_op (gate bias
    factor 0) and spreads the stabiliser's share with bias factor 1 (sums conserve)."""
    pool = TimeMean()
    x = torch.randn(3, 4, 5, dtype=DT)
    R = torch.randn(3, 5, dtype=DT)
    expected = Proportional(TimeMean.STABILIZER)(module_op(pool), x, R)
    for bias_factor in (0.0, 1.0):
        xg = x.clone().requires_grad_(True)
        comp = Composite(Epsilon(), gate_bias_factor=bias_factor)
        with relevance_mode(pool, comp), torch.enable_grad():
            out = pool(xg)
            torch.testing.assert_close(out, x.mean(1), rtol=0, atol=0)
            (got,) = torch.autograd.grad(out, xg, R)
        if bias_factor:
            torch.testing.assert_close(got.sum(dim=(1, 2)), R.sum(1), rtol=1e-12, atol=1e-14)
            torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)
        else:
            torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)
    # with non-negative states every step's share is x_t / (T mean) of the unit's relevance
    xp = x.abs()
    xg = xp.clone().requires_grad_(True)
    with relevance_mode(pool, Composite(Epsilon())), torch.enable_grad():
        (got,) = torch.autograd.grad(pool(xg), xg, R)
    torch.testing.assert_close(got, xp / xp.sum(1, keepdim=True) * R[:, None], rtol=1e-6,
                               atol=1e-12)


# ------------------------------------------------------------------ training
def _toy_task(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Binary: the sign of x[1, 0] + x[3, 1]; evidence at two inner steps of six."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 6, 3)).astype(np.float32)
    y = (X[:, 1, 0] + X[:, 3, 1] > 0).astype(np.int64)
    return X, y


@pytest.mark.parametrize("name", list(ALL))
def test_trains_beyond_chance(name):
    X, y = _toy_task(384, 0)
    Xt, yt = _toy_task(256, 1)
    model = build(name, _spec(n_steps=6, n_classes=2), hidden=16)
    losses = train_model(model, X, y, epochs=40, lr=1e-2, batch_size=64, seed=0)
    assert losses[-1] < losses[0]
    assert accuracy(model, Xt, yt) > 0.75
