"""Captum adapters: integrated gradients, input x gradient, GradientSHAP, SmoothGrad, DeepLift.

Each runs the captum method for the whole batch in eval mode with cuDNN off (the gradient
explainers' :func:`~rnnxbench.explainers.gradient.gradient_mode`), never ``train()``, and
differentiates w.r.t. the inputs only. Captum is an optional dependency, imported on first
use. The sampling methods seed torch's and numpy's global generators from their ``seed``
option for the call and restore them afterwards, so results are deterministic.
"""

from __future__ import annotations

import contextlib
import importlib
import warnings
from collections import Counter
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnxbench.explainers.base import Explainer, target_tensor
from rnnxbench.explainers.gradient import gradient_mode
from rnnxbench.registry import EXPLAINERS
from rnnxbench.relevance import UnsupportedModel
from rnnxbench.validate import Interval, Options


def captum_attr() -> ModuleType:
    """``captum.attr``, or an ImportError that says how to get it (captum is optional)."""
    try:
        return importlib.import_module("captum.attr")
    except ImportError as exc:
        raise ImportError("this explainer needs captum: pip install captum") from exc


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Torch's (CPU and ``device``) and numpy's global generators seeded with ``seed``
    inside the block and restored after it (captum draws from both)."""
    devices = [device.index or 0] if device.type == "cuda" else []
    state = np.random.get_state()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            np.random.set_state(state)


class CaptumExplainer(Explainer):
    """Base class: :meth:`run` calls captum on detached inputs and ``(N,)`` targets."""

    def run(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def attribute(self, inputs: torch.Tensor, target: torch.Tensor | int) -> torch.Tensor:
        x = inputs.detach().requires_grad_(True)  # a new leaf: the caller's tensor is kept
        t = target_tensor(target, x.shape[0], x.device)
        with gradient_mode(self.model):
            rel = self.run(x, t)
        return rel.detach().to(inputs.dtype)


@EXPLAINERS.register("ig")
class IntegratedGradients(CaptumExplainer):
    """Integrated gradients from the zero baseline (``n_steps`` default 32, captum's
    Gauss-Legendre rule); ``internal_batch_size`` caps the rows per forward pass."""

    description = "Integrated gradients (captum) from the all-zero baseline"

    parameter_constraints = {
        "n_steps": [Interval(int, 1, None)],
        "method": [Options(str, ("gausslegendre", "riemann_right", "riemann_left",
                                 "riemann_middle", "riemann_trapezoid"))],
        "internal_batch_size": [Interval(int, 1, None), None],
    }

    def __init__(self, model: nn.Module, *, n_steps: int = 32, method: str = "gausslegendre",
                 internal_batch_size: int | None = None, **options: Any):
        super().__init__(model, **options)
        self.n_steps, self.method = n_steps, method
        self.internal_batch_size = internal_batch_size

    def run(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ig = captum_attr().IntegratedGradients(self.model)
        return ig.attribute(x, baselines=torch.zeros_like(x), target=target,
                            n_steps=self.n_steps, method=self.method,
                            internal_batch_size=self.internal_batch_size)


@EXPLAINERS.register("input_x_gradient")
class InputXGradient(CaptumExplainer):
    """Input times gradient of the target logit, ``R = x * d y_c / d x`` (captum)."""

    description = "Input x gradient (captum): inputs times the target-logit gradient"

    def run(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return captum_attr().InputXGradient(self.model).attribute(x, target=target)


@EXPLAINERS.register("gradient_shap")
class GradientShap(CaptumExplainer):
    """GradientSHAP (captum) with two baselines, all-zero and the batch mean.

    Options: ``n_samples`` (default 16) random points per sample, ``stdevs`` (default 0) of
    the input noise, ``seed`` (default 0) for the baseline draws and interpolation points.
    """

    description = "GradientSHAP (captum), baselines zero and the batch mean, seeded"

    parameter_constraints = {"n_samples": [Interval(int, 1, None)],
                             "stdevs": [Interval(float, 0, None)],
                             "seed": [Interval(int, 0, None)]}

    def __init__(self, model: nn.Module, *, n_samples: int = 16, stdevs: float = 0.0,
                 seed: int = 0, **options: Any):
        super().__init__(model, **options)
        self.n_samples, self.stdevs, self.seed = n_samples, stdevs, seed

    def run(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        baselines = torch.cat([torch.zeros_like(x[:1]), x.detach().mean(dim=0, keepdim=True)])
        with seeded(self.seed, x.device):
            return captum_attr().GradientShap(self.model).attribute(
                x, baselines=baselines, target=target, n_samples=self.n_samples,
                stdevs=self.stdevs)


@EXPLAINERS.register("smoothgrad")
class SmoothGrad(CaptumExplainer):
    """SmoothGrad: captum's NoiseTunnel over Saliency, the mean over ``nt_samples`` (default
    16) noisy copies of ``|d y_c / d x|`` (``absolute=False``: of the signed gradient).

    ``stdevs`` is the noise's standard deviation; by default 0.15 of the input range, from
    the model's ``spec.bounds`` when declared, else from the batch's min and max.
    """

    description = "SmoothGrad (captum NoiseTunnel over Saliency), seeded Gaussian input noise"

    parameter_constraints = {
        "nt_samples": [Interval(int, 1, None)], "stdevs": [Interval(float, 0, None), None],
        "absolute": [bool], "seed": [Interval(int, 0, None)],
        "nt_samples_batch_size": [Interval(int, 1, None), None],
    }

    def __init__(self, model: nn.Module, *, nt_samples: int = 16, stdevs: float | None = None,
                 absolute: bool = True, seed: int = 0, nt_samples_batch_size: int | None = None,
                 **options: Any):
        super().__init__(model, **options)
        self.nt_samples, self.stdevs, self.absolute = nt_samples, stdevs, absolute
        self.seed, self.nt_samples_batch_size = seed, nt_samples_batch_size

    def noise_std(self, x: torch.Tensor) -> float:
        if self.stdevs is not None:
            return float(self.stdevs)
        bounds = getattr(getattr(self.model, "spec", None), "bounds", None)
        lo, hi = bounds if bounds is not None else (x.min().item(), x.max().item())
        return 0.15 * (hi - lo)

    def run(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        attr = captum_attr()
        tunnel = attr.NoiseTunnel(attr.Saliency(self.model))
        with seeded(self.seed, x.device):
            return tunnel.attribute(x, nt_type="smoothgrad", nt_samples=self.nt_samples,
                                    nt_samples_batch_size=self.nt_samples_batch_size,
                                    stdevs=self.noise_std(x), target=target,
                                    abs=self.absolute)


def reused_modules(model: nn.Module, sample: torch.Tensor) -> dict[str, int]:
    """Modules called more than once in one forward pass of ``sample``: name -> calls."""
    calls: Counter[str] = Counter()

    def hook_for(name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            calls[name] += 1
        return hook

    handles = [m.register_forward_hook(hook_for(name or type(model).__name__))
               for name, m in model.named_modules()]
    try:
        with torch.no_grad():
            model(sample)
    finally:
        for handle in handles:
            handle.remove()
    return {name: n for name, n in calls.items() if n > 1}


def deeplift_obstacle(model: nn.Module, sample: torch.Tensor) -> str | None:
    """Why captum's DeepLift cannot explain ``model`` correctly, or None.

    Captum's DeepLift hooks each non-linearity *module* and stores its input and output on
    the module: torch's fused recurrent modules hide their tanh/sigmoid gates from it (its
    documentation), and a module called more than once per forward (e.g. a ReLU reused at
    every time step) fails or gets the wrong multipliers (captum issues #200, #578, #1082).
    Functional non-linearities (``torch.relu`` in ``forward``) are invisible to both captum
    and this check.
    """
    rnns = [f"{name} ({type(m).__name__})" for name, m in model.named_modules()
            if isinstance(m, nn.RNNBase)]
    if rnns:
        return (f"captum's DeepLift cannot reach the gates inside torch's fused recurrent "
                f"modules ({', '.join(rnns)}); its rescale rule needs every non-linearity "
                f"as a separate module")
    reused = reused_modules(model, sample)
    if reused:
        listed = ", ".join(f"{name!r} x{n}" for name, n in sorted(reused.items()))
        return (f"captum's DeepLift stores each module's input/output on the module, so "
                f"modules called more than once per forward fail or get wrong multipliers "
                f"(captum issues #200, #578, #1082); reused here: {listed}")
    return None


@EXPLAINERS.register("deeplift")
class DeepLift(CaptumExplainer):
    """DeepLift (rescale rule, captum) from the zero baseline; feed-forward models only.

    Raises :class:`~rnnxbench.relevance.UnsupportedModel` for models with torch
    recurrent modules or modules reused within a forward pass (see :func:`deeplift_obstacle`).
    """

    description = "DeepLift rescale (captum) from zero; unsupported on recurrent/reused modules"

    def run(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        reason = deeplift_obstacle(self.model, x[:1])
        if reason:
            raise UnsupportedModel(reason)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Setting forward, backward hooks")
            return captum_attr().DeepLift(self.model).attribute(
                x, baselines=torch.zeros_like(x), target=target)
