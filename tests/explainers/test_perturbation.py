"""Erasure and occlusion: hand-computed values, batched evaluation, baselines and scores."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rnnxbench.explainers import Erasure, Occlusion
from rnnxbench.explainers.perturbation import baseline_tensor
from rnnxbench.models import Deep, Shallow
from rnnxbench.registry import EXPLAINERS, describe
from rnnxbench.tasks.base import InputSpec

pytest.importorskip("captum.attr")

SPEC = InputSpec(n_steps=5, step_dim=6, step_shape=(6,), n_classes=4)
DT = torch.float64


class OnlyStep(nn.Module):
    """Logits ``W x_step + b``: only step ``step`` matters."""

    def __init__(self, step: int = 2, d: int = 6, n_classes: int = 4, scale: float = 1.0):
        super().__init__()
        torch.manual_seed(0)
        self.step = step
        self.linear = nn.Linear(d, n_classes).to(DT)
        with torch.no_grad():
            self.linear.weight.mul_(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x[:, self.step])


class Counting(nn.Module):
    """Wraps a model and records the batch size of every forward call."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.calls: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(x.shape[0])
        return self.model(x)


def data(n: int = 7, n_steps: int = 5, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, n_steps, 6, generator=g, dtype=DT),
            torch.randint(0, 4, (n,), generator=g))


def deep() -> Deep:
    torch.manual_seed(0)
    return Deep(SPEC, in_units=12, cell_units=10, rec_units=8, head_units=6).to(DT).eval()


def shallow() -> Shallow:
    torch.manual_seed(0)
    return Shallow(SPEC, hidden=16).to(DT).eval()


def class_value(model: nn.Module, x: torch.Tensor, c: int, score: str) -> float:
    with torch.no_grad():
        out = model(x[None])[0]
    return float(out[c] if score == "logit" else torch.log_softmax(out, 0)[c])


def naive_erasure(model: nn.Module, x: torch.Tensor, target: torch.Tensor,
                  base: torch.Tensor, score: str = "relative", eps: float = 1e-6
                  ) -> torch.Tensor:
    """One forward per sample and erased step; the documented formula, value by value."""
    out = torch.zeros_like(x)
    for i in range(len(x)):
        c = int(target[i])
        clean = class_value(model, x[i], c, score)
        for t in range(x.shape[1]):
            erased = x[i].clone()
            erased[t] = base[t]
            change = clean - class_value(model, erased, c, score)
            if score == "relative":
                change /= max(abs(clean), eps)
            out[i, t] = change / x.shape[2]
    return out


def test_registered_with_descriptions():
    assert EXPLAINERS.get("erasure") is Erasure
    assert EXPLAINERS.get("occlusion") is Occlusion
    assert describe(Erasure) and describe(Occlusion)


def test_erasure_only_the_used_step_matters_hand_computed():
    model = OnlyStep(step=2)
    x, target = data()
    rel = Erasure(model).attribute(x, target)
    assert rel.shape == x.shape and rel.dtype == x.dtype
    assert torch.equal(rel[:, [0, 1, 3, 4]], torch.zeros_like(rel[:, [0, 1, 3, 4]]))
    # erasing step 2 with the zero baseline leaves logits b: the formula in closed form
    w, b = model.linear.weight, model.linear.bias
    with torch.no_grad():
        log_p = torch.log_softmax(x[:, 2] @ w.T + b, 1).gather(1, target[:, None])[:, 0]
        log_p_erased = torch.log_softmax(b, 0)[target]
    expected = (log_p - log_p_erased) / log_p.abs()
    torch.testing.assert_close(rel[:, 2].sum(1), expected, rtol=1e-12, atol=1e-12)
    # spread uniformly over the step's values
    torch.testing.assert_close(rel[:, 2], expected[:, None].expand(-1, 6) / 6)


@pytest.mark.parametrize("score", ["relative", "log_prob", "logit"])
@pytest.mark.parametrize("baseline", ["zero", "mean", 0.3, "array"])
@pytest.mark.parametrize("max_batch", [1, 8, 4096])
def test_erasure_batched_equals_naive_loop(score, baseline, max_batch):
    model = deep()
    x, target = data()
    if baseline == "array":
        baseline = torch.linspace(-1, 1, 30, dtype=DT).reshape(5, 6)
    base = baseline_tensor(baseline, x)[0]
    rel = Erasure(model, baseline=baseline, score=score, max_batch=max_batch).attribute(x, target)
    torch.testing.assert_close(rel, naive_erasure(model, x, target, base, score),
                               rtol=1e-10, atol=1e-12)


