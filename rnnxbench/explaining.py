"""``explain()``: one call to explain a researcher's own PyTorch model.

It sits above :mod:`rnnxbench.relevance` (it uses the explainer registry). The module is not
called ``explain``: ``rnnxbench/__init__.py`` exports the function as ``rnnxbench.explain``,
which would shadow a submodule of that name (``import rnnxbench.explain as m`` and
``mock.patch("rnnxbench.explain.X")`` would find the function, not the module).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rnnxbench.explainers.base import breaks_relu, unsupported_reason
from rnnxbench.registry import EXPLAINERS
from rnnxbench.relevance import UnsupportedModel
from rnnxbench.validate import validate_options


def explain(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor | int,
            method: str = "lrp_eps", **options: Any) -> torch.Tensor:
    """Relevance of every input value for class ``target``, shaped like ``inputs``.

    ``model`` maps a batch ``inputs`` (first axis: samples) to logits ``(N, n_classes)``;
    ``target`` is one class for all samples or one per sample. ``method`` is any registered
    explainer (``lrp_eps``, ``lrp``, ``dtd``, ``sa``, ``gb``, plugins); ``options`` go to
    its constructor (e.g. ``epsilon=1e-3``, ``bias_factor=1``, ``start="logit"``,
    ``alpha=2, beta=1``, ``bounds=(-1, 1)`` for z-beta on the input layer).

    Works on models built from nn.LSTM / nn.GRU / nn.RNN (batch_first or not, uni- or
    bidirectional, stacked), nn.Linear, nn.Conv1d/2d, pooling and element-wise activation
    modules, and indexing / concatenation / reshaping of their outputs; sums, means and
    scaling between modules split relevance in proportion to their terms, other arithmetic
    on relevance-carrying tensors raises :class:`UnsupportedModel` naming it. The model runs in
    eval mode, never in train() mode, without cuDNN and without torch's fused RNN kernels
    (relevance methods run the recurrent layers as unrolled cells); parameters get no
    ``.grad`` and the modules' train/eval flags are restored afterwards.

    Unknown or invalid ``options`` raise :class:`~rnnxbench.validate.InvalidParameterError`
    naming the valid ones. Raises :class:`UnsupportedModel` when the method's assumptions
    do not hold for ``model`` (``dtd``/``gb`` on a tanh/sigmoid/LSTM/GRU model) or a module
    has no relevance rule (e.g. nn.LayerNorm, nn.BatchNorm1d, PackedSequence inputs).
    """
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    cls = EXPLAINERS.get(method)
    validate_options(cls, options, where=f"explain(method={method!r})", positional=1)
    reason = unsupported_reason(cls, model)
    if reason:
        raise UnsupportedModel(f"method {method!r}: {_explain_reason(reason, model)}")
    modes = {m: m.training for m in model.modules()}
    try:
        return cls(model, **options).attribute(inputs, target=target)
    finally:
        for module, training in modes.items():
            module.training = training


def _explain_reason(reason: str, model: nn.Module) -> str:
    """``reason``, plus which modules break a ReLU assumption."""
    culprits = [f"{name or '<model>'!r} ({type(m).__name__})"
                for name, m in model.named_modules() if breaks_relu(m)]
    if "relu" not in reason or not culprits:
        return reason
    more = f" and {len(culprits) - 5} more" if len(culprits) > 5 else ""
    return (f"{reason}. It needs a ReLU network (its non-linearities only nn.ReLU modules "
            f"or ReLU nn.RNNs), but the model has {', '.join(culprits[:5])}{more}; "
            "use 'lrp_eps', 'lrp' or 'sa' instead")
