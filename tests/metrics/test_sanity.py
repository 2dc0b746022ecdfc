"""Cascading model randomisation: stages, re-initialisation, rank similarity, the metric."""

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from rnnxbench.explainers.base import Explainer
from rnnxbench.harness.scoring import MetricContext
from rnnxbench.metrics import DegenerateExplanation, Metric, Randomization
from rnnxbench.metrics.sanity import (
    STAGES,
    cascading_randomisation,
    parameter_stages,
    randomisation_similarities,
    rank_similarity,
    reinitialise_,
)
from rnnxbench.models.layers import ThesisLinear
from rnnxbench.registry import ARCHITECTURES, EXPLAINERS, METRICS
from rnnxbench.tasks.base import InputSpec, TaskData

T, D, C = 6, 4, 3
nan = np.nan
SPEC = InputSpec(T, D, (D,), C)


class InputItself(Explainer):
    """Relevance = the input: ignores the model entirely."""

    def attribute(self, inputs: torch.Tensor, target: torch.Tensor | int) -> torch.Tensor:
        return inputs.clone()


def make_data(n: int = 24, seed: int = 0) -> TaskData:
    rng = np.random.default_rng(seed)
    return TaskData("toy", rng.normal(size=(n, T, D)).astype(np.float32),
                    rng.integers(0, C, n), SPEC)


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(T * D, 16), nn.ReLU(), nn.Linear(16, C)).eval()


def arch(name: str, **options) -> nn.Module:
    torch.manual_seed(0)
    return ARCHITECTURES.get(name)(SPEC, **options).eval()


def context(model: nn.Module, data: TaskData, explainer: type = InputItself) -> dict:
    return MetricContext.for_explainer(model, explainer, {}, data, 16, "cpu", {}).as_kwargs()


def test_registered():
    assert METRICS.get("randomization") is Randomization and issubclass(Randomization, Metric)
    assert Randomization.higher_is_better is False
    assert not Randomization.requires_ground_truth and Randomization.granularity == "input"
    assert Randomization().not_applicable(make_data()) is None


@pytest.mark.parametrize("model, expected", [
    (lambda: mlp(), {"head": ["3"], "recurrent": [], "input": ["1"]}),
    (lambda: arch("gru", hidden=4), {"head": ["classifier"], "recurrent": ["rnn"], "input": []}),
    (lambda: arch("attn_gru", hidden=4),
     {"head": ["pool.proj", "pool.score", "classifier"], "recurrent": ["rnn"], "input": []}),
    (lambda: arch("shallow", hidden=4),
     {"head": ["out_layer"], "recurrent": ["rec_layer"], "input": ["in_layer"]}),
    (lambda: arch("deep", in_units=4, cell_units=4, rec_units=4, head_units=2),
     {"head": ["head_layer", "out_layer"], "recurrent": ["cell_layer", "rec_layer"],
      "input": ["in_layer"]}),
    (lambda: arch("rlstm", in_units=4, units=4),
     {"head": ["out_layer"], "recurrent": ["cell.gates", "cell.g_layer"], "input": ["in_layer"]}),
])
def test_parameter_stages(model, expected):
    assert parameter_stages(model()) == expected


