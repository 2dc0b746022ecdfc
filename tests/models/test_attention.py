"""The attention RNN (attn_gru): additive attention weights and their relevance flow.

Options, shapes, parameter counts, properties, relevance conservation and training are
tested with every recurrent classifier in ``test_baselines.py``.
"""

from __future__ import annotations

import pickle

import pytest
import torch

from rnnxbench.models import attention
from rnnxbench.models.attention import AdditiveAttention, AttentionGRU
from rnnxbench.registry import ARCHITECTURES
from rnnxbench.relevance import Composite, Epsilon, relevance_mode
from rnnxbench.relevance.rules import stabilize
from rnnxbench.tasks.base import InputSpec

DT = torch.float64



def _spec(n_steps: int = 5) -> InputSpec:
    return InputSpec(n_steps=n_steps, step_dim=3, step_shape=(3,), n_classes=4)


def build(n_steps: int = 5, **options) -> AttentionGRU:
    torch.manual_seed(0)
    return AttentionGRU(_spec(n_steps), **{"hidden": 6, **options}).to(DT).eval()


def test_registered_and_options():
    assert ARCHITECTURES.get("attn_gru") is AttentionGRU
    assert AttentionGRU.__module__ == attention.__name__
    model = AttentionGRU(_spec())
    assert model.attention_size == 64 and model.options["attention_size"] is None
    assert build(bidirectional=True).attention_size == 12
    assert build(attention_size=5).pool.proj.out_features == 5
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="attention_size must be a positive integer"):
            build(attention_size=bad)


@pytest.mark.parametrize(("bidirectional", "depth"), [(False, 1), (True, 2)])
@pytest.mark.parametrize("n_steps", [1, 5, 12])
def test_attention_weights_and_context(n_steps, bidirectional, depth):
    model = build(n_steps, bidirectional=bidirectional, depth=depth)
    assert model.last_attention is None
    x = torch.randn(4, n_steps, 3, dtype=DT)
    logits = model(x)
    a = model.last_attention
    assert a.shape == (4, n_steps) and not a.requires_grad
    torch.testing.assert_close(a.sum(1), torch.ones(4, dtype=DT))
    assert bool((a > 0).all())
    torch.testing.assert_close(model.attention(x), a, rtol=0, atol=0)
    # a = softmax(v^T tanh(W h_t + b)), context = sum_t a_t h_t, logits = V context + b
    h = model.hidden_states(x)
    pool = model.pool
    e = torch.tanh(h @ pool.proj.weight.T + pool.proj.bias) @ pool.score.weight[0]
    torch.testing.assert_close(a, torch.softmax(e, dim=1), rtol=1e-12, atol=1e-14)
    context = (a[..., None] * h).sum(1)
    torch.testing.assert_close(logits, model.classifier(context), rtol=1e-12, atol=1e-14)
    assert "last_attention" not in str(list(model.state_dict()))


def test_attention_follows_the_states():
    """Two samples with the same states get the same weights; the weights of the last
    forward are those of its inputs."""
    model = build()
    x = torch.randn(2, 5, 3, dtype=DT)
    model(torch.cat([x, x]))
    torch.testing.assert_close(model.last_attention[:2], model.last_attention[2:])
    model(x[:1])
    assert model.last_attention.shape == (1, 5)


def test_model_pickles_after_forward():
    model = build()
    x = torch.randn(2, 5, 3, dtype=DT)
    expected = model(x)
    clone = pickle.loads(pickle.dumps(model))
    torch.testing.assert_close(clone(x), expected, rtol=0, atol=0)


@pytest.mark.parametrize("bias_factor", [0.0, 1.0])
def test_relevance_splits_in_proportion_to_a_h(bias_factor):
    """Attention weights are constant gates: R(h_t) = a_t h_t / (c + eps sign c) R(c) (plus,
    with bias factor 1, the stabiliser's share spread evenly, which conserves)."""
    torch.manual_seed(1)
    pool = AdditiveAttention(4, 3).to(DT)
    h = torch.randn(2, 6, 4, dtype=DT)
    R = torch.randn(2, 4, dtype=DT)
    eps = 1e-2
    comp = Composite(Epsilon(eps), gate_epsilon=eps, gate_bias_factor=bias_factor)
    hg = h.clone().requires_grad_(True)
    with relevance_mode(pool, comp), torch.enable_grad():
        context, a = pool(hg)
        (R_h,) = torch.autograd.grad(context, hg, R)
    c_ref, a_ref = pool(h)
    torch.testing.assert_close(context, c_ref, rtol=0, atol=1e-15)
    torch.testing.assert_close(a, a_ref, rtol=0, atol=0)
    zs = stabilize(c_ref, eps)
    expected = a_ref[..., None] * h * (R / zs)[:, None]
    if bias_factor:
        share = ((zs - c_ref) * R / zs).sum(1) / (6 * 4)
        expected = expected + share[:, None, None]
        torch.testing.assert_close(R_h.sum(dim=(1, 2)), R.sum(1), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(R_h, expected, rtol=1e-12, atol=1e-14)


def test_context_relevance_goes_to_attended_states():
    """Explaining the context values themselves (R(c) = c) gives each state ``a_t h_t``."""
    pool = AdditiveAttention(3, 3).to(DT)
    h = torch.rand(1, 4, 3, dtype=DT) + 0.5
    hg = h.clone().requires_grad_(True)
    with relevance_mode(pool, Composite(Epsilon(1e-9), gate_epsilon=1e-9)), \
            torch.enable_grad():
        context, a = pool(hg)
        (R_h,) = torch.autograd.grad(context, hg, context.detach())
    per_step = R_h.sum(2)[0]
    expected = (a[0, :, None] * h[0]).sum(1)
    torch.testing.assert_close(per_step, expected, rtol=1e-6, atol=1e-12)
