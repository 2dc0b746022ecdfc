"""Attention weights and NeuroView contributions read as relevance."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnxbench.explainers import Attention, NVWeights
from rnnxbench.explainers.base import unsupported_reason
from rnnxbench.models import Shallow
from rnnxbench.registry import ARCHITECTURES, EXPLAINERS, describe
from rnnxbench.relevance import UnsupportedModel
from rnnxbench.tasks.base import InputSpec

DT = torch.float64
SPEC = InputSpec(n_steps=5, step_dim=3, step_shape=(3,), n_classes=4)


def build(name: str, **options) -> nn.Module:
    torch.manual_seed(0)
    return ARCHITECTURES.get(name)(SPEC, **{"hidden": 6, **options}).to(DT).eval()


def data(n: int = 6, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, 3, generator=g, dtype=DT), torch.randint(0, 4, (n,), generator=g)


def test_registered_with_descriptions():
    assert EXPLAINERS.get("attention") is Attention
    assert EXPLAINERS.get("nv_weights") is NVWeights
    assert describe(Attention) and describe(NVWeights)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_attention_relevance_is_the_attention_weight_per_step(bidirectional):
    model = build("attn_gru", bidirectional=bidirectional)
    x, target = data()
    rel = Attention(model).attribute(x, target)
    assert rel.shape == x.shape and rel.dtype == x.dtype
    weights = model.attention(x)
    torch.testing.assert_close(rel.sum(2), weights, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(rel, weights[:, :, None].expand(-1, -1, 3) / 3)
    torch.testing.assert_close(rel.sum((1, 2)), torch.ones(len(x), dtype=DT))
    # the weights of the forward pass itself, whatever the class
    with torch.no_grad():
        model(x)
    torch.testing.assert_close(rel.sum(2), model.last_attention)
    assert torch.equal(Attention(model).attribute(x, 0), rel)


def test_attention_unsupported_without_attention_method():
    assert unsupported_reason(Attention, Shallow(SPEC, hidden=4)) is None  # raised at call
    x, target = data()
    with pytest.raises(UnsupportedModel, match=r"attention\(x\).*GRUClassifier"):
        Attention(build("gru")).attribute(x, target)

    class WithAttentionModule(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = nn.MultiheadAttention(3, 1, batch_first=True)

        def forward(self, x):
            return self.attention(x, x, x)[0].sum(1)

    with pytest.raises(UnsupportedModel, match="no attention"):
        Attention(WithAttentionModule()).attribute(x.float(), target)


@pytest.mark.parametrize("name", ["nv_rnn", "nv_gru", "nv_lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_nv_contributions_sum_to_logit_minus_bias(name, bidirectional):
    model = build(name, bidirectional=bidirectional, depth=2)
    x, target = data()
    rel = NVWeights(model).attribute(x, target)
    assert rel.shape == x.shape and rel.dtype == x.dtype
    with torch.no_grad():
        logits = model(x)
    bias = model.classifier.bias.detach()
    torch.testing.assert_close(rel.sum((1, 2)), (logits - bias).gather(1, target[:, None])[:, 0],
                               rtol=1e-12, atol=1e-12)
    # step t: the class's weights on that step times the step's ReLU state, by hand
    q = torch.relu(model.hidden_states(x)).detach()  # (N, T, n)
    w = model.classifier.weight.detach().view(4, 5, -1)[target]  # (N, T, n)
    torch.testing.assert_close(rel.sum(2), (w * q).sum(2), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(rel, rel.sum(2, keepdim=True).expand(-1, -1, 3) / 3)


def test_nv_class_level_is_mean_step_weight_of_the_class():
    model = build("nv_gru")
    x, target = data()
    rel = NVWeights(model, level="class").attribute(x, target)
    weights = model.classifier.weight.detach().view(4, 5, 6)
    torch.testing.assert_close(rel.sum(2), weights.mean(2)[target], rtol=1e-12, atol=1e-14)
    other, _ = data(seed=2)
    assert torch.equal(NVWeights(model, level="class").attribute(other, target), rel)
    sample_level = NVWeights(model).attribute(x, target)
    assert not torch.allclose(sample_level, rel)
    assert torch.equal(NVWeights(model, level="class").attribute(x, 2)[0],
                       NVWeights(model, level="class").attribute(x, 2)[-1])


def test_nv_weights_unsupported_on_other_models_and_bad_level():
    x, target = data()
    for level in ("sample", "class"):
        with pytest.raises(UnsupportedModel, match="NeuroView.*AttentionGRU"):
            NVWeights(build("attn_gru"), level=level).attribute(x, target)
    with pytest.raises(ValueError, match="level"):
        NVWeights(build("nv_gru"), level="step")


def test_side_effects():
    for explainer, name in ((Attention, "attn_gru"), (NVWeights, "nv_lstm")):
        model = build(name).train()
        x, target = data()
        x.requires_grad_(True)
        rel = explainer(model).attribute(x, target)
        assert not model.training and not rel.requires_grad
        assert x.grad is None and all(p.grad is None for p in model.parameters())
