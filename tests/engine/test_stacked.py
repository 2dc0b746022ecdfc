"""Stacked training (rnnxbench/engine/stacked.py) against one-by-one training."""

from __future__ import annotations

import copy
import functools
import inspect

import numpy as np
import pytest
import torch
from torch import nn

from rnnxbench.engine.stacked import BatchedAdam, can_stack, train_stacked
from rnnxbench.engine.train import train_model
from rnnxbench.models import StationaryDropout
from rnnxbench.registry import ARCHITECTURES
from rnnxbench.tasks.base import InputSpec

SPEC = InputSpec(n_steps=4, step_dim=6, step_shape=(6,), n_classes=3)
IMAGE_SPEC = InputSpec(n_steps=3, step_dim=16, step_shape=(1, 4, 4), n_classes=3)
SIZES = dict(hidden=5, in_units=8, cell_units=6, rec_units=5, head_units=4, units=5,
             pre_units=4, filters=(2, 3))
SEEDS = [3, 4, 5]
FOLDS = (50, 49, 47)  # with batch_size 16: 4, 4 and 3 batches per epoch
TRAIN = dict(epochs=2, lr=1e-2, batch_size=16)
#: architectures without dropout, and thesis ones built with dropout 0
NO_DROPOUT = [("gru", {}), ("lstm", {"bidirectional": True, "depth": 2}),
              ("rnn", {"nonlinearity": "relu"}), ("nv_gru", {}), ("lstm_avg", {}),
              ("attn_gru", {}), ("deep", {"dropout": 0.0}), ("rlstm", {"dropout": 0.0})]
DROPOUT = [("deep", {}), ("deep_sd", {}), ("rlstm_sd", {}), ("shallow", {"dropout": 0.5})]


def build(name: str, seed: int, dtype=torch.float32, **options) -> nn.Module:
    cls = ARCHITECTURES.get(name)
    spec = IMAGE_SPEC if "image_steps" in cls.accepts else SPEC
    accepted = inspect.signature(cls.__init__).parameters
    torch.manual_seed(seed)
    sizes = {k: v for k, v in SIZES.items() if k in accepted}
    return cls(spec, **{**sizes, **options}).to(dtype)


def data(n: int, seed: int, dtype=np.float32, spec: InputSpec = SPEC):
    rs = np.random.RandomState(seed)
    X = rs.uniform(-1, 1, (n, spec.n_steps, spec.step_dim)).astype(dtype)
    return X, rs.randint(0, spec.n_classes, n)


def max_diff(models, refs) -> float:
    return max((a - b).abs().max().item() for m, r in zip(models, refs, strict=True)
               for a, b in zip(m.state_dict().values(), r.state_dict().values(), strict=True))


def compare(name, options, dtype, reference=None, **train):
    """(max |param diff|, max |loss diff|) of stacked vs one-by-one training: float32
    against ``train_model``, float64 against ``reference`` (the conftest's loop:
    ``train_epochs`` casts its inputs to float32)."""
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    models = [build(name, s, dtype, **options) for s in SEEDS]
    refs = [copy.deepcopy(m) for m in models]
    sets = [data(n, i, np_dtype, models[0].spec) for i, n in enumerate(FOLDS)]
    losses = train_stacked(models, sets, seeds=SEEDS, **{**TRAIN, **train})
    one = (functools.partial(reference, dtype=torch.float64) if dtype == torch.float64
           else train_model)
    ref_losses = [one(r, *d, seed=s, **{**TRAIN, **train})
                  for r, d, s in zip(refs, sets, SEEDS, strict=True)]
    assert all(not m.training for m in models)
    epochs = {**TRAIN, **train}["epochs"]
    assert len(losses) == 3 and all(len(v) == epochs for v in losses)
    return max_diff(models, refs), float(np.abs(np.array(losses) - np.array(ref_losses)).max())


@pytest.mark.parametrize(("name", "options"), NO_DROPOUT + DROPOUT)
def test_float64_stacked_training_equals_one_by_one(name, options, reference_training):
    d_param, d_loss = compare(name, options, torch.float64, reference_training)
    assert d_param < 1e-10 and d_loss < 1e-10


@pytest.mark.parametrize(("name", "options"), NO_DROPOUT + DROPOUT)
def test_float32_stacked_training_equals_train_model(name, options):
    # measured max |diff| 3e-8 .. 9e-6 (params), <= 2.4e-7 (losses): batched kernels round
    # differently, and Adam's normalised step (~lr) magnifies the rounding of a near-zero
    # gradient (the 9e-6: one GRU weight); the bounds leave 10x / 40x for other CPUs
    d_param, d_loss = compare(name, options, torch.float32)
    assert d_param < 1e-4 and d_loss < 1e-5


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_schedules_follow_each_models_own_number_of_steps(schedule, reference_training):
    d_param, d_loss = compare("gru", {}, torch.float64, reference_training, schedule=schedule,
                              epochs=3)
    assert d_param < 1e-10 and d_loss < 1e-10