def test_stage_between_recurrent_units_is_recurrent():
    class Stacked(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(2, 2)
            self.rnn1 = nn.GRU(2, 2)
            self.proj = nn.Linear(2, 2)
            self.rnn2 = nn.LSTM(2, 2)
            self.out = nn.Linear(2, 2)

    assert parameter_stages(Stacked()) == {"head": ["out"], "recurrent": ["rnn1", "proj", "rnn2"],
                                           "input": ["embed"]}


def _params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_cascade_is_cumulative_seeded_and_leaves_the_model_alone():
    model = arch("deep", in_units=4, cell_units=4, rec_units=4, head_units=2)
    before = _params(model)
    changed, stages = {}, parameter_stages(model)
    for stage, randomised, names in cascading_randomisation(model, seed=1):
        assert names == stages[stage]
        after = _params(randomised)
        changed[stage] = {k.split(".")[0] for k in after if not torch.equal(after[k], before[k])}
    assert changed["head"] == {"head_layer", "out_layer"}
    assert changed["recurrent"] == {"head_layer", "out_layer", "cell_layer", "rec_layer"}
    assert changed["input"] == {"head_layer", "out_layer", "cell_layer", "rec_layer", "in_layer"}
    assert all(torch.equal(v, before[k]) for k, v in _params(model).items())

    def final(seed):
        *_, (_, randomised, _) = cascading_randomisation(model, seed=seed)
        return _params(randomised)

    a, b, c = final(1), final(1), final(2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["in_layer.weight"], c["in_layer.weight"])


def test_reinitialise_keeps_the_scale():
    layer = ThesisLinear(200, 100)  # no reset_parameters: re-drawn with the same std
    with torch.no_grad():
        layer.weight.mul_(3.0)
    std = layer.weight.std().item()
    old, bias = layer.weight.detach().clone(), layer.raw_bias.detach().clone()
    assert bias.std().item() == 0.0 and bias.abs().min() > 0  # a constant bias
    reinitialise_(layer, seed=0)
    assert not torch.equal(old, layer.weight)
    assert layer.weight.std().item() == pytest.approx(std, rel=0.05)
    assert abs(layer.weight.mean().item()) < 0.05 * std
    # the constant bias (std 0) is re-drawn with its RMS as std
    assert layer.raw_bias.std().item() == pytest.approx(bias.abs().mean().item(), rel=0.3)
    linear = nn.Linear(3, 3)  # reset_parameters: torch's own init, seeded
    reinitialise_(linear, seed=5)
    w = linear.weight.detach().clone()
    reinitialise_(linear, seed=5)
    assert torch.equal(w, linear.weight)


def test_rank_similarity_equals_scipy_spearman():
    rng = np.random.default_rng(0)
    a = rng.integers(-3, 4, size=(20, 5, 3)).astype(float)  # ties
    b = a + rng.normal(scale=2.0, size=a.shape)
    for absolute in (True, False):
        f = np.abs if absolute else (lambda v: v)
        expected = [spearmanr(f(x).ravel(), f(z).ravel()).statistic
                    for x, z in zip(a, b, strict=True)]
        np.testing.assert_allclose(rank_similarity(a, b, absolute), expected, atol=1e-12)


def test_rank_similarity_hand_values_and_constants():
    a = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [5.0, 5.0, 5.0], [5.0, 5.0, 5.0]])
    b = np.array([[3.0, 2.0, 1.0], [-1.0, -2.0, -3.0], [2.0, 2.0, 2.0], [1.0, 2.0, 3.0]])
    # a constant map (both, or either one) has no ranking: undefined, not 1 or 0
    np.testing.assert_allclose(rank_similarity(a, b, absolute=False), [-1.0, -1.0, nan, nan])
    np.testing.assert_allclose(rank_similarity(a, b), [-1.0, 1.0, nan, nan])
    np.testing.assert_allclose(rank_similarity(b[3:], a[3:]), [nan])  # ranking vs none
    np.testing.assert_allclose(rank_similarity(np.zeros((1, 3)), np.zeros((1, 3))), [nan])
    with pytest.raises(ValueError, match="shapes"):
        rank_similarity(a, b[:, :2])


@pytest.mark.parametrize("make", [mlp, lambda: arch("gru", hidden=6)])
def test_model_independent_explanation_fails_the_check(make):
    model, data = make(), make_data()
    ctx = context(model, data, InputItself)
    rel = ctx["explain"](model)
    for stage in STAGES:
        np.testing.assert_allclose(Randomization(stage=stage)(rel, data, **ctx), 1.0)


@pytest.mark.parametrize("make, bound", [(mlp, 0.3), (lambda: arch("gru", hidden=6), 0.8)])
def test_gradient_explanation_changes_with_the_weights(make, bound):
    model, data = make(), make_data()
    ctx = context(model, data, EXPLAINERS.get("sa"))
    rel = ctx["explain"](model)
    np.testing.assert_allclose(rank_similarity(rel, ctx["explain"](model)), 1.0)  # same model
    scores = Randomization()(rel, data, **ctx)
    assert scores.shape == (len(data),)
    assert scores.mean() < bound


