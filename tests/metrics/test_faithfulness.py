"""Deletion faithfulness: hand-built models with known answers, batched == naive loop."""

import numpy as np
import pytest
import torch
from torch import nn

from rnnxbench.metrics import DegenerateExplanation, Deletion, Metric
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
    with pytest.raises(DegenerateExplanation, match="not clearly positive"):
        Deletion(baseline=1.0)(RELEVANCE, data, model=model)
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
    with pytest.raises(DegenerateExplanation, match="every block lowers"):
        deletion_area(curves)


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


# --- normalisation: a ratio of means -------------------------------------------------------


class TotalSum(nn.Module):
    """logit 0 = the sum of every input value, logit 1 = ``other``."""

    def __init__(self, other: float = 0.0):
        super().__init__()
        self.other = other

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x.reshape(len(x), -1).sum(1)
        return torch.stack([z, torch.full_like(z, self.other)], dim=1)


def test_tiny_full_drop_of_one_sample_stays_bounded():
    # sample 0's evidence cancels: erasing everything lowers its logit by only 1e-3, though
    # erasing its first step alone lowers it by 5; the other samples drop by 2
    x = np.zeros((4, 3, 1), np.float32)
    x[0, :2, 0] = [5.0, -5.0 + 1e-3]
    x[1:, :2, 0] = 1.0
    data = make_data(n=4, t=3, d=1, x=x)
    curves = Deletion().curves(x.astype(np.float64), data, model=TotalSum())
    area, full = curves.drops[:, 1:].mean(axis=1), curves.drops[:, -1]
    assert full[0] == pytest.approx(1e-3, rel=1e-3)
    assert area[0] / full[0] > 1000  # the old per-sample ratio explodes
    values = Deletion()(x.astype(np.float64), data, model=TotalSum())
    np.testing.assert_allclose(values, np.array([10.001, 5, 5, 5]) / 3 / 1.50025, rtol=1e-4)
    # the metric's mean is the ratio of means, the normalised area of the mean curve
    assert values.mean() == pytest.approx(area.mean() / full.mean())
    mean_curve = curves.logit_drop[1:] / curves.logit_drop[-1]
    assert mean_curve.min() <= values.mean() <= mean_curve.max()


def _linear_case(seed: int, predicted: bool):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12 * 4, 10)).eval()
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(32, 12, 4)).astype(np.float32)
    with torch.no_grad():
        logits = model(torch.as_tensor(X))
    y = logits.argmax(1).numpy() if predicted else rng.integers(0, 10, 32)
    rel = X * model[1].weight.detach().numpy()[y].reshape(32, 12, 4)  # input x gradient
    return model, make_data(n=32, t=12, d=4, x=X), y, rel


@pytest.mark.parametrize("seed", range(5))
def test_random_linear_model_predicted_class_bounded_and_stable(seed):
    model, data, y, rel = _linear_case(seed, predicted=True)
    data = TaskData("toy", data.X, y, data.spec)
    curves = Deletion().curves(rel, data, model=model)
    values = Deletion()(rel, data, model=model)
    mean_curve = curves.logit_drop[1:] / curves.logit_drop[-1]
    assert mean_curve.min() - 1e-9 <= values.mean() <= mean_curve.max() + 1e-9
    assert 0.5 < values.mean() < 1.5
    # resampling the explained samples moves the fold value little
    half = Deletion()(rel[::2], data.subset(np.arange(0, 32, 2)), model=model)
    assert abs(half.mean() - values.mean()) < 0.25


@pytest.mark.parametrize("seed", range(3))
def test_random_linear_model_random_labels_is_degenerate(seed):
    # an untrained model explains random labels: erasing everything lowers the true-class
    # logit by about 0 on average, so "the share of the full drop" has no value
    model, data, y, rel = _linear_case(seed, predicted=False)
    data = TaskData("toy", data.X, y, data.spec)
    with pytest.raises(DegenerateExplanation, match="not clearly positive"):
        Deletion()(rel, data, model=model)
    assert np.isfinite(Deletion(normalise="none")(rel, data, model=model)).all()


# --- baselines: the task's background ------------------------------------------------------


