import math

import numpy as np
import pytest
import torch
from torch import nn

from rnnxbench.explainers.base import Explainer
from rnnxbench.explainers.gradient import target_gradient
from rnnxbench.explainers.tsr import TSR
from rnnxbench.registry import EXPLAINERS, UnknownNameError
from rnnxbench.relevance import UnsupportedModel


class Quadratic(nn.Module):
    """Logits ``[q, -q]`` with ``q = sum w * x^2``: sensitivity analysis is ``4 w^2 x^2``, so
    masking value (t, d) to 0 changes exactly that value's relevance, by all of it."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = (self.w * x**2).flatten(1).sum(dim=1)
        return torch.stack([q, -q], dim=1)


class CountingSA(Explainer):
    """Sensitivity analysis that records the batch size of every call."""

    def __init__(self, model: nn.Module, **options):
        super().__init__(model, **options)
        self.calls: list[int] = []

    def attribute(self, inputs, target):
        self.calls.append(len(inputs))
        return target_gradient(self.model, inputs, target) ** 2


def quadratic_case(n=3, t=5, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(t, d, generator=g, dtype=torch.float64) + 0.1
    x = torch.randn(n, t, d, generator=g, dtype=torch.float64)
    y = torch.arange(n) % 2
    return Quadratic(w), x, y


def expected_tsr(model: Quadratic, x: torch.Tensor, alpha: float | None = None) -> np.ndarray:
    """The known answer: phi = R0 = 4 w^2 x^2, tau_t = sum_d R0[t, d]."""
    r0 = (4 * model.w**2 * x**2).detach().numpy()
    tau = r0.sum(axis=2)
    threshold = tau.mean(axis=1, keepdims=True) if alpha is None else alpha
    return np.where((tau > threshold)[:, :, None], tau[:, :, None] * r0, 0.0)


def test_registered():
    assert EXPLAINERS.get("tsr") is TSR


def test_known_answer_on_a_quadratic_model():
    model, x, y = quadratic_case()
    rel = TSR(model, base="sa").attribute(x, target=y)
    assert rel.shape == x.shape and rel.dtype == x.dtype
    want = expected_tsr(model, x)
    np.testing.assert_allclose(rel.numpy(), want, rtol=1e-10)
    # steps at or below the mean time relevance get nothing; the others keep their order
    assert (want == 0).any() and (want > 0).any()


@pytest.mark.parametrize("alpha", [-1.0, 3.0, 1e9])
def test_alpha_is_an_absolute_threshold(alpha):
    model, x, y = quadratic_case()
    rel = TSR(model, base="sa", alpha=alpha).attribute(x, target=y)
    np.testing.assert_allclose(rel.numpy(), expected_tsr(model, x, alpha), rtol=1e-10)


def test_gradient_of_a_linear_model_does_not_change_so_tsr_is_zero():
    model = nn.Sequential(nn.Flatten(), nn.Linear(20, 2)).double()
    x = torch.randn(4, 5, 4, dtype=torch.float64)
    rel = TSR(model, base="sa").attribute(x, target=1)
    assert torch.count_nonzero(rel) == 0


def test_masked_copies_are_batched_and_chunking_does_not_change_the_result():
    model, x, y = quadratic_case(n=3, t=5, d=4)
    small = TSR(model, base=CountingSA, max_batch=7)
    rel = small.attribute(x, target=y)
    n_selected = int((expected_tsr(model, x).sum(axis=2) > 0).sum())
    calls = small.base.calls
    # the clean batch, 15 step-masked copies, 4 value-masked copies per selected step
    assert calls[0] == 3 and max(calls) <= 7
    assert len(calls) == 1 + math.ceil(15 / 7) + math.ceil(4 * n_selected / 7)
    assert sum(calls) == 3 + 15 + 4 * n_selected
    big = TSR(model, base=CountingSA, max_batch=1000)
    torch.testing.assert_close(big.attribute(x, target=y), rel)
    assert len(big.base.calls) == 3


def test_trailing_step_shape_is_flattened_per_step():
    model, x, y = quadratic_case(t=5, d=4)
    shaped = Quadratic(model.w.detach().reshape(5, 2, 2))
    rel = TSR(shaped, base="sa").attribute(x.reshape(3, 5, 2, 2), target=y)
    np.testing.assert_allclose(rel.reshape(3, 5, 4).numpy(), expected_tsr(model, x),
                               rtol=1e-10)


def test_wrap_makes_an_explainer_class_with_defaults():
    model, x, y = quadratic_case()
    cls = TSR.wrap("sa", alpha=3.0)
    assert issubclass(cls, TSR) and cls.__name__ == "TSR_SensitivityAnalysis"
    np.testing.assert_allclose(cls(model).attribute(x, target=y).numpy(),
                               expected_tsr(model, x, 3.0), rtol=1e-10)
    assert cls(model, alpha=None).alpha is None  # options still override the defaults
    assert TSR.wrap("gb").requires == frozenset({"relu"})


def test_base_requirements_and_names_are_checked():
    tanh = nn.Sequential(nn.Flatten(), nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 2))
    with pytest.raises(UnsupportedModel, match="base explainer"):
        TSR(tanh, base="gb")
    with pytest.raises(UnknownNameError):
        TSR(tanh, base="saliency")
    with pytest.raises(ValueError, match="max_batch"):
        TSR(tanh, max_batch=0)


def test_base_options_reach_the_base_explainer():
    from rnnxbench.models.baselines import GRUClassifier
    from rnnxbench.tasks.base import InputSpec

    torch.manual_seed(0)
    model = GRUClassifier(InputSpec(6, 3, (3,), 2), hidden=4).eval()
    tsr = TSR(model, base="ig", base_options={"n_steps": 3})
    assert tsr.base.n_steps == 3
    rel = tsr.attribute(torch.randn(2, 6, 3), target=torch.tensor([0, 1]))
    assert rel.shape == (2, 6, 3) and torch.isfinite(rel).all() and (rel >= 0).all()


def test_cache_key_follows_the_base_explainers_code(monkeypatch):
    """A change to the base explainer's code must not serve tsr relevance from the cache."""
    import rnnxbench.engine.code as code
    from rnnxbench.config import Component, load_config
    from rnnxbench.harness.keys import explainer_key
    Saliency = EXPLAINERS.get("sa")
    assert TSR.code_dependencies({"base": "sa"}) == (Saliency,)
    cfg = load_config("synthetic", "smoke")
    tsr, control = Component("tsr", "tsr", {"base": "sa"}), Component("random", "random")
    before = explainer_key(tsr, cfg, "s"), explainer_key(control, cfg, "s")
    real = code.module_source_hash
    monkeypatch.setattr(code, "module_source_hash", lambda name: "edited" if name ==
                        Saliency.__module__ else real(name))
    after = explainer_key(tsr, cfg, "s"), explainer_key(control, cfg, "s")
    assert after[0] != before[0] and after[1] == before[1]
