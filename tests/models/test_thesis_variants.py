"""The thesis' variants of Deep and the R-LSTM family (spec §1): DeepV2, Deep-SD, ConvDeep,
Conv+Deep, R-LSTM, R-LSTM-SD, ConvR-LSTM(-SD), Conv+R-LSTM-SD: structure, stationary masks,
training and relevance conservation.

Shallow and Deep are in test_thesis.py, R-LSTM specifics (the cell, thesis parameter counts)
in test_rlstm.py, the conv stacks and the TF-SAME average pool in test_conv.py.
"""

from __future__ import annotations

import pytest
import torch

from rnnxbench.explainers.propagation import LRP, DeepTaylor, LRPEpsilon
from rnnxbench.models import (
    RLSTM,
    RLSTMSD,
    ConvDeep,
    ConvPlusDeep,
    ConvPlusRLSTMSD,
    ConvRLSTM,
    ConvRLSTMSD,
    Deep,
    DeepSD,
    DeepV2,
    Shallow,
    StationaryDropout,
    thesis_loss,
    thesis_parameter_count,
)
from rnnxbench.registry import ARCHITECTURES
from rnnxbench.relevance import relevance_mode
from rnnxbench.relevance.propagate import start_relevance
from rnnxbench.tasks.base import InputSpec

MAJ = InputSpec(n_steps=12, step_dim=196, step_shape=(1, 28, 7), n_classes=10)
CLASSES = {"deep_v2": DeepV2, "deep_sd": DeepSD, "convdeep": ConvDeep,
           "conv_plus_deep": ConvPlusDeep, "rlstm": RLSTM, "rlstm_sd": RLSTMSD,
           "convrlstm": ConvRLSTM, "convrlstm_sd": ConvRLSTMSD,
           "conv_plus_rlstm_sd": ConvPlusRLSTMSD}
NAMES = list(CLASSES)
CONV = {"convdeep", "conv_plus_deep", "convrlstm", "convrlstm_sd", "conv_plus_rlstm_sd"}
GATED = {"rlstm", "rlstm_sd", "convrlstm", "convrlstm_sd", "conv_plus_rlstm_sd"}



def _sizes(deep: dict, rlstm: dict, pre_units: int, filters: tuple[int, int]) -> dict:
    """Size options of every architecture from Deep's and R-LSTM's."""
    conv = {"filters": filters}
    return {"deep_v2": {"pre_units": pre_units, **deep}, "deep_sd": deep,
            "convdeep": {**deep, **conv}, "conv_plus_deep": {**deep, **conv},
            "rlstm": rlstm, "rlstm_sd": rlstm, "convrlstm": {**rlstm, **conv},
            "convrlstm_sd": {**rlstm, **conv}, "conv_plus_rlstm_sd": {**rlstm, **conv}}


SMALL_SIZES = {**_sizes({"in_units": 12, "cell_units": 10, "rec_units": 8, "head_units": 6},
                        {"in_units": 12, "units": 8}, 10, (4, 6)), "shallow": {"hidden": 16},
               "deep": {"in_units": 12, "cell_units": 10, "rec_units": 8, "head_units": 6}}
#: tiny image steps (4 rows x 3 columns) for fast training tests
SMALL = InputSpec(n_steps=4, step_dim=12, step_shape=(1, 4, 3), n_classes=3)


def small(name: str, spec: InputSpec = SMALL, **options):
    """A small model of ``name`` (one of :data:`CLASSES`, or Shallow / Deep), seeded."""
    torch.manual_seed(0)
    cls = {"shallow": Shallow, "deep": Deep, **CLASSES}[name]
    return cls(spec, **{**SMALL_SIZES[name], **options})


# ------------------------------------------------------------------------- structure
def test_registered_names():
    for name, cls in CLASSES.items():
        assert ARCHITECTURES.get(name) is cls


@pytest.mark.parametrize(("name", "count", "thesis_count"), [
    ("deep_v2", 161_386, 161_386), ("convdeep", 151_802, 151_802),
    ("deep_sd", 153_578, 153_578), ("conv_plus_deep", 175_418, 175_418),
    ("rlstm", 145_914, 145_701), ("rlstm_sd", 145_914, 145_701),
    ("convrlstm", 152_410, 152_125), ("convrlstm_sd", 152_410, 152_125),
    ("conv_plus_rlstm_sd", 176_026, 175_741),
])
def test_parameter_counts(name, count, thesis_count):
    """True counts, and the thesis' (each R-LSTM gate bias vector counted as 1)."""
    model = CLASSES[name](MAJ)
    assert model.n_parameters() == count
    assert thesis_parameter_count(model) == thesis_count


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n_steps", [1, 12])
def test_output_shapes(name, n_steps):
    torch.manual_seed(0)
    model = CLASSES[name](MAJ).eval()
    with torch.no_grad():
        assert model(torch.rand(2, n_steps, 196) * 2 - 1).shape == (2, 10)


