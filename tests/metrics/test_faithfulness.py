"""Deletion faithfulness: hand-built models with known answers, batched == naive loop."""

import numpy as np
import pytest
import torch
from torch import nn

from rnnxbench.metrics import Deletion, Metric
from rnnxbench.metrics.faithfulness import deletion_area, deletion_curves, deletion_ranks
from rnnxbench.registry import ARCHITECTURES, METRICS
from rnnxbench.tasks.base import InputSpec, TaskData


class StepSum(nn.Module):
    """logit 0 = sum of step ``step``'s values, logit 1 = 1."""

    def __init__(self, step: int = 0):
        super().__init__()
        self.step = step
        self.calls: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(len(x))
        z = x[:, self.step].reshape(len(x), -1).sum(1)
        return torch.stack([z, torch.ones_like(z)], dim=1)


def make_data(n=2, t=3, d=2, step_block=None, x=None) -> TaskData:
    x = np.ones((n, t, d), np.float32) if x is None else x
    gt = None
    if step_block is not None:
        step_block = np.asarray(step_block)
        gt = np.ones((n, int(step_block.max()) + 1), bool)
    return TaskData("toy", x, np.zeros(n, np.int64), InputSpec(t, d, (d,), 2), gt, step_block)


# sample 0: step 0 > step 1 > step 2; sample 1: step 2 > step 1 > step 0
RELEVANCE = np.zeros((2, 3, 2))
RELEVANCE[0, :, 1] = [1.0, 0.2, 0.1]
RELEVANCE[1, :, 0] = [0.1, 0.5, 1.0]


def test_registered():
    assert METRICS.get("deletion") is Deletion and issubclass(Deletion, Metric)
    assert Deletion.higher_is_better is True and not Deletion.requires_ground_truth
    assert Deletion().granularity == "step" and Deletion(granularity="block").granularity == "block"