def test_erasure_evaluates_copies_in_few_batched_calls():
    model = Counting(shallow())
    x, target = data(n=7)  # 5 x 7 = 35 erased copies
    Erasure(model, max_batch=16).attribute(x, target)
    assert model.calls == [7, 16, 16, 3]
    model.calls.clear()
    Erasure(model).attribute(x, target)
    assert model.calls == [7, 35]


def test_baselines():
    x, _ = data()
    assert torch.equal(baseline_tensor("zero", x), torch.zeros(1, 5, 6, dtype=DT))
    torch.testing.assert_close(baseline_tensor("mean", x), x.mean(0, keepdim=True))
    assert torch.equal(baseline_tensor(-1.0, x), torch.full((1, 5, 6), -1.0, dtype=DT))
    per_feature = torch.arange(6, dtype=DT)
    assert torch.equal(baseline_tensor(per_feature, x)[0, 3], per_feature)
    assert torch.equal(baseline_tensor(per_feature.tolist(), x)[0, 4], per_feature)
    with pytest.raises(ValueError, match="broadcast"):
        baseline_tensor(torch.zeros(4, 6), x)
    model = shallow()
    target = torch.zeros(len(x), dtype=torch.long)
    by_name = Erasure(model, baseline="mean").attribute(x, target)
    by_array = Erasure(model, baseline=x.mean(0)).attribute(x, target)
    torch.testing.assert_close(by_name, by_array)
    assert not torch.allclose(by_name, Erasure(model).attribute(x, target))


def test_default_baseline_is_the_tasks_background():
    x, target = data()
    black = InputSpec(n_steps=5, step_dim=6, step_shape=(6,), n_classes=4, background=-1.0)
    torch.manual_seed(0)
    model = Shallow(black, hidden=16).to(DT).eval()
    assert torch.equal(baseline_tensor("background", x, -1.0), torch.full((1, 5, 6), -1.0,
                                                                          dtype=DT))
    for cls in (Erasure, Occlusion):
        default = cls(model).attribute(x, target)
        torch.testing.assert_close(default, cls(model, baseline="background").attribute(x, target))
        torch.testing.assert_close(default, cls(model, baseline=-1.0).attribute(x, target))
        assert not torch.allclose(default, cls(model, baseline="zero").attribute(x, target))
    base = torch.full((5, 6), -1.0, dtype=DT)
    torch.testing.assert_close(Erasure(model).attribute(x, target),
                               naive_erasure(model, x, target, base), rtol=1e-10, atol=1e-12)
    # a plain torch model has no spec: its background is 0
    plain = OnlyStep(step=2)
    for cls in (Erasure, Occlusion):
        torch.testing.assert_close(cls(plain).attribute(x, target),
                                   cls(plain, baseline="zero").attribute(x, target))


def test_baseline_option_is_declared():
    from rnnxbench.validate import InvalidParameterError, validate_options

    for cls in (Erasure, Occlusion):
        for ok in ("background", "zero", "mean", -1.0, [0.0] * 6):
            validate_options(cls, {"baseline": ok}, where="test", positional=1)
        with pytest.raises(InvalidParameterError, match="background"):
            validate_options(cls, {"baseline": "black"}, where="test", positional=1)


@pytest.mark.parametrize("options", [{"baseline": "median"}, {"baseline": True},
                                     {"score": "prob"}, {"max_batch": 0}, {"eps": 0.0}])
def test_invalid_options(options):
    with pytest.raises(ValueError):
        Erasure(shallow(), **options)


def test_relative_change_guarded_when_class_is_certain():
    model = OnlyStep(step=0, scale=1e4)
    x, _ = data(n=4)
    with torch.no_grad():
        target = model(x).argmax(1)
        log_p = torch.log_softmax(model(x), 1).gather(1, target[:, None])[:, 0]
    assert (log_p == 0).any()  # p = 1 in floating point: the plain ratio is undefined
    rel = Erasure(model, eps=1e-3).attribute(x, target)
    assert torch.isfinite(rel).all()
    expected = naive_erasure(model, x, target, torch.zeros(5, 6, dtype=DT), eps=1e-3)
    torch.testing.assert_close(rel, expected, rtol=1e-10, atol=1e-12)
    assert (rel[:, 0].sum(1) > 0).all()


