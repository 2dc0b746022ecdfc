"""Training (rnnxbench/engine/train.py): learning-rate schedules and the per-epoch callback."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnxbench.engine.train import accuracy, lr_scheduler, train_model
from rnnxbench.models import Deep
from rnnxbench.profile import SCHEDULES, parse_profile
from rnnxbench.tasks.base import InputSpec

SPEC = InputSpec(n_steps=4, step_dim=6, step_shape=(6,), n_classes=3)


def data(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rs = np.random.RandomState(0)
    return rs.uniform(-1, 1, (n, 4, 6)).astype(np.float32), np.arange(n) % 3


def small_deep() -> Deep:
    torch.manual_seed(3)
    return Deep(SPEC, in_units=8, cell_units=6, rec_units=5, head_units=4)


def same_parameters(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_constant_schedule_and_the_callback_leave_training_bit_identical(reference_training):
    """Against the loop as it was before schedules existed (Adam, constant lr)."""
    X, y = data()
    ref = small_deep()
    with torch.random.fork_rng():
        ref_losses = reference_training(ref, X, y, epochs=3, lr=1e-2, batch_size=16, seed=5)
    seen = []

    def on_epoch(epoch: int, model: torch.nn.Module) -> None:
        assert not model.training
        seen.append((epoch, accuracy(model, X, y)))

    for kwargs in ({}, {"schedule": "constant"}, {"on_epoch": on_epoch}):
        model = small_deep()
        losses = train_model(model, X, y, epochs=3, lr=1e-2, batch_size=16, seed=5, **kwargs)
        assert losses == ref_losses and same_parameters(model, ref)
        assert not model.training
    assert [e for e, _ in seen] == [1, 2, 3]
    assert seen[-1][1] == accuracy(ref, X, y)


def learning_rates(schedule: str, lr: float, steps: int) -> list[float]:
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = lr_scheduler(opt, schedule, lr, steps)
    rates = []
    for _ in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
    return rates


def test_schedules_set_the_learning_rate_per_batch():
    assert learning_rates("constant", 3e-3, 50) == [3e-3] * 50
    one = learning_rates("onecycle", 3e-3, 100)
    assert one[0] == pytest.approx(3e-3 / 25)
    assert max(one) == pytest.approx(3e-3) and int(np.argmax(one)) in range(28, 32)
    assert one[-1] < 3e-3 / 1000
    cos = learning_rates("cosine", 3e-3, 100)
    assert cos[0] == 3e-3 and cos[-1] < 3e-3 / 1000
    assert all(a >= b for a, b in zip(cos, cos[1:], strict=False))
    with pytest.raises(ValueError, match="schedule must be one of"):
        learning_rates("linear", 1e-3, 10)


def test_a_schedule_changes_training_and_is_reproducible():
    X, y = data()
    runs = {}
    for schedule in SCHEDULES:
        a, b = small_deep(), small_deep()
        la = train_model(a, X, y, epochs=2, lr=1e-2, batch_size=16, seed=1, schedule=schedule)
        lb = train_model(b, X, y, epochs=2, lr=1e-2, batch_size=16, seed=1, schedule=schedule)
        assert la == lb and same_parameters(a, b)
        runs[schedule] = la
    assert len({tuple(v) for v in runs.values()}) == len(SCHEDULES)


def test_schedule_is_a_training_key_of_profiles():
    prof = parse_profile({"schedule": "cosine",
                          "training": {"convdeep": {"schedule": "onecycle", "lr": 3e-3}}}, "p")
    assert prof.training_for("deep", "deep")["schedule"] == "cosine"
    assert prof.training_for("convdeep", "convdeep") == {
        "epochs": 10, "lr": 3e-3, "batch_size": 50, "schedule": "onecycle"}
    assert parse_profile({}, "p").training_for("deep")["schedule"] == "constant"
    with pytest.raises(ValueError, match=r"\[training.deep\].*'onecycle'"):
        parse_profile({"training": {"deep": {"schedule": "one_cycle"}}}, "p")
    with pytest.raises(ValueError, match="schedule"):
        parse_profile({"schedule": 1}, "p")