def test_only_the_needed_stages_are_explained():
    model, data = arch("gru", hidden=4), make_data(n=4)
    ctx = context(model, data)
    calls = []

    def explain(other):
        calls.append(1)
        return ctx["explain"](other)

    rel = ctx["explain"](model)
    assert list(randomisation_similarities(model, explain, rel, ("head",))) == ["head"]
    assert len(calls) == 1
    calls.clear()
    # the gru's input stage is empty: "input" reuses the "recurrent" explanation
    sims = randomisation_similarities(model, explain, rel)
    assert list(sims) == list(STAGES) and len(calls) == 2
    calls.clear()
    Randomization(stage="input")(rel, data, model=model, explain=explain)
    assert len(calls) == 1


def test_needs_model_and_explain():
    data = make_data(n=2)
    with pytest.raises(ValueError, match="explain"):
        Randomization()(np.ones((2, T, D)), data, model=mlp())
    with pytest.raises(ValueError, match="stage"):
        Randomization(stage="output")
    with pytest.raises(ValueError, match="unknown stages"):
        randomisation_similarities(mlp(), lambda m: None, np.ones((2, T, D)), ("top",))


def test_randomised_parameters_come_from_the_architectures_own_initialisation():
    from rnnxbench.metrics.sanity import cascading_randomisation

    model, initial = arch("deep"), arch("deep")
    with torch.no_grad():
        for p in initial.parameters():
            p.add_(1.0)  # any other parameters: the copy must take exactly these
    fresh = dict(initial.named_modules())
    for _, randomised, names in cascading_randomisation(model, 0, initial):
        for name in names:
            for key, p in dict(randomised.named_modules())[name].named_parameters(
                    recurse=False):
                assert torch.equal(p, fresh[name].get_parameter(key))
    assert all(torch.equal(a, b) for a, b in zip(randomised.parameters(),
                                                 initial.parameters(), strict=True))
    assert not torch.equal(next(model.parameters()), next(initial.parameters()))


# --- degenerate explanations: constant or all-zero maps -----------------------------------


class Constant(Explainer):
    """Relevance 1 everywhere, whatever the model."""

    def attribute(self, inputs: torch.Tensor, target: torch.Tensor | int) -> torch.Tensor:
        return torch.ones_like(inputs)


def test_all_zero_lrp_of_a_reinitialised_thesis_model_is_degenerate():
    model, data = arch("shallow", hidden=8), make_data()
    initial = arch("shallow", hidden=8)
    with torch.no_grad():  # logits -softplus(b) < 0: LRP has no positive relevance to start
        initial.out_layer.weight.zero_()
    ctx = MetricContext.for_explainer(model, EXPLAINERS.get("lrp"), {}, data, 16, "cpu", {},
                                      lambda seed: initial).as_kwargs()
    rel = ctx["explain"](model)
    assert (np.abs(rel).reshape(len(data), -1).max(axis=1) > 0).any()
    assert not ctx["explain"](initial).any()  # the fully randomised model's relevance
    with pytest.raises(DegenerateExplanation, match="constant"):
        Randomization()(rel, data, **ctx)


def test_constant_relevance_is_degenerate():
    model, data = mlp(), make_data()
    ctx = context(model, data, Constant)
    with pytest.raises(DegenerateExplanation, match="constant"):
        Randomization()(ctx["explain"](model), data, **ctx)
    assert issubclass(DegenerateExplanation, ValueError)


def test_partially_degenerate_samples_are_nan_only_there():
    model, data = mlp(), make_data(n=6)
    rng = np.random.default_rng(3)
    rel, other = rng.normal(size=(2, 6, T, D))
    other[[0, 2]] = 0.0  # the randomised model explains samples 0 and 2 by nothing
    rel[4] = 7.0  # and the trained model sample 4 by a constant
    scores = Randomization()(rel, data, model=model, explain=lambda m: other.copy())
    assert np.isnan(scores[[0, 2, 4]]).all()
    expected = [spearmanr(np.abs(rel[i]).ravel(), np.abs(other[i]).ravel()).statistic
                for i in (1, 3, 5)]
    np.testing.assert_allclose(scores[[1, 3, 5]], expected, atol=1e-12)
