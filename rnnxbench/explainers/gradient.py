"""Gradient explainers (spec §2): sensitivity analysis and guided backprop, both squared.

Both differentiate each sample's target-class logit with one batched forward and backward
pass, in eval mode, w.r.t. the inputs only (model parameters accumulate no ``.grad``).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from rnnxbench.explainers.base import Explainer, target_tensor
from rnnxbench.registry import EXPLAINERS
from rnnxbench.relevance import cudnn_disabled


@contextlib.contextmanager
def gradient_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode, grad enabled; cuDNN off when the model has cuDNN RNNs (eval backward).
    What every gradient-based explainer runs in (here and in the captum adapters)."""
    model.eval()
    if any(isinstance(m, nn.RNNBase) for m in model.modules()):
        flags = cudnn_disabled()
    else:
        flags = contextlib.nullcontext()
    with flags, torch.enable_grad():
        yield


def target_gradient(model: nn.Module, inputs: torch.Tensor,
                    target: torch.Tensor | int) -> torch.Tensor:
    """``d logit[n, target[n]] / d inputs[n]`` for every sample n, in one backward pass."""
    x = inputs.detach().requires_grad_(True)
    with gradient_mode(model):
        out = model(x)
        if out.dim() != 2 or out.shape[0] != x.shape[0]:
            raise ValueError(f"model output should be (N, n_classes), got {tuple(out.shape)}")
        t = target_tensor(target, x.shape[0], out.device)
        selected = out.gather(1, t[:, None]).sum()
        (grad,) = torch.autograd.grad(selected, x)
    return grad.detach().to(inputs.dtype)


@EXPLAINERS.register("sa")
class SensitivityAnalysis(Explainer):
    """Sensitivity analysis: squared gradient of the target logit, ``R = (d y_c / d x)^2``."""

    description = "Sensitivity analysis: squared gradient of the target-class logit"

    def attribute(self, inputs: torch.Tensor, target: torch.Tensor | int) -> torch.Tensor:
        return target_gradient(self.model, inputs, target) ** 2


class _GuidedReLU(torch.autograd.Function):
    """ReLU whose backward passes only positive gradient through active units."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        out = x.clamp_min(0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (out,) = ctx.saved_tensors
        return grad.clamp_min(0) * (out > 0)


def _guided_hook(module: nn.Module, inputs: tuple[torch.Tensor, ...],
                 output: torch.Tensor) -> torch.Tensor:
    # Runs at every call, so a ReLU module reused at each time step is guided at each step.
    return _GuidedReLU.apply(inputs[0])


@contextlib.contextmanager
def guided_relus(model: nn.Module) -> Iterator[int]:
    """Within the block every ``nn.ReLU`` of ``model`` has the guided backward; yields count."""
    handles = [m.register_forward_hook(_guided_hook) for m in model.modules()
               if isinstance(m, nn.ReLU)]
    try:
        yield len(handles)
    finally:
        for handle in handles:
            handle.remove()


@EXPLAINERS.register("gb")
class GuidedBackprop(Explainer):
    """Guided backprop: ReLU backward ``g * [g > 0] * [out > 0]``; ``R = grad^2``.

    Only ``nn.ReLU`` modules are guided (functional ReLUs are not seen), hence
    ``requires = {"relu"}``: the model must declare that its non-linearities are ReLU modules.
    """

    description = "Guided backprop: squared gradient with positive-only ReLU backward"
    requires = frozenset({"relu"})

    def attribute(self, inputs: torch.Tensor, target: torch.Tensor | int) -> torch.Tensor:
        with guided_relus(self.model) as n_relus:
            if n_relus == 0:
                warnings.warn(f"{type(self.model).__name__} has no nn.ReLU modules; "
                              "guided backprop equals the plain gradient", RuntimeWarning,
                              stacklevel=2)
            grad = target_gradient(self.model, inputs, target)
        return grad**2
