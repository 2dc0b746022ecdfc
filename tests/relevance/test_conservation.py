"""Conservation on every registered architecture (float64, random weights and inputs).

DTD and LRP-alpha-beta (alpha - beta = 1) redistribute the explained score without loss in
bias-free ReLU models, LRP-epsilon with ``bias_factor=1`` in any model: the input relevance
sums to ``max(0, logit_target)`` (``start="positive"``) or the logit (``start="logit"``).
Architectures that cannot take 28x7 steps, have no bias-free option (where one is needed)
or do not support an explainer (declared) are skipped with the reason.

The one place relevance may legitimately leave is the zero initial state of the recurrence
(spec recurrent-lrp.md: "sum of input relevance plus initial-state relevance equals the
explained score"): the epsilon rule with ``bias_factor=1`` spreads each output's
stabiliser/bias share evenly over *all* its inputs, including ``r_0 = 0``. To count that
share, the forward pass runs with every zero tensor created by ``new_zeros`` /
``torch.zeros`` / ``torch.zeros_like`` made a leaf that receives relevance. The z+ /
z-beta / mixed rules give zero inputs exactly zero relevance, which is asserted too.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch

from rnnxbench.explainers.base import unsupported_reason
from rnnxbench.registry import ARCHITECTURES, EXPLAINERS
from rnnxbench.relevance import relevance_mode
from rnnxbench.relevance.propagate import start_relevance
from rnnxbench.tasks.base import InputSpec

DT = torch.float64
N = 4
RTOL = 1e-6

#: (explainer, options): every one must conserve in a bias-free ReLU model
METHODS = {
    "dtd": ("dtd", {}),
    "lrp_a1b0": ("lrp", {"alpha": 1.0, "beta": 0.0}),
    "lrp_default": ("lrp", {}),  # alpha 1.5, beta 0.5
    "lrp_a2b1": ("lrp", {"alpha": 2.0, "beta": 1.0}),
    "lrp_eps_bf1": ("lrp_eps", {"bias_factor": 1.0, "start": "logit"}),
}
#: (method, T) pairs checked on every architecture (T = 12 for the issue's two, to keep
#: the conv architectures' float64 runs short)
CASES = [(m, t) for m in METHODS for t in (1, 3)] + [("dtd", 12), ("lrp_eps_bf1", 12)]


def _build(name: str, n_steps: int, bias: str = "none") -> torch.nn.Module:
    """``bias``: "none" (bias-free, skip when the architecture has no bias option),
    "prefer_none" (bias-free when possible, else the default) or "default"."""
    cls = ARCHITECTURES.get(name)
    spec = InputSpec(n_steps=n_steps, step_dim=196, step_shape=(1, 28, 7), n_classes=10)
    reason = cls.check_input(spec) if hasattr(cls, "check_input") else None
    if reason:
        pytest.skip(f"{name} cannot take 28x7 steps: {reason}")
    options = {}
    if bias != "default":
        if "bias" in inspect.signature(cls).parameters:
            options["bias"] = "none"
        elif bias == "none":
            pytest.skip(f"{name} has no bias option: not a bias-free model")
    torch.manual_seed(0)
    try:
        model = cls(spec, **options)
    except (TypeError, ValueError) as exc:
        pytest.skip(f"{name} cannot be built with {options}: {exc}")
    return model.to(DT).eval().requires_grad_(False)


def _data(model: torch.nn.Module, n_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(n_steps)
    x = torch.rand(N, n_steps, 196, generator=g, dtype=DT) * 2 - 1
    with torch.no_grad():
        logits = model(x)
    # half the samples explain the predicted class (mostly positive logits), half a random one
    target = torch.randint(0, 10, (N,), generator=g)
    target[: N // 2] = logits[: N // 2].argmax(1)
    return x, target


@contextmanager
def _zeros_receive_relevance(states: list[torch.Tensor]) -> Iterator[None]:
    """Zero float tensors created while active become leaves that collect relevance."""
    originals = torch.Tensor.new_zeros, torch.zeros, torch.zeros_like

    def tracked(make):
        def wrapper(*args, **kwargs):
            t = make(*args, **kwargs)
            if torch.is_grad_enabled() and t.is_floating_point() and not t.requires_grad:
                states.append(t.requires_grad_(True))
                return t.clone()  # a non-leaf: in-place writes stay legal
            return t
        return wrapper

    torch.Tensor.new_zeros = tracked(originals[0])
    torch.zeros, torch.zeros_like = tracked(originals[1]), tracked(originals[2])
    try:
        yield
    finally:
        torch.Tensor.new_zeros, torch.zeros, torch.zeros_like = originals


def _relevance(explainer, x: torch.Tensor, target: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Input relevance, relevance of the zero initial states (per sample) and the logits,
    from the explainer's composite and the model's roles (as ``attribute`` runs them)."""
    model = explainer.model
    roles = model.relevance_roles() if hasattr(model, "relevance_roles") else {}
    composite = explainer.composite(explainer.bounds)
    xg = x.clone().requires_grad_(True)
    states: list[torch.Tensor] = []
    bounded = xg if explainer.bounds is not None else None
    with torch.enable_grad(), relevance_mode(model, composite, roles=roles,
                                             model_input=bounded):
        with _zeros_receive_relevance(states):
            logits = model(xg)
        R0 = start_relevance(logits, target, explainer.start)
        grads = torch.autograd.grad(logits, [xg, *states], R0, allow_unused=True)
    R_x = torch.zeros_like(x) if grads[0] is None else grads[0]
    R_states = x.new_zeros(N)
    for g in grads[1:]:
        if g is not None and g.shape[:1] == (N,):
            R_states = R_states + g.reshape(N, -1).sum(1)
        elif g is not None:  # e.g. (layers, N, H) initial states of nn.RNN modules
            R_states = R_states + g.transpose(0, 1).reshape(N, -1).sum(1)
    return R_x.detach(), R_states.detach(), logits.detach()


