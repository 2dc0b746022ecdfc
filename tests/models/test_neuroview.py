"""NeuroView (nv_rnn, nv_gru, nv_lstm): the head and its per-step weights.

Options, shapes, parameter counts, properties, relevance and training of these models are
tested with every recurrent classifier in ``test_baselines.py``.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnxbench.models import neuroview
from rnnxbench.models.neuroview import NVGRU, NVLSTM, NVRNN, NeuroView
from rnnxbench.registry import ARCHITECTURES
from rnnxbench.relevance import Composite, Epsilon, relevance_mode
from rnnxbench.tasks.base import InputSpec

DT = torch.float64
MODELS = {"nv_rnn": NVRNN, "nv_gru": NVGRU, "nv_lstm": NVLSTM}
#: (bidirectional, depth)
SHAPES = [(False, 1), (True, 1), (False, 2), (True, 3)]



def _spec(n_steps: int = 5) -> InputSpec:
    return InputSpec(n_steps=n_steps, step_dim=3, step_shape=(3,), n_classes=4)


def build(name: str, n_steps: int = 5, **options) -> NeuroView:
    torch.manual_seed(0)
    return MODELS[name](_spec(n_steps), **{"hidden": 6, **options}).to(DT).eval()


def test_registered():
    for name, cls in MODELS.items():
        assert ARCHITECTURES.get(name) is cls
        assert issubclass(cls, NeuroView) and cls.__module__ == neuroview.__name__
    assert NVRNN(_spec()).nonlinearity == "tanh"
    assert NVRNN(_spec(), nonlinearity="relu").rnn.nonlinearity == "relu"


@pytest.mark.parametrize("name", list(MODELS))
def test_head_is_one_linear_over_all_relu_states(name):
    model = build(name, bidirectional=True)
    n, T = 12, 5
    assert isinstance(model.relu, nn.ReLU)
    assert (model.classifier.in_features, model.classifier.out_features) == (n * T, 4)
    x = torch.randn(3, T, 3, dtype=DT)
    h = model.hidden_states(x)
    q = torch.relu(h)
    torch.testing.assert_close(model.features(x), q, rtol=0, atol=0)
    # Q = [q_1 | ... | q_T]: step t occupies columns t n .. (t + 1) n
    Q = torch.cat([q[:, t] for t in range(T)], dim=1)
    torch.testing.assert_close(model(x), model.classifier(Q), rtol=0, atol=1e-14)


@pytest.mark.parametrize("name", list(MODELS))
def test_fixed_length(name):
    model = build(name, n_steps=5)
    with pytest.raises(ValueError, match="fixed-length sequences of 5 steps"):
        model(torch.randn(2, 6, 3, dtype=DT))
    with pytest.raises(ValueError, match="fixed-length"):
        model.step_contributions(torch.randn(2, 4, 3, dtype=DT))


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize(("bidirectional", "depth"), SHAPES)
@pytest.mark.parametrize("n_steps", [1, 5, 12])
def test_step_contributions_sum_to_logit_minus_bias(name, bidirectional, depth, n_steps):
    model = build(name, n_steps, bidirectional=bidirectional, depth=depth)
    x = torch.randn(4, n_steps, 3, dtype=DT)
    contrib = model.step_contributions(x)
    assert contrib.shape == (4, 4, n_steps)
    with torch.no_grad():
        logits = model(x)
    torch.testing.assert_close(contrib.sum(dim=2), logits - model.classifier.bias,
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(MODELS))
def test_step_weights_layout(name):
    """``step_weights()[c, t]`` is the weight on ``q_t``: keeping only step t's weights
    leaves exactly step t's contribution."""
    model = build(name, bidirectional=True)
    W = model.step_weights()
    assert W.shape == (4, 5, 12) and not W.requires_grad
    torch.testing.assert_close(W[:, 2], model.classifier.weight[:, 24:36].detach())
    x = torch.randn(3, 5, 3, dtype=DT)
    contrib = model.step_contributions(x)
    with torch.no_grad():
        keep = torch.zeros_like(model.classifier.weight).view(4, 5, 12)
        keep[:, 3] = 1
        model.classifier.weight.mul_(keep.view(4, -1))
        only_step_3 = model(x) - model.classifier.bias
    torch.testing.assert_close(only_step_3, contrib[:, :, 3], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(MODELS))
def test_step_importance_and_class_similarity(name):
    model = build(name)
    importance = model.step_importance()
    assert importance.shape == (4, 5)
    torch.testing.assert_close(importance, model.step_weights().mean(dim=2))
    sim = model.class_similarity()
    assert sim.shape == (4, 4)
    torch.testing.assert_close(sim, sim.T)
    torch.testing.assert_close(torch.diagonal(sim), torch.ones(4, dtype=DT))
    w = model.classifier.weight.detach()
    torch.testing.assert_close(sim[0, 1], torch.cosine_similarity(w[0], w[1], dim=0))


@pytest.mark.parametrize("name", list(MODELS))
def test_epsilon_relevance_of_the_head_is_the_step_contribution(name):
    """With a bias-free classifier and epsilon -> 0, LRP-epsilon's relevance of ``q_t`` for
    class c is the model's own step contribution ``V_{c,t} . q_t``."""
    model = build(name)
    with torch.no_grad():
        model.classifier.bias.zero_()
    x = torch.randn(3, 5, 3, dtype=DT)
    q = model.features(x)
    contrib = model.step_contributions(x)
    target = torch.tensor([0, 2, 3])
    # relevance at the ReLU's output, read off by a hook on the classifier's input
    seen = {}

    def grab(module, args):
        args[0].retain_grad()
        seen["Q"] = args[0]

    handle = model.classifier.register_forward_pre_hook(grab)
    try:
        with relevance_mode(model, Composite(Epsilon(1e-12))), torch.enable_grad():
            logits = model(x.clone().requires_grad_(True))
            R0 = torch.zeros_like(logits).scatter(1, target[:, None],
                                                  logits.gather(1, target[:, None]))
            logits.backward(R0)
    finally:
        handle.remove()
    R_q = seen["Q"].grad.view(3, 5, -1)
    torch.testing.assert_close(R_q.sum(2), contrib[torch.arange(3), target], rtol=1e-9,
                               atol=1e-12)
    assert bool((R_q[q == 0] == 0).all())
