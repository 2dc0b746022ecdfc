"""Stationary dropout (thesis §0): one (batch, units) mask per sequence, reused every step."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnxbench.models.dropout import (
    Dropout,
    StationaryDropout,
    check_dropout,
    make_dropout,
    reset_stationary,
)


def _drop(p: float = 0.5) -> StationaryDropout:
    return StationaryDropout(p).train()


def test_same_mask_at_every_step_of_a_sequence():
    torch.manual_seed(0)
    drop = _drop()
    steps = [drop(torch.randn(8, 20) + 5.0) for _ in range(4)]
    masks = [s != 0 for s in steps]
    assert all(torch.equal(masks[0], m) for m in masks[1:])
    assert 0 < masks[0].sum() < masks[0].numel()  # something dropped, something kept


def test_inverted_scaling_and_mask_values():
    torch.manual_seed(0)
    drop = _drop(0.2)
    out = drop(torch.ones(50, 40))
    assert set(out.unique().tolist()) <= {0.0, 1.25}
    assert out.mean().item() == pytest.approx(1.0, abs=0.05)


def test_new_mask_after_reset_and_per_sample():
    torch.manual_seed(0)
    drop = _drop()
    x = torch.ones(16, 32)
    first = drop(x)
    assert not torch.equal(first[0], first[1])  # each sample of the batch has its own mask
    drop.reset()
    assert not torch.equal(first, drop(x))  # a new sequence gets a new mask


def test_whole_sequence_at_once_equals_per_step():
    torch.manual_seed(0)
    drop = _drop()
    x = torch.randn(5, 7, 12)
    batched = drop(x)  # (N, T, U): the mask is broadcast over T
    per_step = torch.stack([drop(x[:, t]) for t in range(7)], 1)
    assert torch.equal(batched, per_step)
    assert torch.equal(batched[:, 0] == 0, batched[:, 6] == 0)


def test_identity_in_eval_and_at_p0():
    x = torch.randn(4, 6)
    drop = _drop().eval()
    assert drop(x) is x
    assert torch.equal(StationaryDropout(0.0).train()(x), x)


def test_batch_size_change_draws_a_new_mask():
    drop = _drop()
    drop(torch.ones(4, 6))
    assert drop(torch.ones(3, 6)).shape == (3, 6)
    assert drop.mask.shape == (3, 6)


def test_make_dropout_and_reset_stationary():
    ordinary = make_dropout(0.3)
    assert type(ordinary) is Dropout and isinstance(ordinary, nn.Dropout)
    sd = make_dropout(0.3, "stationary")
    assert isinstance(sd, StationaryDropout) and isinstance(sd, nn.Dropout) and sd.p == 0.3
    net = nn.Sequential(nn.Linear(3, 3), sd).train()
    net(torch.randn(2, 3))
    assert sd.mask is not None
    reset_stationary(net)
    assert sd.mask is None
    with pytest.raises(ValueError):
        make_dropout(0.2, "variational")
    with pytest.raises(ValueError):
        check_dropout(1.0)


def test_ordinary_dropout_draws_a_fresh_inverted_mask_per_call():
    torch.manual_seed(0)
    drop = Dropout(0.25).train()
    x = torch.ones(400, 50)
    a, b = drop(x), drop(x)
    assert torch.equal(a.unique(), torch.tensor([0.0, 1 / 0.75]))
    assert not torch.equal(a, b)
    assert abs(float((a == 0).float().mean()) - 0.25) < 0.02  # 20,000 draws
    assert drop.eval()(x) is x and Dropout(0.0).train()(x) is x