@pytest.mark.parametrize("name", ["shallow", "deep", *NAMES])
def test_eval_deterministic_train_stochastic(name):
    """Dropout (stationary or not) only in train mode, and none at dropout 0."""
    model = small(name)
    x = torch.randn(8, 4, 12)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))
    model = small(name, dropout=0.0).train()
    assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("name", NAMES)
def test_options_and_properties(name):
    cls = CLASSES[name]
    assert "relu" in cls.properties
    assert ("gated" in cls.properties) == (name in GATED)
    props = small(name, bias="none").instance_properties()
    # gates keep their ordinary biases: R-LSTM types are never bias-free
    assert ("bias_free" in props) == (name not in GATED)
    with pytest.raises(ValueError):
        small(name, bias="plain")
    with pytest.raises(ValueError):
        small(name, dropout_mode="sometimes")
    with pytest.raises(TypeError):
        small(name, no_such_option=1)
    if name in CONV:
        with pytest.raises(ValueError):
            small(name, filters=(0, 4))


@pytest.mark.parametrize("name", NAMES)
def test_accepts_and_roles(name):
    cls = CLASSES[name]
    flat = InputSpec(n_steps=3, step_dim=196, step_shape=(196,), n_classes=10)
    if name in CONV:
        assert cls.accepts == {"image_steps"}
        assert "image" in cls.check_input(flat)
    else:
        assert cls.check_input(flat) is None
    assert cls.check_input(MAJ) is None
    model = small(name)
    roles = model.relevance_roles()
    modules = dict(model.named_modules())
    assert roles and all(r in modules for r in roles)
    if name.startswith("conv_plus"):
        assert roles == {"convs.conv1": ("mixed", 1)}  # [x_t (1 channel) | conv1_{t-1}]
    elif name in CONV:
        assert roles == {"convs.conv1": ("input", 0)}
    else:
        assert roles == {"in_layer": ("input", 0)}


# ------------------------------------------------------------------- stationary masks
SD = {"deep_sd": ("in_drop", "cell_drop", "rec_drop"),
      "rlstm_sd": ("in_drop", "cell.h_drop"),
      "convrlstm_sd": ("in_drop", "cell.h_drop"),
      "conv_plus_rlstm_sd": ("in_drop", "cell.h_drop")}


def _dropout_calls(model, names, x):
    """Every call's (input, output) of the named modules during ``model(x)``."""
    modules = dict(model.named_modules())
    calls: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {n: [] for n in names}
    handles = [modules[n].register_forward_hook(
        lambda m, a, out, n=n: calls[n].append((a[0].detach(), out.detach()))) for n in names]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return calls


@pytest.mark.parametrize("name", list(SD))
def test_stationary_masks_reused_within_a_sequence(name):
    model = small(name, dropout=0.5).train()
    modules = dict(model.named_modules())
    assert all(isinstance(modules[n], StationaryDropout) for n in SD[name])
    x = torch.randn(16, 4, 12)
    calls = _dropout_calls(model, SD[name], x)
    masks = {n: modules[n].mask.clone() for n in SD[name]}
    for n in SD[name]:
        assert len(calls[n]) >= (1 if n == "in_drop" else 3)
        for inp, out in calls[n]:  # every step (or all steps at once) used the one mask
            mask = masks[n][:, None] if inp.dim() == 3 else masks[n]
            assert torch.equal(out, inp * mask)
    assert set(masks["in_drop"].unique().tolist()) == {0.0, 2.0}
    _dropout_calls(model, SD[name], x)
    assert all(not torch.equal(masks[n], modules[n].mask) for n in SD[name])  # new batch
    if name == "deep_sd":  # the head is applied once: its dropout stays ordinary
        assert not isinstance(model.head_drop, StationaryDropout)


def test_ordinary_dropout_draws_a_mask_per_step():
    model = small("convdeep", dropout=0.5).train()
    calls = _dropout_calls(model, ["cell_drop"], torch.randn(16, 4, 12))["cell_drop"]
    # where the input is non-zero, the output is zero iff the unit was dropped at that step
    dropped = [(out == 0) & (inp != 0) for inp, out in calls]
    live = [inp != 0 for inp, _ in calls]
    both = live[0] & live[1]
    assert not torch.equal(dropped[0] & both, dropped[1] & both)


def test_deep_v2_trace():
    model = small("deep_v2", spec=InputSpec(n_steps=4, step_dim=6, step_shape=(6,),
                                            n_classes=3)).eval()
    x = torch.randn(5, 4, 6)
    logits, trace = model.forward_steps(x)
    assert torch.equal(logits, model(x))
    assert torch.equal(trace["in_layer"][0], x)
    assert torch.equal(trace["in2_layer"][0], trace["in_layer"][1])  # eval: no dropout
    assert torch.equal(trace["cell_layer"][0][:, :, :12], trace["in2_layer"][1])
    assert trace["rec_layer"][0].shape == (5, 3, 10)