def _explainer(model, method: str):
    name, options = METHODS[method]
    cls = EXPLAINERS.get(name)
    reason = unsupported_reason(cls, model)
    if reason:
        pytest.skip(f"{name} on {type(model).__name__}: {reason}")
    return cls(model, **options)


def _check_conserves(explainer, x, target, *, states_may_hold: bool):
    R_x, R_states, logits = _relevance(explainer, x, target)
    score = logits.gather(1, target[:, None])[:, 0]
    if explainer.start == "positive":
        score = score.clamp(min=0)
    assert (score.abs() > 1e-6).sum() >= N // 2  # the check is not vacuous
    total = R_x.reshape(N, -1).sum(1) + R_states
    err = (total - score).abs()
    assert bool((err <= RTOL * score.abs() + 1e-12).all()), (
        f"sum R = {total.tolist()}, score = {score.tolist()}, rel err {(err / score.abs()).max()}")
    if not states_may_hold:  # z+, z-beta, mixed: nothing goes to the zero initial state
        assert bool((R_states.abs() <= 1e-12 * (score.abs() + 1)).all())
    if x.shape[1] == 3:  # the run above is exactly what the registered explainer computes
        torch.testing.assert_close(explainer.attribute(x, target), R_x, rtol=1e-12,
                                   atol=1e-14)
    return R_x


@pytest.mark.parametrize(("method", "n_steps"), CASES)
@pytest.mark.parametrize("arch", ARCHITECTURES.names())
def test_conservation_bias_free(arch, method, n_steps):
    # epsilon with bias_factor=1 conserves with biases too: no bias option is no reason to skip
    model = _build(arch, n_steps, "prefer_none" if method == "lrp_eps_bf1" else "none")
    explainer = _explainer(model, method)
    x, target = _data(model, n_steps)
    _check_conserves(explainer, x, target, states_may_hold=METHODS[method][0] == "lrp_eps")


@pytest.mark.parametrize("n_steps", [1, 3])
@pytest.mark.parametrize("arch", ARCHITECTURES.names())
def test_epsilon_bias_factor_conserves_with_biases(arch, n_steps):
    """With biases (the default option), bias_factor=1 still conserves (input + r_0)."""
    model = _build(arch, n_steps, "default")
    with torch.no_grad():  # the thesis' -0.01 biases are small: make their share visible
        for name, p in model.named_parameters():
            if "bias" in name:
                p.add_(torch.randn_like(p))
    explainer = _explainer(model, "lrp_eps_bf1")
    x, target = _data(model, n_steps)
    _check_conserves(explainer, x, target, states_may_hold=True)


@pytest.mark.parametrize("arch", ARCHITECTURES.names())
def test_dtd_equals_lrp_alpha1_beta0(arch):
    model = _build(arch, 3)
    x, target = _data(model, 3)
    dtd = _explainer(model, "dtd").attribute(x, target)
    a1b0 = _explainer(model, "lrp_a1b0").attribute(x, target)
    torch.testing.assert_close(dtd, a1b0, rtol=1e-12, atol=1e-14)