def _background_data(background: float) -> TaskData:
    x = np.ones((2, 3, 2), np.float32)
    spec = InputSpec(3, 2, (2,), 2, background=background)
    return TaskData("toy", x, np.zeros(2, np.int64), spec)


def test_deletion_erases_to_the_tasks_background_by_default():
    data, model = _background_data(-1.0), StepSum(0)
    curves = Deletion().curves(RELEVANCE, data, model=model)
    np.testing.assert_allclose(curves.logits, [[2, -2, -2, -2], [2, 2, 2, -2]])
    none = Deletion(normalise="none")
    np.testing.assert_allclose(none(RELEVANCE, data, model=model), [4.0, 4 / 3])
    np.testing.assert_allclose(Deletion(baseline="background", normalise="none")(
        RELEVANCE, data, model=model), [4.0, 4 / 3])
    np.testing.assert_allclose(Deletion(baseline=-1.0, normalise="none")(
        RELEVANCE, data, model=model), [4.0, 4 / 3])
    np.testing.assert_allclose(Deletion(baseline=0.0, normalise="none")(
        RELEVANCE, data, model=model), [2.0, 2 / 3])
    assert Deletion().baseline_value(data) == -1.0 and Deletion(baseline=0).baseline_value(
        data) == 0.0


def test_time_analysis_erases_to_the_tasks_background_by_default():
    from rnnxbench.metrics.faithfulness import TimeAnalysis

    data = _background_data(-1.0)
    model = TotalSum(other=-1.0)  # class 0 while the sum exceeds -1
    values, curve = TimeAnalysis(ks=[3]).score(RELEVANCE, data, model=model)
    assert curve == {0: 1.0, 3: 0.0} and not values.any()  # all black: sum -6
    values, curve = TimeAnalysis(ks=[3], baseline=0.0).score(RELEVANCE, data, model=model)
    assert curve == {0: 1.0, 3: 1.0} and values.all()  # erased to 0: sum 0 > -1


@pytest.mark.parametrize("name", ["deletion", "time_analysis"])
def test_baseline_option_is_declared(name):
    from rnnxbench.validate import InvalidParameterError, validate_options

    cls = METRICS.get(name)
    for ok in ({"baseline": "background"}, {"baseline": -1.0}, {"baseline": 0}, {}):
        validate_options(cls, ok, where="test")
        cls(**ok)
    for bad in ("black", True, None, [0.0]):
        with pytest.raises(InvalidParameterError, match="baseline"):
            validate_options(cls, {"baseline": bad}, where="test")
        with pytest.raises(ValueError, match="baseline"):
            cls(baseline=bad)


# --- levels -------------------------------------------------------------------------------


def _gru_case():
    torch.manual_seed(0)
    model = ARCHITECTURES.get("gru")(InputSpec(5, 3, (3,), 3), hidden=6).eval()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 5, 3)).astype(np.float32)
    return model, X, rng.integers(0, 3, 10), rng.normal(size=X.shape)