def test_erasure_float32_int_target_and_no_side_effects():
    model = Shallow(SPEC, hidden=16).train()
    x, _ = data()
    x = x.float().requires_grad_(True)
    rel = Erasure(model).attribute(x, 1)
    assert rel.dtype == torch.float32 and not rel.requires_grad
    assert not model.training and all(p.grad is None for p in model.parameters())
    assert x.grad is None
    torch.testing.assert_close(rel, Erasure(model).attribute(x, torch.ones(7, dtype=torch.long)))


@pytest.mark.parametrize("score", ["logit", "relative"])
@pytest.mark.parametrize("baseline", ["zero", "mean"])
def test_whole_step_occlusion_equals_erasure(score, baseline):
    model = deep()
    x, target = data()
    occ = Occlusion(model, score=score, baseline=baseline).attribute(x, target)
    era = Erasure(model, score=score, baseline=baseline).attribute(x, target)
    torch.testing.assert_close(occ, era, rtol=1e-6, atol=1e-9)  # captum divides in float32
    same = Occlusion(model, score=score, baseline=baseline, window=(1, None)).attribute(x, target)
    torch.testing.assert_close(same, occ, rtol=0, atol=0)


def test_occlusion_default_is_logit_difference_hand_loop():
    model = shallow()
    x, target = data()
    base = torch.zeros(5, 6, dtype=DT)
    expected = naive_erasure(model, x, target, base, score="logit")
    torch.testing.assert_close(Occlusion(model).attribute(x, target), expected,
                               rtol=1e-6, atol=1e-9)


def test_occlusion_patches_sum_to_their_score():
    """Windows of 2 steps x 3 features, tiling (T=4, D=6): each patch sums to its score."""
    model = shallow()
    x, target = data(n_steps=4)
    rel = Occlusion(model, window=(2, 3), baseline=0.5).attribute(x, target)
    for i in range(len(x)):
        c = int(target[i])
        clean = class_value(model, x[i], c, "logit")
        for t0 in (0, 2):
            for d0 in (0, 3):
                occluded = x[i].clone()
                occluded[t0:t0 + 2, d0:d0 + 3] = 0.5
                change = clean - class_value(model, occluded, c, "logit")
                patch = rel[i, t0:t0 + 2, d0:d0 + 3]
                torch.testing.assert_close(patch, torch.full_like(patch, change / 6),
                                           rtol=1e-6, atol=1e-9)


def test_occlusion_overlapping_windows_average_per_value():
    """Single-step windows over 2 features with stride 1: captum's mean over the windows
    covering a value, divided by the window size."""
    model = shallow()
    x, target = data(n=2, n_steps=2)
    rel = Occlusion(model, window=(1, 2), stride=(1, 1)).attribute(x, target)
    for i in range(len(x)):
        c = int(target[i])
        clean = class_value(model, x[i], c, "logit")
        for t in range(2):
            scores = []
            for d0 in range(5):
                occluded = x[i].clone()
                occluded[t, d0:d0 + 2] = 0
                scores.append(clean - class_value(model, occluded, c, "logit"))
            for d in range(6):
                covering = [scores[d0] for d0 in range(5) if d0 <= d < d0 + 2]
                assert math.isclose(float(rel[i, t, d]), sum(covering) / len(covering) / 2,
                                    rel_tol=1e-6, abs_tol=1e-9)


def test_occlusion_batches_perturbations():
    model = Counting(shallow())
    x, target = data(n=7)
    Occlusion(model, max_batch=14).attribute(x, target)
    # captum's clean pass, then the 5 whole-step windows two at a time (2 x 7 rows)
    assert model.calls == [7, 14, 14, 7]
    model.calls.clear()
    Occlusion(model, score="relative").attribute(x, target)
    assert model.calls == [7, 35, 7]  # all windows in one pass; the normaliser's pass


def test_occlusion_bad_window():
    x, target = data()
    with pytest.raises(ValueError, match="window"):
        Occlusion(shallow(), window=(1,)).attribute(x, target)
    with pytest.raises(ValueError, match="does not fit"):
        Occlusion(shallow(), window=(6, 1)).attribute(x, target)
