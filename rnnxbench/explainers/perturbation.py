"""Perturbation explainers: erasure (Li et al. 2016) and occlusion (captum's ``Occlusion``).

Both replace part of the input by a *baseline* and score how much the explained class loses.
``baseline`` is ``"background"`` (default: the task's background value, the model's
``spec.background`` -- -1 for MAJ's black background after scaling, 0 for the synthetic,
arithmetic and UCR tasks; 0 for a plain torch model without a ``spec``), ``"zero"``,
``"mean"`` (the batch's mean over samples per (t, d), so it depends on the batch), a
number, or an array broadcastable to one sample's ``(T, D)`` (e.g. a per-step/feature data
mean of shape ``(T, D)`` or ``(D,)``).

``score`` is what is compared between ``x`` and the perturbed ``x'``, for class c:

- ``"logit"``:    ``y_c(x) - y_c(x')``
- ``"log_prob"``: ``log p_c(x) - log p_c(x')`` (``p = softmax(y)``)
- ``"relative"``: ``(log p_c(x) - log p_c(x')) / max(|log p_c(x)|, eps)`` -- Li et al.'s
  relative change of the log-likelihood; positive when erasing hurts the class. ``eps``
  (default 1e-6) only matters when ``p_c(x)`` rounds to 1, where the change is undefined.

Perturbed copies are evaluated in batched forward passes of at most ``max_batch`` rows
(eval mode, no gradients).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from rnnxbench.explainers.base import Explainer, target_tensor
from rnnxbench.explainers.captum import captum_attr
from rnnxbench.registry import EXPLAINERS
from rnnxbench.validate import Interval, Options, SequenceOf

Baseline = str | float | Sequence[Any] | torch.Tensor
SCORES = ("relative", "log_prob", "logit")
#: the named baselines (see the module docstring)
NAMED_BASELINES = ("background", "zero", "mean")


def spread_over_steps(step_scores: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """``(N, T)`` step scores spread uniformly over each step's values, shaped like
    ``inputs``: each value gets ``score / D``, so a step's values sum to its score."""
    n, n_steps = inputs.shape[:2]
    per_step = inputs[0, 0].numel() if n else 1
    shape = (n, n_steps) + (1,) * (inputs.dim() - 2)
    spread = (step_scores.to(inputs.dtype) / per_step).reshape(shape)
    return spread.expand(inputs.shape).contiguous()


def model_background(model: nn.Module) -> float:
    """The background value of ``model``'s inputs: its ``spec.background`` (registered
    architectures), else 0."""
    return float(getattr(getattr(model, "spec", None), "background", 0.0))


def baseline_tensor(baseline: Baseline, inputs: torch.Tensor,
                    background: float = 0.0) -> torch.Tensor:
    """The replacement values as a ``(1, T, D)`` tensor (one sample's shape);
    ``"background"`` is ``background`` everywhere."""
    shape = inputs.shape[1:]
    if isinstance(baseline, str):
        if baseline == "background":
            return inputs.new_full((1, *shape), float(background))
        if baseline == "zero":
            return inputs.new_zeros((1, *shape))
        if baseline == "mean":
            return inputs.detach().mean(dim=0, keepdim=True)
        raise ValueError(f"baseline must be 'background', 'zero', 'mean', a number or an "
                         f"array, got {baseline!r}")
    value = torch.as_tensor(baseline, dtype=inputs.dtype, device=inputs.device)
    try:
        return value.expand(shape).unsqueeze(0)
    except RuntimeError as exc:
        raise ValueError(f"baseline of shape {tuple(value.shape)} does not broadcast to one "
                         f"sample's shape {tuple(shape)}") from exc


def check_baseline(baseline: Baseline) -> Baseline:
    """``baseline`` if it is ``"background"``, ``"zero"``, ``"mean"``, a number or an array,
    else ValueError."""
    if isinstance(baseline, bool) or (isinstance(baseline, str)
                                      and baseline not in NAMED_BASELINES):
        raise ValueError(f"baseline must be 'background', 'zero', 'mean', a number or an "
                         f"array, got {baseline!r}")
    return baseline


