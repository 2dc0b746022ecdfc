"""Temporal saliency rescaling (TSR, Ismail et al. 2020) around any registered explainer.

With ``R(x)`` the base explainer's relevance ``(T, D)`` of one sample:

1. time relevance of step t: ``tau_t = sum |R(x with step t set to the baseline) - R(x)|``;
2. for every step with ``tau_t > alpha`` (default: above the sample's mean ``tau``), the
   feature relevance of value (t, d): ``phi_td = sum |R(x with value (t, d) set to the
   baseline) - R(x)|``; ``phi = 0`` in the other steps;
3. ``R_TSR[t, d] = tau_t * phi_td``.

Sums run over all ``T x D`` values of the map. This is the paper's Algorithm 1 (its code
minmax-scales ``tau`` and ``phi`` and gives unselected steps ``phi = 0.1``; we keep the
raw products and 0). All masked copies (``T`` per sample for step 1, ``D`` per selected step
for step 2) go through the base explainer in batches of at most ``max_batch`` sequences,
built chunk by chunk: ``N (T + D * selected steps)`` base explanations per batch of ``N``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rnnxbench.explainers.base import Explainer, target_tensor, unsupported_reason
from rnnxbench.explainers.perturbation import Baseline, baseline_tensor, check_baseline
from rnnxbench.registry import EXPLAINERS
from rnnxbench.relevance import UnsupportedModel
from rnnxbench.validate import Interval, Options, validate_options


def explainer_class(base: str | type) -> type:
    """A registered explainer's class by name, or ``base`` itself when it is a class."""
    return EXPLAINERS.get(base) if isinstance(base, str) else base