def test_hand_values_step_zero_model():
    data, model = make_data(), StepSum(0)
    # drops (z_0 = 2): sample 0 [0, 2, 2, 2] -> 1; sample 1 [0, 0, 0, 2] -> 1/3
    np.testing.assert_allclose(Deletion()(RELEVANCE, data, model=model), [1.0, 1 / 3])
    np.testing.assert_allclose(Deletion(normalise="none")(RELEVANCE, data, model=model),
                               [2.0, 2 / 3])
    curves = Deletion().curves(RELEVANCE, data, model=model)
    np.testing.assert_array_equal(curves.k, [0, 1, 2, 3])
    np.testing.assert_allclose(curves.fraction, [0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(curves.logits, [[2, 0, 0, 0], [2, 2, 2, 0]])
    np.testing.assert_allclose(curves.logit_drop, [0, 1, 1, 2])
    # class 1 has logit 1: correct while step 0 is intact
    np.testing.assert_array_equal(curves.correct, [[1, 0, 0, 0], [1, 1, 1, 0]])
    np.testing.assert_allclose(curves.accuracy, [1, 0.5, 0.5, 0])


def test_evidence_elsewhere_flips_the_ranking():
    data = make_data()
    np.testing.assert_allclose(Deletion()(RELEVANCE, data, model=StepSum(2)), [1 / 3, 1.0])


def test_baseline_option():
    data, model = make_data(), StepSum(0)
    np.testing.assert_allclose(Deletion(baseline=0.5)(RELEVANCE, data, model=model),
                               [1.0, 1 / 3])
    np.testing.assert_allclose(Deletion(baseline=0.5, normalise="none")(
        RELEVANCE, data, model=model), [1.0, 1 / 3])
    # erasing to the input's own value changes nothing: no drop to normalise by
    assert np.isnan(Deletion(baseline=1.0)(RELEVANCE, data, model=model)).all()
    np.testing.assert_array_equal(
        Deletion(baseline=1.0, normalise="none")(RELEVANCE, data, model=model), [0.0, 0.0])


def test_block_granularity():
    data = make_data(step_block=[0, 0, 1])
    # blocks: sample 0 [1.2, 0.1] -> block 0 first: drops [0, 2, 2] -> 1;
    #         sample 1 [0.6, 1] -> block 1 first: drops [0, 0, 2] -> 1/2
    np.testing.assert_allclose(Deletion(granularity="block")(RELEVANCE, data, model=StepSum(0)),
                               [1.0, 0.5])
    curves = Deletion(granularity="block").curves(RELEVANCE, data, model=StepSum(0))
    assert curves.logits.shape == (2, 3) and curves.granularity == "block"


def test_block_steps_outside_every_block_are_never_erased():
    data = make_data(step_block=[0, -1, 1])
    curves = deletion_curves(StepSum(1), data.X, data.y, RELEVANCE, step_block=data.step_block,
                             granularity="block")
    np.testing.assert_allclose(curves.logits, 2.0)
    assert np.isnan(deletion_area(curves)).all()


def test_ranks_follow_summed_signed_relevance():
    r = np.zeros((1, 4, 2))
    r[0, :, 0] = [1.0, 3.0, -2.0, 0.5]
    r[0, 0, 1] = 1.5  # step 0 sums to 2.5
    np.testing.assert_array_equal(deletion_ranks(r), [[1, 0, 3, 2]])
    np.testing.assert_array_equal(deletion_ranks(r, np.array([0, 0, 1, 1]), "block"), [[0, 1]])


def test_ties_are_broken_at_random_seeded():
    n = 600
    data = make_data(n=n)
    uniform = np.ones((n, 3, 2))
    scores = Deletion(seed=3)(uniform, data, model=StepSum(0))
    np.testing.assert_array_equal(scores, Deletion(seed=3)(uniform, data, model=StepSum(0)))
    assert set(np.round(scores, 6)) == {round(1 / 3, 6), round(2 / 3, 6), 1.0}
    # step 0 lands at a uniformly random position: expected area (1 + 2/3 + 1/3) / 3
    assert abs(scores.mean() - 2 / 3) < 0.05
    assert not np.array_equal(scores, Deletion(seed=4)(uniform, data, model=StepSum(0)))


def _naive_logits(model, X, y, ranks, baseline=0.0):
    out = np.empty((len(X), ranks.shape[1] + 1))
    for n in range(len(X)):
        for k in range(ranks.shape[1] + 1):
            x = X[n].copy()
            x[ranks[n] < k] = baseline
            with torch.no_grad():
                out[n, k] = model(torch.as_tensor(x[None]))[0, y[n]].item()
    return out


def test_batched_equals_naive_loop_on_a_gru():
    torch.manual_seed(0)
    spec = InputSpec(5, 3, (3,), 3)
    model = ARCHITECTURES.get("gru")(spec, hidden=6).eval()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 5, 3)).astype(np.float32)
    y = rng.integers(0, 3, 10)
    rel = rng.normal(size=X.shape)
    ranks = deletion_ranks(rel)
    expected = _naive_logits(model, X, y, ranks, baseline=0.3)
    for batch in (1, 12, 1000):
        curves = deletion_curves(model, X, y, rel, baseline=0.3, batch_size=batch)
        np.testing.assert_allclose(curves.logits, expected, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        logits = model(torch.as_tensor(X)).numpy()
    np.testing.assert_array_equal(curves.correct[:, 0], logits.argmax(1) == y)


def test_all_levels_in_one_forward_per_chunk():
    model = StepSum(0)
    data = make_data(n=10, t=5, d=1)
    Deletion(batch_size=12)(np.random.default_rng(0).normal(size=(10, 5, 1)), data, model=model)
    assert model.calls == [12] * 5  # 2 samples x 6 levels per pass
    model.calls.clear()
    Deletion()(np.ones((10, 5, 1)), data, model=model, batch_size=1000)
    assert model.calls == [60]


def test_restores_training_mode_and_needs_the_model():
    model = StepSum(0).train()
    Deletion()(RELEVANCE, make_data(), model=model)
    assert model.training
    with pytest.raises(ValueError, match="model"):
        Deletion()(RELEVANCE, make_data())
    with pytest.raises(ValueError, match="granularity"):
        Deletion(granularity="value")
    data = make_data()
    assert Deletion().not_applicable(data) is None
    assert "step blocks" in Deletion(granularity="block").not_applicable(data)