@pytest.mark.parametrize("levels", [[0, 2, 5], [1, 3], [4], [0, 1, 2, 3, 4, 5]])
def test_levels_select_columns_of_the_full_curve(levels):
    model, X, y, rel = _gru_case()
    full = deletion_curves(model, X, y, rel, baseline=0.3)
    part = deletion_curves(model, X, y, rel, baseline=0.3, levels=levels)
    np.testing.assert_array_equal(part.k, levels)
    np.testing.assert_allclose(part.logits, full.logits[:, levels], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(part.correct, full.correct[:, levels])
    np.testing.assert_allclose(part.fraction, np.asarray(levels) / 5)
    assert part.n_total == full.n_total == 5
    assert part.complete == (len(levels) == 6)


def test_levels_chunking_does_not_change_results():
    model, X, y, rel = _gru_case()
    runs = [deletion_curves(model, X, y, rel, levels=[0, 1, 4], batch_size=b)
            for b in (1, 7, 1000)]
    for other in runs[1:]:  # identical up to float32 batching noise
        np.testing.assert_allclose(other.logits, runs[0].logits, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(other.correct, runs[0].correct)
    counter = StepSum(0)
    data = make_data(n=10, t=5, d=1)
    deletion_curves(counter, data.X, data.y, np.ones((10, 5, 1)), levels=[0, 1, 4], batch_size=12)
    assert counter.calls == [12, 12, 6]  # 4 samples x 3 levels per pass


@pytest.mark.parametrize("levels", [[2, 1], [1, 1], [0, 6], [-1, 2], [], [0.5], [[0, 1]]])
def test_levels_are_validated(levels):
    data = make_data(n=2, t=5, d=1)
    with pytest.raises(ValueError, match=r"0\.\.5"):
        deletion_curves(StepSum(0), data.X, data.y, np.ones((2, 5, 1)), levels=levels)


def test_deletion_area_needs_every_level():
    model, X, y, rel = _gru_case()
    full = deletion_curves(model, X, y, rel)
    assert full.levels is None and full.n_units == 5 and full.complete
    explicit = deletion_curves(model, X, y, rel, levels=range(6))
    np.testing.assert_allclose(deletion_area(explicit, "none"), deletion_area(full, "none"))
    # an untrained GRU on random labels: erasing everything does not lower the logit on average
    with pytest.raises(DegenerateExplanation, match="not clearly positive"):
        deletion_area(full)
    with pytest.raises(ValueError, match="every level"):
        deletion_area(deletion_curves(model, X, y, rel, levels=[0, 1, 2]))
    with pytest.raises(ValueError, match="k = 0"):
        _ = deletion_curves(model, X, y, rel, levels=[1, 2]).drops


# --- time_analysis ------------------------------------------------------------------------

# StepSum(2) on T = 6 steps: logit 0 = sum of step 2 (> 1 -> class 0), logit 1 = 1.
TA_STEP2 = np.array([2, 2, 2, 0, 0, 2, 0.5, 2]) / 2  # per-value, two values per step
TA_Y = np.array([0, 0, 0, 1, 0, 1, 1, 0])
TA_CLEAN = np.array([1, 1, 1, 1, 0, 0, 1, 1])  # predictions [0, 0, 0, 1, 1, 0, 1, 0]
TA_ZEROED = TA_Y == 1  # step 2 zeroed: logit 0 = 0 < 1, class 1 everywhere


def _ta_data() -> TaskData:
    x = np.random.default_rng(1).normal(size=(8, 6, 2)).astype(np.float32)
    x[:, 2] = TA_STEP2[:, None]
    return TaskData("toy", x, TA_Y.copy(), InputSpec(6, 2, (2,), 2), None, None)


def _ta_relevance(step2: float) -> np.ndarray:
    rel = np.random.default_rng(2).uniform(0, 1, size=(8, 6, 2))
    rel[:, 2] = step2
    return rel


def test_time_analysis_registered():
    import rnnxbench  # noqa: F401
    from rnnxbench.metrics.faithfulness import TimeAnalysis

    assert "time_analysis" in METRICS.names() and METRICS.get("time_analysis") is TimeAnalysis
    m = TimeAnalysis()
    assert m.higher_is_better is False and not m.requires_ground_truth
    assert m.granularity == "step" and m.curve_y == "accuracy"
    assert m.curve_x == "erased steps (fraction of T)" and m.fractions == [0.05, 0.1, 0.2, 0.5]
    assert TimeAnalysis(ks=[1, 5, 10]).curve_x == "erased steps"
    assert m.not_applicable(_ta_data()) is None


def test_time_analysis_known_answer():
    from rnnxbench.metrics.faithfulness import TimeAnalysis

    data, ks = _ta_data(), [1, 2, 3, 5, 6]
    assert TA_CLEAN.mean() == 0.75 and TA_ZEROED.mean() == 0.375
    metric = TimeAnalysis(ks=ks)
    # step 2 ranked first: erased from k = 1 on
    values, curve = metric.score(_ta_relevance(10.0), data, model=StepSum(2))
    assert curve == {0: 0.75, 1: 0.375, 2: 0.375, 3: 0.375, 5: 0.375, 6: 0.375}
    np.testing.assert_array_equal(values, TA_ZEROED)
    # step 2 ranked last: erased only at k = T
    values, curve = metric.score(_ta_relevance(-10.0), data, model=StepSum(2))
    assert curve == {0: 0.75, 1: 0.75, 2: 0.75, 3: 0.75, 5: 0.75, 6: 0.375}
    np.testing.assert_allclose(values, (4 * TA_CLEAN + TA_ZEROED) / 5)
    assert values.mean() == pytest.approx(np.mean([curve[k] for k in ks]))
    np.testing.assert_array_equal(metric(_ta_relevance(-10.0), data, model=StepSum(2)), values)


def test_time_analysis_fractions_and_levels_evaluated():
    from rnnxbench.metrics.faithfulness import TimeAnalysis

    data, model = _ta_data(), StepSum(2)
    metric = TimeAnalysis(fractions=[0.05, 0.25, 0.5, 1.0], batch_size=1000)
    assert metric.steps(6) == [1, 2, 3, 6]  # 0.3 -> at least 1, 1.5 -> 2 (half up)
    values, curve = metric.score(_ta_relevance(10.0), data, model=model)
    assert list(curve) == [0.0, 0.05, 0.25, 0.5, 1.0]
    assert curve[0.0] == 0.75 and curve[0.05] == 0.375
    assert model.calls == [8 * 5]  # levels 0, 1, 2, 3, 6 only
    assert values.mean() == pytest.approx(np.mean([v for x, v in curve.items() if x > 0]))


def test_time_analysis_ks_fractions_mapping():
    from rnnxbench.metrics.faithfulness import TimeAnalysis

    assert TimeAnalysis().steps(427) == [21, 43, 85, 214]
    assert TimeAnalysis().steps(24) == [1, 2, 5, 12]
    assert TimeAnalysis().steps(3) == [1, 1, 1, 2]
    assert TimeAnalysis(ks=[1, 5, 10]).steps(24) == [1, 5, 10]
    assert TimeAnalysis(ks=[1, 5, 10]).steps(6) == [1, 5, 6]  # clipped to T
    # duplicates after mapping keep one curve point (and one score term) per option value
    values, curve = TimeAnalysis(ks=[1, 7, 9]).score(_ta_relevance(-10.0), _ta_data(),
                                                     model=StepSum(2))
    assert curve == {0: 0.75, 1: 0.75, 7: 0.375, 9: 0.375}
    np.testing.assert_allclose(values, (TA_CLEAN + 2 * TA_ZEROED) / 3)


def test_time_analysis_constant_relevance_random_seeded():
    from rnnxbench.metrics.faithfulness import TimeAnalysis

    n = 600
    x = np.ones((n, 6, 1), np.float32) * 2
    data = TaskData("toy", x, np.zeros(n, np.int64), InputSpec(6, 1, (1,), 2), None, None)
    const = np.ones((n, 6, 1))
    run = TimeAnalysis(ks=[3], seed=5)
    values, curve = run.score(const, data, model=StepSum(2))
    np.testing.assert_array_equal(values, run(const, data, model=StepSum(2)))
    assert set(values) == {0.0, 1.0} and curve[0] == 1.0
    assert abs(curve[3] - 0.5) < 0.07  # step 2 is among 3 of 6 random steps half the time
    assert not np.array_equal(values, TimeAnalysis(ks=[3], seed=6)(const, data, model=StepSum(2)))


@pytest.mark.parametrize("options, match", [
    ({"ks": [1], "fractions": [0.1]}, "not both"),
    ({"ks": []}, "empty"),
    ({"fractions": []}, "empty"),
    ({"ks": [1, -5]}, "positive integers"),
    ({"ks": [0, 1]}, "positive integers"),
    ({"ks": [1.5]}, "positive integers"),
    ({"ks": [2, 2]}, "duplicates"),
    ({"fractions": [0.0]}, r"\(0, 1\]"),
    ({"fractions": [0.5, 1.5]}, r"\(0, 1\]"),
    ({"fractions": [-0.1]}, r"\(0, 1\]"),
    ({"fractions": [True]}, r"\(0, 1\]"),
    ({"ks": [[1]]}, "positive integers"),
])
def test_time_analysis_option_validation(options, match):
    from rnnxbench.metrics.faithfulness import TimeAnalysis

    with pytest.raises(ValueError, match=match):
        TimeAnalysis(**options)


def test_time_analysis_needs_the_model():
    from rnnxbench.metrics.faithfulness import TimeAnalysis

    with pytest.raises(ValueError, match="time_analysis needs the model"):
        TimeAnalysis()(_ta_relevance(1.0), _ta_data())