# ------------------------------------------------------------------------- training
@pytest.mark.parametrize("name", NAMES)
def test_training_reduces_loss(name):
    """Class = which of the 3 image columns has the largest sum over all steps."""
    torch.manual_seed(1)
    x = torch.randn(256, 4, 12)
    y = x.reshape(256, 4, 4, 3).sum(dim=(1, 2)).argmax(dim=1)
    model = small(name)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    with torch.no_grad():
        before = thesis_loss(model.eval()(x), y).item()
    model.train()
    for step in range(200):
        idx = torch.arange(step * 32, step * 32 + 32) % 256
        opt.zero_grad()
        thesis_loss(model(x[idx]), y[idx]).backward()
        opt.step()
    with torch.no_grad():
        after = thesis_loss(model.eval()(x), y).item()
    assert after < 0.7 * before


# ---------------------------------------------------------------------- relevance
DT = torch.float64
N = 6
REL_SIZES = _sizes({"in_units": 24, "cell_units": 20, "rec_units": 16, "head_units": 12},
                   {"in_units": 24, "units": 16}, 20, (8, 8))
METHODS = {
    "dtd": lambda m: DeepTaylor(m),
    "lrp_a1b0": lambda m: LRP(m, alpha=1.0, beta=0.0),
    "lrp_eps_bf1": lambda m: LRPEpsilon(m, bias_factor=1.0),
}


def _relevance(explainer, x, target, monkeypatch):
    """Input relevance, relevance of the zero initial states (every ``new_zeros`` tensor
    made a leaf), logits: what ``explainer.attribute`` computes, plus the states' share."""
    model = explainer.model
    states: list[torch.Tensor] = []
    make = torch.Tensor.new_zeros

    def tracked(self, *args, **kwargs):
        t = make(self, *args, **kwargs).requires_grad_(True)
        states.append(t)
        return t.clone()

    xg = x.clone().requires_grad_(True)
    with torch.enable_grad(), relevance_mode(model, explainer.composite(explainer.bounds),
                                             roles=model.relevance_roles(), model_input=xg):
        with monkeypatch.context() as mp:
            mp.setattr(torch.Tensor, "new_zeros", tracked)
            logits = model(xg)
        R0 = start_relevance(logits, target, explainer.start)
        grads = torch.autograd.grad(logits, [xg, *states], R0, allow_unused=True)
    R_states = sum(g.reshape(N, -1).sum(1) for g in grads[1:] if g is not None)
    return grads[0], torch.as_tensor(R_states, dtype=DT), logits.detach()


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("name", NAMES)
def test_relevance_conservation(name, method, monkeypatch):
    """float64, bias="none", T = 3, random weights and pixels in [-1, 1]; each explainer
    starts from its default score (dtd, lrp: max(0, target logit); lrp_eps: the logit).

    dtd and lrp (alpha 1, beta 0): the input relevance sums to max(0, target logit) up to
    the rules' stabilisers (1e-9 in z+ / z-beta / mixed / pooling denominators, 1e-10 in the
    R-LSTM cell split), < 1e-6 relative; the zero initial states get exactly nothing.
    lrp_eps with bias_factor=1: input *plus initial-state* relevance equals the score to
    1e-10 relative. The input alone is short by the share bias_factor spreads onto the zero
    initial states (r_0, h_0, c_0, the Conv+ maps at t = 0) with the stabiliser shares
    (eps = 1e-3): measured up to a few percent for small target scores.
    """
    torch.manual_seed(0)
    model = CLASSES[name](MAJ, bias="none", **REL_SIZES[name]).to(DT).eval()
    g = torch.Generator().manual_seed(3)
    x = torch.rand(N, 3, 196, generator=g, dtype=DT) * 2 - 1
    with torch.no_grad():
        logits = model(x)
    target = torch.randint(0, 10, (N,), generator=g)
    target[: N // 2] = logits[: N // 2].argmax(1)
    explainer = METHODS[method](model)
    R_x, R_states, logits = _relevance(explainer, x, target, monkeypatch)
    torch.testing.assert_close(explainer.attribute(x, target), R_x, rtol=1e-12, atol=1e-14)
    score = logits.gather(1, target[:, None])[:, 0]
    if explainer.start == "positive":  # dtd, lrp: max(0, logit); lrp_eps: the logit
        score = score.clamp(min=0)
    explained = score != 0
    assert (score > 0).sum() >= N // 2
    R_in = R_x.reshape(N, -1).sum(1)
    assert (R_in[~explained] == 0).all()  # a non-positive logit is explained by nothing
    if method == "lrp_eps_bf1":
        total = R_in + R_states
        assert ((total - score).abs() <= 1e-10 * score.abs()).all()
        assert ((R_in - score).abs() <= 0.1 * score.abs()).all()
    else:
        assert ((R_in - score).abs() <= 1e-6 * score).all()
        assert (R_states == 0).all()
