"""Shallow and Deep (spec §1) and the thesis loss."""

from __future__ import annotations

import math

import pytest
import torch

from rnnxbench.models import Deep, Shallow, thesis_accuracy, thesis_loss
from rnnxbench.models.layers import ThesisLinear
from rnnxbench.registry import ARCHITECTURES
from rnnxbench.tasks.base import InputSpec

MAJ = InputSpec(n_steps=12, step_dim=196, step_shape=(1, 28, 7), n_classes=10)
SMALL = InputSpec(n_steps=4, step_dim=6, step_shape=(6,), n_classes=3)
SMALL_SIZES = {
    "shallow": {"hidden": 16},
    "deep": {"in_units": 12, "cell_units": 10, "rec_units": 8, "head_units": 6},
}
MODELS = {"shallow": Shallow, "deep": Deep}


def small(name: str, **options) -> Shallow | Deep:
    torch.manual_seed(0)
    return MODELS[name](SMALL, **{**SMALL_SIZES[name], **options})


def test_registered():
    assert ARCHITECTURES.get("shallow") is Shallow
    assert ARCHITECTURES.get("deep") is Deep


@pytest.mark.parametrize(("name", "step_dim", "count"), [
    ("shallow", 196, 184_330), ("deep", 196, 153_578),   # MAJ, T = 12
    ("shallow", 112, 162_826), ("deep", 112, 132_074),   # experiment 1, 28x4 steps
])
def test_parameter_counts_match_thesis(name, step_dim, count):
    spec = InputSpec(n_steps=7, step_dim=step_dim, step_shape=(step_dim,), n_classes=10)
    assert MODELS[name](spec).n_parameters() == count


@pytest.mark.parametrize("name", ["shallow", "deep"])
def test_bias_none_has_no_bias_parameters(name):
    model = MODELS[name](MAJ, bias="none")
    assert all(n.endswith("weight") for n, _ in model.named_parameters())
    linears = [m for m in model.modules() if isinstance(m, ThesisLinear)]
    assert linears and all(m.effective_bias is None for m in linears)
    assert model.instance_properties() == {"relu", "bias_free"}
    assert MODELS[name](MAJ).instance_properties() == {"relu"}
    assert "relu" in MODELS[name].properties


@pytest.mark.parametrize("name", ["shallow", "deep"])
def test_softplus_bias_initially_minus_001(name):
    for m in MODELS[name](MAJ).modules():
        if isinstance(m, ThesisLinear):
            assert torch.allclose(m.effective_bias, torch.tensor(-0.01), atol=1e-7)


@pytest.mark.parametrize("name", ["shallow", "deep"])
def test_bad_options_rejected(name):
    with pytest.raises(ValueError):
        MODELS[name](SMALL, bias="plain")
    with pytest.raises(ValueError):
        MODELS[name](SMALL, dropout=1.5)
    with pytest.raises(TypeError):
        MODELS[name](SMALL, no_such_option=3)


@pytest.mark.parametrize("name", ["shallow", "deep"])
@pytest.mark.parametrize("n_steps", [1, 2, 5, 12])
def test_output_shapes_any_length(name, n_steps):
    model = small(name).eval()
    assert model(torch.randn(3, n_steps, 6)).shape == (3, 3)
    logits, trace = model.forward_steps(torch.randn(3, n_steps, 6))
    assert logits.shape == (3, 3)
    rec_in, rec_out = trace["rec_layer"]
    assert rec_in.shape[:2] == rec_out.shape[:2] == (3, n_steps - 1)


@pytest.mark.parametrize("name", ["shallow", "deep"])
def test_dropout_modules_and_relu_modules(name):
    model = small(name, dropout=0.3)
    drops = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert drops and all(d.p == 0.3 for d in drops)
    assert len(drops) == (1 if name == "shallow" else 4)
    n_relus = sum(isinstance(m, torch.nn.ReLU) for m in model.modules())
    assert n_relus == (2 if name == "shallow" else 4)


@pytest.mark.parametrize("name", ["shallow", "deep"])
def test_prediction_depends_on_every_step(name):
    model = small(name).eval()
    x = torch.randn(16, 4, 6, requires_grad=True)
    (grad,) = torch.autograd.grad(model(x).sum(), x)
    assert (grad.abs().sum(dim=(0, 2)) > 0).all()


