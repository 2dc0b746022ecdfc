"""Recurrence-safe relevance propagation: hooks that attach a rule to every module call.

:func:`propagate` runs one forward pass in *relevance mode* and one backward pass, for a
whole batch: every rule-bearing module (dense, conv, pooling) returns its output through
:class:`~rnnxbench.relevance.functions.LayerRelevance`, element-wise activations pass
relevance unchanged, and torch's recurrent modules (nn.RNN / nn.GRU / nn.LSTM and their
subclasses) are run as unrolled cells built from the same functions (no cuDNN backward,
no train() mode). Modules of other libraries join through the hooks described in
:mod:`rnnxbench.relevance`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnxbench.relevance import functions as rf
from rnnxbench.relevance.arithmetic import arithmetic_rules
from rnnxbench.relevance.base import Composite, UnsupportedModel, cudnn_disabled
from rnnxbench.relevance.cells import recurrent_forward
from rnnxbench.relevance.rules import LinearOp, Proportional, linear_op

Tensor = torch.Tensor

ACTIVATIONS = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.ELU, nn.GELU, nn.Softplus)
NEUTRAL = (nn.Dropout, nn.Identity, nn.Flatten, nn.Unflatten, nn.MaxPool1d, nn.MaxPool2d,
           nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)
RECURRENT = (nn.RNN, nn.GRU, nn.LSTM)
POOLING = (nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)

#: parameter-free modules that are neither element-wise nor linear: no faithful rule here
NON_LINEAR = (nn.Softmax, nn.LogSoftmax, nn.LayerNorm, nn.BatchNorm1d, nn.BatchNorm2d,
              nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.LocalResponseNorm,
              nn.MultiheadAttention)

__all__ = ["Composite", "UnsupportedModel", "cudnn_disabled", "module_op", "propagate",
           "relevance_mode", "start_relevance"]


def module_op(module: nn.Module) -> LinearOp | None:
    """The weight-linear map of a rule-bearing module, or None.

    A module's own ``relevance_op()`` comes first; its op's ``proportional`` flag says
    whether the layer gets the composite's rule or the proportional split.
    """
    if hasattr(module, "relevance_op"):
        op = module.relevance_op()
        if op.weight is None and not op.proportional:
            raise UnsupportedModel(
                f"{type(module).__name__}.relevance_op() has no weight for the composite's "
                "rules: a parameter-free map (a mean, a pooling) sets proportional=True")
        return op
    if isinstance(module, nn.Linear):
        return linear_op(module.weight, module.bias)
    if isinstance(module, nn.Conv1d | nn.Conv2d):
        if module.padding_mode != "zeros":
            raise UnsupportedModel(f"{module}: padding_mode {module.padding_mode!r}")
        conv = F.conv1d if isinstance(module, nn.Conv1d) else F.conv2d

        def forward(x: Tensor, w: Tensor, m: nn.Module = module, conv=conv) -> Tensor:
            return conv(x, w, None, m.stride, m.padding, m.dilation, m.groups)

        return LinearOp(forward, module.weight, module.bias, 1)
    if isinstance(module, POOLING):  # type(m).forward bypasses the hooks
        return LinearOp(lambda x, w, m=module: type(m).forward(m, x), None, proportional=True)
    return None


def _shares_storage(a: Tensor, b: Tensor) -> bool:
    try:
        return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
    except RuntimeError:
        return False


@contextmanager
def relevance_mode(model: nn.Module, composite: Composite, *,
                   roles: dict[str, tuple[str, int]] | None = None,
                   model_input: Tensor | None = None) -> Iterator[None]:
    """Within the block, ``model(x)`` builds a graph whose backward pass is relevance.

    ``roles`` maps module names to ``(role, n_bounded)`` (see :class:`Composite`); without
    a declared role, a layer fed directly by ``model_input`` gets the ``input`` role.
    """
    roles = roles or {}
    handled: set[nn.Module] = set()  # modules with a rule: what happens inside is theirs
    with ExitStack() as stack:
        for name, module in model.named_modules():
            if hasattr(module, "relevance_forward"):
                # a custom cell declares its own relevance flow (its submodules keep
                # their rules through their hooks); the model's own relevance_forward
                # (the root's) still gets the rules for arithmetic between its modules
                stack.enter_context(_custom(module, composite))
                if name:
                    handled.add(module)
                continue
            if isinstance(module, RECURRENT):
                stack.enter_context(_unrolled(module, composite, model_input))
                handled.add(module)
                continue
            if list(module.children()):
                continue
            op = module_op(module)
            if op is not None:
                hook = _layer_hook(name, op, composite, roles, model_input)
                stack.enter_context(_hooked(module, hook))
            elif isinstance(module, ACTIVATIONS):
                stack.enter_context(_hooked(module, _activation_hook))
            elif isinstance(module, NON_LINEAR):
                raise UnsupportedModel(f"no relevance rule for module {name!r} "
                                       f"({type(module).__name__})")
            elif not isinstance(module, NEUTRAL):
                if list(module.parameters(recurse=False)):
                    raise UnsupportedModel(f"no relevance rule for module {name!r} "
                                           f"({type(module).__name__})")
                continue  # a parameter-free module: its arithmetic gets the rules below
            handled.add(module)
        # arithmetic outside those modules: proportional sums, or a clear refusal
        stack.enter_context(arithmetic_rules(model, handled))
        yield


@contextmanager
def _hooked(module: nn.Module, hook) -> Iterator[None]:
    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _activation_hook(module: nn.Module, args: tuple, out: Tensor) -> Tensor:
    return rf.pass_through(args[0], out)


def _layer_hook(name: str, op: LinearOp, composite: Composite,
                roles: dict[str, tuple[str, int]], model_input: Tensor | None):
    def hook(module: nn.Module, args: tuple, out: Tensor) -> Tensor:
        x = args[0]
        if op.proportional:
            return rf.layer(x, out, Proportional(bias_factor=composite.gate_bias_factor), op)
        role, n_bounded = roles.get(name, (None, 0))
        if role is None:
            fed_by_input = model_input is not None and _shares_storage(x, model_input)
            role = "input" if fed_by_input else "hidden"
        rule = composite.rule(role, n_bounded)
        return rf.layer(x, out, rule, op)

    return hook


@contextmanager
def _unrolled(module: nn.Module, composite: Composite,
              model_input: Tensor | None) -> Iterator[None]:
    """Run ``module`` (nn.RNN/GRU/LSTM) as an unrolled cell in relevance mode; its first
    layer gets the ``mixed`` role when it is fed directly by the (bounded) model input.
    A subclass runs as the torch class it extends, so it must not override ``forward``."""
    if getattr(module, "proj_size", 0):
        raise UnsupportedModel(f"{type(module).__name__} with proj_size is not supported")
    base = next(c for c in RECURRENT if isinstance(module, c))
    if type(module).forward is not base.forward:
        raise UnsupportedModel(
            f"{type(module).__name__} overrides {base.__name__}.forward, which relevance "
            f"propagation replaces by {base.__name__}'s unrolled cell: give it "
            "relevance_forward(composite, input, hx) instead")

    def forward(input: Tensor, hx: Any = None) -> Any:
        fed_by_input = model_input is not None and _shares_storage(input, model_input)
        return recurrent_forward(module, input, hx, composite, bounded_first=fed_by_input)

    module.forward = forward
    try:
        yield
    finally:
        del module.forward


@contextmanager
def _custom(module: nn.Module, composite: Composite) -> Iterator[None]:
    """Run ``module.relevance_forward(composite, ...)`` in place of its forward."""

    def forward(*args: Any, **kwargs: Any) -> Any:
        return module.relevance_forward(composite, *args, **kwargs)

    module.forward = forward
    try:
        yield
    finally:
        del module.forward


def start_relevance(logits: Tensor, target: Tensor, start: str) -> Tensor:
    """Output relevance: the target logit (``"logit"``) or its positive part
    (``"positive"``) at the target class, zero elsewhere."""
    if start not in ("positive", "logit"):
        raise ValueError(f"start must be 'positive' or 'logit', got {start!r}")
    score = logits.detach().gather(1, target[:, None])
    if start == "positive":
        score = score.clamp(min=0)
    return torch.zeros_like(logits).scatter(1, target[:, None], score)


def propagate(model: nn.Module, inputs: Tensor, target: Tensor, composite: Composite, *,
              start: str = "positive", roles: dict[str, tuple[str, int]] | None = None,
              bounded_input: bool = False) -> Tensor:
    """Input relevance for ``target``: one relevance-mode forward and backward pass."""
    model.eval()
    x = inputs.detach().clone().requires_grad_(True)
    with cudnn_disabled(), torch.enable_grad():
        with relevance_mode(model, composite, roles=roles,
                            model_input=x if bounded_input else None), _frozen(model):
            logits = model(x)
        # the graph holds the rules: the backward needs neither hooks nor the torch mode
        R0 = start_relevance(logits, target, start)
        (R,) = torch.autograd.grad(logits, x, R0, allow_unused=True)
    return torch.zeros_like(x) if R is None else R.detach()


@contextmanager
def _frozen(model: nn.Module) -> Iterator[None]:
    """Parameters need no graph during propagation (relevance flows to inputs only)."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