@EXPLAINERS.register("tsr")
class TSR(Explainer):
    """Temporal saliency rescaling (Ismail et al. 2020) of a base explainer (option ``base``).

    Options: ``base`` (a registered explainer name, default ``"sa"``, or an explainer
    class), ``base_options`` (its options, e.g. ``{n_steps = 8}`` for ``ig``), ``alpha``
    (threshold on the time relevance; None: each sample's mean), ``baseline`` (the masking
    value, as for erasure: ``"zero"``, ``"mean"``, a number or an array; default zero),
    ``max_batch`` (sequences per base-explainer call, 512). When the base explainer does
    not support the model, the pair is unsupported (:class:`UnsupportedModel`).
    ``TSR.wrap(base, **options)`` makes a class with those defaults (``TSR.wrap("ig")``).
    """

    description = "Temporal saliency rescaling (Ismail et al. 2020) of a base explainer"

    parameter_constraints = {
        "base": [str, type], "base_options": [dict, None], "alpha": [float, None],
        "baseline": [Options(str, ("zero", "mean")), float, list, tuple, torch.Tensor],
        "max_batch": [Interval(int, 1, None)],
    }

    @classmethod
    def check_parameters(cls, options: dict[str, Any]) -> None:
        """The base explainer is registered and ``base_options`` are valid for it (the
        default base ``sa`` of ``tsr``; a :meth:`wrap` class checks an explicit ``base``)."""
        base = options.get("base", "sa" if cls is TSR else None)
        if base is not None:
            name = base if isinstance(base, str) else base.__name__
            validate_options(explainer_class(base), options.get("base_options") or {},
                             where=f"base_options for base {name!r}", positional=1)

    def __init__(self, model: nn.Module, *, base: str | type = "sa",
                 base_options: dict[str, Any] | None = None, alpha: float | None = None,
                 baseline: Baseline = "zero", max_batch: int = 512, **options: Any):
        super().__init__(model, base=base, base_options=base_options, alpha=alpha,
                         baseline=baseline, max_batch=max_batch, **options)
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be a positive integer, got {max_batch!r}")
        base_cls = explainer_class(base)
        reason = unsupported_reason(base_cls, model)
        if reason:
            raise UnsupportedModel(f"TSR's base explainer: {reason}")
        self.base = base_cls(model, **(base_options or {}))
        self.alpha = None if alpha is None else float(alpha)
        self.baseline = check_baseline(baseline)
        self.max_batch = max_batch

    @classmethod
    def code_dependencies(cls, options: dict[str, Any]) -> tuple[type, ...]:
        """The base explainer (and what it depends on)."""
        base = explainer_class(options.get("base", "sa"))
        deps = getattr(base, "code_dependencies", None)
        nested = deps(options.get("base_options") or {}) if callable(deps) else ()
        return (base, *nested)

    @classmethod
    def wrap(cls, base: str | type, **options: Any) -> type[TSR]:
        """A TSR class around ``base`` with default ``options``, used like any explainer
        class (``TSR.wrap("ig", base_options={"n_steps": 8})(model).attribute(x, y)``)."""
        base_cls = explainer_class(base)
        defaults = {"base": base_cls, **options}

        def __init__(self: TSR, model: nn.Module, **more: Any) -> None:
            cls.__init__(self, model, **{**defaults, **more})

        name = f"TSR_{base_cls.__name__}"
        return type(name, (cls,), {
            "__init__": __init__, "__module__": cls.__module__, "__qualname__": name,
            "__doc__": f"Temporal saliency rescaling of {base_cls.__name__}.",
            "requires": frozenset(getattr(base_cls, "requires", ())),
        })

    def _changes(self, x: torch.Tensor, ref: torch.Tensor, target: torch.Tensor,
                 base: torch.Tensor, sample: torch.Tensor, step: torch.Tensor,
                 feature: torch.Tensor | None, shape: tuple[int, ...]) -> torch.Tensor:
        """``sum |R(masked copy) - R(x)|`` per row: row r masks step ``step[r]`` of sample
        ``sample[r]`` (only its value ``feature[r]`` when given). ``x`` and ``ref`` are
        ``(N, T, V)``, ``base`` ``(T, V)``; ``shape`` is one sample's input shape. The
        copies are made and explained chunk by chunk."""
        out = torch.empty(len(sample), dtype=ref.dtype, device=ref.device)
        for start in range(0, len(sample), self.max_batch):
            rows = slice(start, start + self.max_batch)
            i, s = sample[rows], step[rows]
            copies = x[i]  # advanced indexing: a copy
            k = torch.arange(len(i), device=x.device)
            if feature is None:
                copies[k, s] = base[s]
            else:
                f = feature[rows]
                copies[k, s, f] = base[s, f]
            rel = self._explain(copies.reshape(len(i), *shape), target[i]).view_as(ref[i])
            out[rows] = (rel - ref[i]).abs().sum(dim=(1, 2))
        return out

    def _explain(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        rel = torch.as_tensor(self.base.attribute(x, target=target), device=x.device)
        return rel.detach().to(x.dtype).reshape(len(x), x.shape[1], -1)

    def attribute(self, inputs: torch.Tensor, target: torch.Tensor | int) -> torch.Tensor:
        x = inputs.detach()
        n, n_steps = x.shape[:2]
        shape = tuple(x.shape[1:])
        xv = x.reshape(n, n_steps, -1)
        n_values = xv.shape[2]
        t = target_tensor(target, n, x.device)
        base = baseline_tensor(self.baseline, x).reshape(n_steps, n_values)
        ref = self._explain(x, t)  # (N, T, V)
        # step 1: every (sample, step) pair, row = step * N + sample
        rows = torch.arange(n * n_steps, device=x.device)
        tau = self._changes(xv, ref, t, base, rows % n, rows // n, None, shape)
        tau = tau.view(n_steps, n).T  # (N, T)
        # step 2: every value of the selected steps, row = pair * V + value
        threshold = tau.mean(dim=1, keepdim=True) if self.alpha is None else self.alpha
        pair_sample, pair_step = torch.nonzero(tau > threshold, as_tuple=True)
        phi = torch.zeros_like(ref)
        if len(pair_sample):
            rows = torch.arange(len(pair_sample) * n_values, device=x.device)
            pair, value = rows // n_values, rows % n_values
            changes = self._changes(xv, ref, t, base, pair_sample[pair], pair_step[pair],
                                    value, shape)
            phi[pair_sample, pair_step] = changes.view(-1, n_values)
        return (tau[:, :, None] * phi).reshape(x.shape).to(inputs.dtype)