class _Perturbation(Explainer):
    """Shared options: ``baseline``, ``score``, ``eps`` and ``max_batch``."""

    default_score = "relative"

    parameter_constraints = {
        "baseline": [Options(str, NAMED_BASELINES), float, list, tuple, torch.Tensor],
        "score": [Options(str, SCORES), None],
        "eps": [Interval(float, 0, None, closed="neither")],
        "max_batch": [Interval(int, 1, None)],
    }

    def __init__(self, model: nn.Module, *, baseline: Baseline = "background",
                 score: str | None = None, eps: float = 1e-6, max_batch: int = 4096,
                 **options: Any):
        super().__init__(model, **options)
        score = self.default_score if score is None else score
        if score not in SCORES:
            raise ValueError(f"score must be one of {', '.join(SCORES)}, got {score!r}")
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be a positive integer, got {max_batch!r}")
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        self.baseline = check_baseline(baseline)
        self.score, self.eps, self.max_batch = score, float(eps), max_batch

    def transform(self, logits: torch.Tensor) -> torch.Tensor:
        """The per-class quantity that is compared: logits or log-probabilities."""
        if logits.dim() != 2:
            raise ValueError(f"model output should be (N, n_classes), got {tuple(logits.shape)}")
        return logits if self.score == "logit" else torch.log_softmax(logits, dim=1)

    def scorer(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """``inputs -> transform(model(inputs))``."""
        return lambda z: self.transform(self.model(z))

    def normaliser(self, clean: torch.Tensor) -> torch.Tensor:
        """Divisor per sample for ``clean`` (the transformed class value of ``x``)."""
        if self.score == "relative":
            return clean.abs().clamp_min(self.eps)
        return torch.ones_like(clean)

    def replacement(self, inputs: torch.Tensor) -> torch.Tensor:
        """The ``(1, T, D)`` values perturbed parts of ``inputs`` are set to."""
        return baseline_tensor(self.baseline, inputs, model_background(self.model))


@EXPLAINERS.register("erasure")
class Erasure(_Perturbation):
    """Erasure (Li et al. 2016): the score lost when one whole step is set to the baseline.

    Step t's score (``score``, default the relative log-likelihood change, see the module
    docstring) is spread uniformly over the step's D values. All T erased copies of the
    batch (``T * N`` sequences) are evaluated in chunks of ``max_batch`` rows, built chunk
    by chunk so memory stays bounded.
    """

    description = "Erasure (Li et al. 2016): relative log-likelihood change when a step is erased"

    def attribute(self, inputs: torch.Tensor, target: torch.Tensor | int) -> torch.Tensor:
        x = inputs.detach()
        n, n_steps = x.shape[:2]
        t = target_tensor(target, n, x.device)
        base = self.replacement(x)[0]  # (T, D)
        score = self.scorer()
        self.model.eval()
        with torch.no_grad():
            clean = score(x).gather(1, t[:, None])[:, 0]
            erased = torch.empty(n_steps * n, dtype=clean.dtype, device=x.device)
            for start in range(0, n_steps * n, self.max_batch):
                rows = torch.arange(start, min(start + self.max_batch, n_steps * n),
                                    device=x.device)
                steps, samples = rows // n, rows % n  # row = step * N + sample
                copies = x[samples]  # a copy (advanced indexing)
                copies[torch.arange(len(rows), device=x.device), steps] = base[steps]
                erased[rows] = score(copies).gather(1, t[samples][:, None])[:, 0]
        change = (clean[None, :] - erased.view(n_steps, n)).T  # (N, T)
        return spread_over_steps(change / self.normaliser(clean)[:, None], inputs)


def _window(window: Sequence[int | None] | None, shape: torch.Size) -> tuple[int, ...]:
    """Occlusion window over one sample's ``shape``; None or -1 entries take the whole axis."""
    if window is None:
        return (1, *shape[1:])
    window = tuple(window)
    if len(window) != len(shape):
        raise ValueError(f"window needs {len(shape)} entries (one sample is {tuple(shape)}), "
                         f"got {window}")
    sizes = tuple(size if w is None or w == -1 else int(w) for w, size in zip(window, shape,
                                                                             strict=True))
    if any(not 1 <= w <= size for w, size in zip(sizes, shape, strict=True)):
        raise ValueError(f"window {window} does not fit one sample's shape {tuple(shape)}")
    return sizes


@EXPLAINERS.register("occlusion")
class Occlusion(_Perturbation):
    """Occlusion: captum's ``Occlusion``, a window slid over each sample's ``(T, D)``.

    ``window`` defaults to ``(1, D)`` (whole steps; None or -1 entries mean the whole axis),
    ``stride`` to the window (non-overlapping patches). Captum gives each value the mean
    score of the windows covering it; that is divided by the window's volume, so when the
    windows tile the input each window's values sum to its score (as for erasure).
    ``score`` defaults to ``"logit"`` (classic occlusion); ``perturbations_per_eval`` is
    ``max_batch // N`` so the copies are batched. Captum divides by the window counts in
    float32, so the values have float32 precision whatever the input dtype.
    """

    description = "Occlusion (captum): score lost when a sliding (T, D) patch is set to baseline"
    default_score = "logit"

    parameter_constraints = {
        "window": [SequenceOf(Interval(int, 1, None), Options(int, (-1,)), None), None],
        "stride": [Interval(int, 1, None), SequenceOf(Interval(int, 1, None)), None],
    }

    def __init__(self, model: nn.Module, *, window: Sequence[int | None] | None = None,
                 stride: int | Sequence[int] | None = None, **options: Any):
        super().__init__(model, **options)
        self.window, self.stride = window, stride

    def attribute(self, inputs: torch.Tensor, target: torch.Tensor | int) -> torch.Tensor:
        x = inputs.detach()
        window = _window(self.window, x.shape[1:])
        stride = window if self.stride is None else self.stride
        stride = tuple(stride) if isinstance(stride, Sequence) else int(stride)
        t = target_tensor(target, x.shape[0], x.device)
        per_eval = max(1, self.max_batch // max(len(x), 1))
        score = self.scorer()
        self.model.eval()
        with torch.no_grad():
            occlusion = captum_attr().Occlusion(score)
            rel = occlusion.attribute(x, sliding_window_shapes=window, strides=stride,
                                      baselines=self.replacement(x), target=t,
                                      perturbations_per_eval=per_eval) / math.prod(window)
            if self.score == "relative":  # one more clean pass for the normaliser
                clean = score(x).gather(1, t[:, None])[:, 0]
                rel = rel / self.normaliser(clean).reshape((-1,) + (1,) * (x.dim() - 1))
        return rel.detach().to(inputs.dtype)