def test_one_adam_over_stacked_parameters_equals_k_adams_and_batched_adam_does_too():
    torch.manual_seed(0)
    stacked = nn.Parameter(torch.randn(3, 4, 5))
    singles = [nn.Parameter(stacked.detach()[k].clone()) for k in range(3)]
    mine = stacked.detach().clone().requires_grad_()
    opt = torch.optim.Adam([stacked], lr=1e-2)
    opts = [torch.optim.Adam([p], lr=1e-2) for p in singles]
    batched = BatchedAdam([mine])
    for _ in range(5):
        g = torch.randn(3, 4, 5)
        stacked.grad, mine.grad = g.clone(), g.clone()
        for p, gk in zip(singles, g, strict=True):
            p.grad = gk.clone()
        opt.step()
        batched.step([1e-2] * 3, [True] * 3)
        for o in opts:
            o.step()
    assert torch.equal(stacked, torch.stack(singles)) and torch.equal(mine, stacked)
    # a model that sits out a step keeps its parameters and moments
    before = mine.detach().clone()
    mine.grad = torch.randn(3, 4, 5)
    batched.step([1e-2] * 3, [True, False, True])
    assert torch.equal(mine[1], before[1]) and not torch.equal(mine[0], before[0])
    assert batched.steps == [6, 5, 6]


@pytest.mark.parametrize(("name", "options"), DROPOUT)
def test_dropout_runs_are_deterministic_and_independent_of_the_stack(name, options):
    sets = [data(n, i) for i, n in enumerate(FOLDS)]
    runs = []
    for order in ([0, 1, 2], [0, 1, 2], [2, 0]):
        models = [build(name, SEEDS[k], **options) for k in order]
        rng = torch.get_rng_state()
        losses = train_stacked(models, [sets[k] for k in order],
                               seeds=[SEEDS[k] for k in order], **TRAIN)
        assert torch.equal(rng, torch.get_rng_state())  # the global RNG is left alone
        runs.append({k: (m, lv) for k, m, lv in zip(order, models, losses, strict=True)})
    for k in range(3):
        a, b = runs[0][k][0].state_dict(), runs[1][k][0].state_dict()
        assert all(torch.equal(a[n], b[n]) for n in a) and runs[0][k][1] == runs[1][k][1]
    for k in (0, 2):  # in another stack: the same up to rounding (its own masks)
        assert max_diff([runs[0][k][0]], [runs[2][k][0]]) < 1e-5


@pytest.mark.parametrize("p", [0.0, 0.3])
def test_masks_differ_between_the_models_of_a_stack(p):
    # identical init and data, one full batch per epoch: the seed only changes the sample
    # order (which a full batch's mean loss ignores, up to rounding) and the dropout masks.
    # (Two identical models in one stack are not always bit-equal: measured 1.5e-8 apart
    # without dropout, as the batched kernels round differently per stack position.)
    X, y = data(40, 0)
    models = [build("deep", 1, dropout=p) for _ in range(3)]
    train_stacked(models, [(X, y)] * 3, epochs=2, lr=1e-2, batch_size=64, seeds=[7, 7, 8])
    same, other = max_diff(models[:1], models[1:2]), max_diff(models[:1], models[2:])
    assert same < 1e-6
    assert (other > 1e-3) if p else (other < 1e-6)


def test_every_registered_architecture_can_be_stacked():
    for name in ARCHITECTURES.names():
        model = build(name, 0)
        state = copy.deepcopy(model.state_dict())
        assert can_stack(model) is None, name
        assert model.training and all(torch.equal(v, state[k])
                                      for k, v in model.state_dict().items())


class TorchDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin, self.drop = nn.Linear(6, 3), nn.Dropout(0.5)

    def forward(self, x):
        return self.lin(self.drop(x[:, -1]))


class NoReset(TorchDropout):
    def __init__(self):
        super().__init__()
        self.spec, self.drop = SPEC, StationaryDropout(0.5)


class ItemCall(TorchDropout):
    def __init__(self):
        super().__init__()
        self.spec, self.drop = SPEC, nn.Identity()

    def forward(self, x):
        return self.lin(x[:, -1]) * (2.0 if x.sum().item() > 0 else 1.0)


def test_unsupported_models_give_clear_errors():
    X, y = data(20, 0)
    kw = dict(epochs=1, lr=1e-2, batch_size=8, seeds=[0])
    for model, message in ((TorchDropout(), "Dropout draws its masks from the global RNG"),
                           (NoReset(), "does not reset its stationary dropout masks"),
                           (ItemCall(), r"\.item\(\)")):
        reason = can_stack(model)
        assert reason.startswith(f"cannot stack {type(model).__name__}: ")
        with pytest.raises(ValueError, match=message) as err:
            train_stacked([model], [(X, y)], **kw)
        assert str(err.value) == reason


def test_mismatched_models_and_arguments_give_clear_errors():
    X, y = data(20, 0)
    kw = dict(epochs=1, lr=1e-2, batch_size=8)
    pairs = [(build("gru", 0), build("lstm", 0)),
             (build("gru", 0), build("gru", 0, hidden=6)),
             (build("deep", 0), build("deep", 0, dropout=0.3))]
    for models in pairs:
        with pytest.raises(ValueError, match="cannot stack different architectures"):
            train_stacked(list(models), [(X, y)] * 2, seeds=[0, 1], **kw)
    with pytest.raises(ValueError, match="need K >= 1 models, datasets and seeds"):
        train_stacked([build("gru", 0)], [(X, y)] * 2, seeds=[0], **kw)
    with pytest.raises(ValueError, match="one X row per label"):
        train_stacked([build("gru", 0)], [(X, y[:-1])], seeds=[0], **kw)
    with pytest.raises(ValueError, match="schedule must be one of"):
        train_stacked([build("gru", 0)], [(X, y)], seeds=[0], schedule="linear", **kw)