def test_shallow_trace_is_the_computation():
    model = small("shallow").eval()
    x = torch.randn(5, 4, 6)
    logits, trace = model.forward_steps(x)
    assert torch.equal(logits, model(x))
    xr, ha = trace["in_layer"]
    rec_in, r = trace["rec_layer"]
    assert torch.equal(xr[:, :, :6], x)
    assert torch.equal(xr[:, 0, 6:], torch.zeros(5, 16))            # r_0 = 0
    assert torch.equal(xr[:, 1:, 6:], r)                            # r_{t-1} feeds step t
    assert torch.equal(rec_in, ha[:, :-1])                          # eval: no dropout
    assert torch.allclose(ha, torch.relu(model.in_layer(xr)))
    assert torch.allclose(r, torch.relu(model.rec_layer(rec_in)))
    out_in, out = trace["out_layer"]
    assert torch.equal(out_in, ha[:, -1]) and torch.equal(out, logits)


def test_deep_trace_is_the_computation():
    model = small("deep").eval()
    x = torch.randn(5, 4, 6)
    logits, trace = model.forward_steps(x)
    assert torch.equal(logits, model(x))
    x_in, a = trace["in_layer"]
    xr, ha = trace["cell_layer"]
    rec_in, r = trace["rec_layer"]
    head_in, o1 = trace["head_layer"]
    assert torch.equal(x_in, x)
    assert torch.equal(xr[:, :, :12], a)
    assert torch.equal(xr[:, 0, 12:], torch.zeros(5, 8))
    assert torch.equal(xr[:, 1:, 12:], r)
    assert torch.equal(rec_in, ha[:, :-1])
    assert torch.equal(head_in, ha[:, -1])
    assert torch.allclose(o1, torch.relu(model.head_layer(head_in)))
    assert torch.equal(trace["out_layer"][0], o1)
    assert torch.equal(trace["out_layer"][1], logits)


def test_deep_input_layer_is_applied_per_step():
    model = small("deep").eval()
    x = torch.randn(5, 4, 6)
    _, trace = model.forward_steps(x)
    a = trace["in_layer"][1]
    for t in range(4):  # each step alone through the input layer gives the same a_t
        assert torch.allclose(a[:, t], torch.relu(model.in_layer(x[:, t])), atol=1e-6)
    x2 = x.clone()
    x2[:, 2] += 1.0
    _, trace2 = model.forward_steps(x2)
    a2, ha, ha2 = trace2["in_layer"][1], trace["cell_layer"][1], trace2["cell_layer"][1]
    changed = (a2 - a).abs().sum(dim=(0, 2)) > 0
    assert changed.tolist() == [False, False, True, False]
    assert torch.equal(ha[:, :2], ha2[:, :2])                       # steps < t untouched
    assert not torch.equal(ha[:, 2], ha2[:, 2])


def test_shallow_changes_only_from_the_perturbed_step_on():
    model = small("shallow").eval()
    x = torch.randn(5, 4, 6)
    x2 = x.clone()
    x2[:, 1] += 1.0
    ha, ha2 = model.forward_steps(x)[1]["in_layer"][1], model.forward_steps(x2)[1]["in_layer"][1]
    assert torch.equal(ha[:, :1], ha2[:, :1])
    assert not torch.equal(ha[:, 1], ha2[:, 1])


def test_thesis_loss_by_hand():
    logits = torch.tensor([[1.0, 2.0], [-1.0, -3.0]])
    y = torch.tensor([1, 0])
    # softmax over [l0, l1, 0]
    l0 = -math.log(math.exp(2) / (math.exp(1) + math.exp(2) + 1))
    l1 = -math.log(math.exp(-1) / (math.exp(-1) + math.exp(-3) + 1))
    assert thesis_loss(logits, y).item() == pytest.approx((l0 + l1) / 2, rel=1e-6)
    per = thesis_loss(logits, y, reduction="none")
    assert per.tolist() == pytest.approx([l0, l1], rel=1e-6)


def test_thesis_accuracy_ignores_zero_logit():
    logits = torch.tensor([[-1.0, -2.0], [0.5, 0.1], [0.0, 3.0]])  # zero logit largest in row 0
    assert thesis_accuracy(logits, torch.tensor([0, 0, 0])).item() == pytest.approx(2 / 3)


@pytest.mark.parametrize("name", ["shallow", "deep"])
def test_training_reduces_loss(name):
    """Class = which of the 3 feature groups has the largest sum over all steps."""
    before, after, acc = _train(name)
    assert after < 0.7 * before
    assert acc > 0.6


def _train(name: str) -> tuple[float, float, float]:
    torch.manual_seed(1)
    x = torch.randn(256, 4, 6)
    y = x.reshape(256, 4, 3, 2).sum(dim=(1, 3)).argmax(dim=1)
    model = small(name)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.eval()
    with torch.no_grad():
        before = thesis_loss(model(x), y).item()
    model.train()
    for step in range(300):
        idx = torch.arange(step * 32, step * 32 + 32) % 256
        opt.zero_grad()
        thesis_loss(model(x[idx]), y[idx]).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        after = thesis_loss(model(x), y).item()
        acc = thesis_accuracy(model(x), y).item()
    return before, after, acc
