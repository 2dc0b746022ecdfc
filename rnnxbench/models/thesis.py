"""The thesis' ReLU recurrent architectures (spec §1): Shallow, Deep and its variants.

Written as plain torch modules so that relevance rules can walk them: every dense layer is
its own :class:`ThesisLinear`, every non-linearity its own ``nn.ReLU`` module, every dropout
its own ``nn.Dropout`` module (:class:`StationaryDropout` with ``dropout_mode="stationary"``),
and the recurrence an explicit Python loop over the T steps. Modules used inside the loop are
reused (called once per step); layers that are not recurrent (Deep's input layer, ConvDeep's
conv stack) run on all steps in one batched call. ``forward_steps(x)`` returns the logits
and, for every dense layer, what it received and produced at each call.

Deep variants: DeepV2 (a two-layer input path), Deep-SD (stationary dropout masks), ConvDeep
(the conv stack of :mod:`rnnxbench.models.conv` as input path) and Conv+Deep (its recurrent
"literal connections" conv stack).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rnnxbench.models.base import Architecture
from rnnxbench.models.conv import ConvStack, LiteralConvStack
from rnnxbench.models.dropout import (
    DROPOUT_MODES,
    check_dropout,
    make_dropout,
    reset_stationary,
)
from rnnxbench.models.layers import BIAS_MODES, ThesisLinear, check_bias
from rnnxbench.registry import ARCHITECTURES
from rnnxbench.relevance.fused import ReLURecurrence
from rnnxbench.tasks.base import InputSpec
from rnnxbench.validate import Interval, Options, SequenceOf

#: ``{layer name: (inputs, outputs)}``: for per-step layers the calls are stacked along
#: dim 1, ``(N, n_calls, features)``; for head layers ``(N, features)``. ``inputs`` are exactly
#: what the layer received (after dropout and concatenation), ``outputs`` are after the
#: layer's ReLU (raw logits for ``out_layer``).
Trace = dict[str, tuple[torch.Tensor, torch.Tensor]]


class CallRecorder:
    """Collects per-call layer inputs/outputs for ``forward_steps`` (no-op when disabled):
    ``rec(name, inputs, outputs)`` at each call, then ``stacked(name)``."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.calls: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}

    def __call__(self, name: str, inputs: torch.Tensor, outputs: torch.Tensor) -> None:
        if self.enabled:
            self.calls.setdefault(name, []).append((inputs, outputs))

    def stacked(self, name: str, empty: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """The calls of ``name`` stacked along dim 1 (``empty`` when it was never called)."""
        calls = self.calls.get(name)
        if not calls and empty is not None:
            return empty
        return torch.stack([c[0] for c in calls], 1), torch.stack([c[1] for c in calls], 1)


class ThesisRNN(Architecture):
    """Base of the thesis' recurrent architectures (Shallow, Deep, the R-LSTM family):
    option handling and the ``forward`` / ``forward_steps`` pair; subclasses implement
    ``_run(x, rec)`` (and ``_trace`` when the default does not fit)."""

    properties = frozenset({"relu"})

    parameter_constraints = {"bias": [Options(str, BIAS_MODES)],
                             "dropout": [Interval(float, 0, 1, closed="left")],
                             "dropout_mode": [Options(str, DROPOUT_MODES)]}

    def __init__(self, spec: InputSpec, bias: str, dropout: float,
                 dropout_mode: str = "ordinary", **sizes: Any):
        super().__init__(spec, bias=bias, dropout=dropout, dropout_mode=dropout_mode, **sizes)
        self.bias = check_bias(bias)
        self.dropout, self.dropout_mode = check_dropout(dropout, dropout_mode)

    def _dropout(self, stationary_ok: bool = True) -> torch.nn.Dropout:
        """A dropout module of this model's mode (``ordinary`` where stationary is not
        meant, e.g. the head, which is applied once)."""
        return make_dropout(self.dropout, self.dropout_mode if stationary_ok else "ordinary")

    def instance_properties(self) -> frozenset[str]:
        props = set(self.properties)
        if self.bias == "none":
            props.add("bias_free")
        return frozenset(props)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, T, D)`` inputs -> ``(N, n_classes)`` logits."""
        reset_stationary(self)  # a new batch of sequences: new stationary masks
        return self._run(x, CallRecorder(False))

    def forward_steps(self, x: torch.Tensor) -> tuple[torch.Tensor, Trace]:
        """Logits and the per-call inputs/outputs of every dense layer (see :data:`Trace`)."""
        reset_stationary(self)
        rec = CallRecorder(True)
        logits = self._run(x, rec)
        return logits, self._trace(x, rec)

    def _fused_recurrence(self, composite: Any, u: torch.Tensor, cell: str, recurrent: str
                          ) -> torch.Tensor:
        """In relevance mode (eval: dropout is the identity): the loop of ``cell`` on
        ``[u_t | r_{t-1}]`` and ``recurrent`` as one function
        (:class:`~rnnxbench.relevance.fused.ReLURecurrence`), each layer with the rule of
        its role; returns the last cell state."""
        roles = self.relevance_roles()
        layers = (getattr(self, cell), getattr(self, recurrent))
        rules = tuple(composite.rule(*roles.get(name, ("hidden", 0)))
                      for name in (cell, recurrent))
        r0 = u.new_zeros(u.shape[0], layers[1].out_features)
        return ReLURecurrence.apply(u, r0, tuple(m.relevance_op() for m in layers), rules)

    @staticmethod
    def _check_x(x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[1] < 1:
            raise ValueError(f"expected (N, T, D) inputs with T >= 1, got {tuple(x.shape)}")

    def _run(self, x: torch.Tensor, rec: CallRecorder) -> torch.Tensor:
        raise NotImplementedError

    def _trace(self, x: torch.Tensor, rec: CallRecorder) -> Trace:
        """Default: layers called once give their call, others their stacked calls."""
        return {name: calls[0] if len(calls) == 1 else rec.stacked(name)
                for name, calls in rec.calls.items()}


@ARCHITECTURES.register("shallow")
class Shallow(ThesisRNN):
    """Thesis Shallow cell: one ReLU layer on ``[x_t | r_{t-1}]``, a ReLU recurrent layer.

    Per step t = 1..T (``r_0 = 0``)::

        xr_t = [x_t | r_{t-1}]                          (D + H)
        ha_t = in_act(in_layer(xr_t))                   (D + H -> H)
        r_t  = rec_act(rec_layer(rec_drop(ha_t)))       (H -> H), only for t < T
        y    = out_layer(ha_T)                          (H -> n_classes)

    Options: ``bias`` ("softplus" | "none"), ``dropout`` (p, default 0.2), ``dropout_mode``
    ("ordinary" | "stationary": one mask per sequence on ``ha_t``), ``hidden`` (H, 256).
    In ``forward_steps``' trace, ``in_layer`` has T calls (inputs ``xr_t``, outputs
    ``ha_t``), ``rec_layer`` T-1 calls (call k maps ``ha_k`` to ``r_k``, the recurrent input of
    step k+1; 0-based), ``out_layer`` one call on ``ha_T``.
    """

    description = "Thesis Shallow ReLU RNN: [x_t | r_{t-1}] -> 256 ReLU -> recurrent 256"

    parameter_constraints = {"hidden": [Interval(int, 1, None)]}

    def relevance_roles(self) -> dict[str, tuple[str, int]]:
        """The thesis' mixed rule on the input layer, which sees ``[x_t | r_{t-1}]``."""
        return {"in_layer": ("mixed", self.spec.step_dim)}

    def __init__(self, spec: InputSpec, *, bias: str = "softplus", dropout: float = 0.2,
                 dropout_mode: str = "ordinary", hidden: int = 256):
        super().__init__(spec, bias=bias, dropout=dropout, dropout_mode=dropout_mode,
                         hidden=hidden)
        self.hidden = hidden
        self.in_layer = ThesisLinear(spec.step_dim + hidden, hidden, bias)
        self.in_act = nn.ReLU()
        self.rec_drop = self._dropout()
        self.rec_layer = ThesisLinear(hidden, hidden, bias)
        self.rec_act = nn.ReLU()
        self.out_layer = ThesisLinear(hidden, spec.n_classes, bias)

    def _run(self, x: torch.Tensor, rec: CallRecorder) -> torch.Tensor:
        self._check_x(x)
        n, n_steps, _ = x.shape
        r = x.new_zeros(n, self.hidden)
        ha = r
        steps = x.unbind(1)  # views whose backward does not zero-fill (N, T, D) per step
        for t in range(n_steps):
            xr = torch.cat([steps[t], r], dim=1)
            ha = self.in_act(self.in_layer(xr))
            rec("in_layer", xr, ha)
            if t < n_steps - 1:
                hd = self.rec_drop(ha)
                r = self.rec_act(self.rec_layer(hd))
                rec("rec_layer", hd, r)
        y = self.out_layer(ha)
        rec("out_layer", ha, y)
        return y

    def relevance_forward(self, composite: Any, x: torch.Tensor) -> torch.Tensor:
        """The forward in relevance mode: the recurrence as one function."""
        self._check_x(x)
        return self.out_layer(self._fused_recurrence(composite, x, "in_layer", "rec_layer"))

    def _trace(self, x: torch.Tensor, rec: CallRecorder) -> Trace:
        empty = x.new_zeros(x.shape[0], 0, self.hidden)
        return {
            "in_layer": rec.stacked("in_layer"),
            "rec_layer": rec.stacked("rec_layer", (empty, empty)),
            "out_layer": rec.calls["out_layer"][0],
        }


@ARCHITECTURES.register("deep")
class Deep(ThesisRNN):
    """Thesis Deep cell: a per-step input layer, a ReLU cell layer, a ReLU recurrent layer.

    Input layer on all steps at once (it is not recurrent), then per step (``r_0 = 0``)::

        a_t  = in_act(in_layer(x_t))                         (D -> A)
        xr_t = cell_drop([in_drop(a_t) | r_{t-1}])           (A + R)
        ha_t = cell_act(cell_layer(xr_t))                    (A + R -> C)
        r_t  = rec_act(rec_layer(rec_drop(ha_t)))            (C -> R), only for t < T
        o1   = head_act(head_layer(head_drop(ha_T)))         (C -> O)
        y    = out_layer(o1)                                 (O -> n_classes)

    Options: ``bias``, ``dropout`` (0.2), ``dropout_mode`` ("ordinary" | "stationary":
    one mask per sequence for ``in_drop``, ``cell_drop`` and ``rec_drop``; the head's dropout
    stays ordinary), ``in_units`` (A, 256), ``cell_units`` (C, 128), ``rec_units`` (R, 256),
    ``head_units`` (O, 32). In ``forward_steps``' trace ``in_layer`` and ``cell_layer`` have T
    calls (``in_layer``'s inputs are ``x``; ``cell_layer``'s inputs are the dropped-out
    ``xr_t``), ``rec_layer`` T-1 calls (call k maps ``ha_k`` to ``r_k``, 0-based),
    ``head_layer`` and ``out_layer`` one call each.

    Subclasses replace the input path (``_build_input`` / ``_inputs``: anything that maps
    ``(N, T, D)`` to ``(N, T, A)`` non-negative features, before ``in_drop``).
    """

    description = "Thesis Deep ReLU RNN: 256 ReLU input layer, 128 cell, recurrent 256, head 32"

    parameter_constraints = {name: [Interval(int, 1, None)]
                             for name in ("in_units", "cell_units", "rec_units", "head_units")}

    def relevance_roles(self) -> dict[str, tuple[str, int]]:
        """z-beta on the first input layer (pixels only); every other layer is hidden."""
        return {"in_layer": ("input", 0)}

    def __init__(self, spec: InputSpec, *, bias: str = "softplus", dropout: float = 0.2,
                 dropout_mode: str = "ordinary", in_units: int = 256, cell_units: int = 128,
                 rec_units: int = 256, head_units: int = 32):
        self._init_deep(spec, bias, dropout, dropout_mode, in_units=in_units,
                        cell_units=cell_units, rec_units=rec_units, head_units=head_units)

    def _init_deep(self, spec: InputSpec, bias: str, dropout: float, dropout_mode: str,
                   **sizes: Any) -> None:
        ThesisRNN.__init__(self, spec, bias, dropout, dropout_mode, **sizes)
        self.in_units, self.cell_units = sizes["in_units"], sizes["cell_units"]
        self.rec_units, self.head_units = sizes["rec_units"], sizes["head_units"]
        self._build_input(spec, bias, sizes)
        self.in_drop = self._dropout()
        self.cell_drop = self._dropout()
        self.cell_layer = ThesisLinear(self.in_units + self.rec_units, self.cell_units, bias)
        self.cell_act = nn.ReLU()
        self.rec_drop = self._dropout()
        self.rec_layer = ThesisLinear(self.cell_units, self.rec_units, bias)
        self.rec_act = nn.ReLU()
        self.head_drop = self._dropout(stationary_ok=False)
        self.head_layer = ThesisLinear(self.cell_units, self.head_units, bias)
        self.head_act = nn.ReLU()
        self.out_layer = ThesisLinear(self.head_units, spec.n_classes, bias)

    def _build_input(self, spec: InputSpec, bias: str, sizes: dict[str, Any]) -> None:
        self.in_layer = ThesisLinear(spec.step_dim, self.in_units, bias)
        self.in_act = nn.ReLU()

    def _inputs(self, x: torch.Tensor, rec: CallRecorder) -> torch.Tensor:
        """``(N, T, D)`` -> ``(N, T, A)``: the input path on all steps at once."""
        a = self.in_act(self.in_layer(x))
        rec("in_layer", x, a)
        return a

    def _run(self, x: torch.Tensor, rec: CallRecorder) -> torch.Tensor:
        self._check_x(x)
        n, n_steps, _ = x.shape
        ad = self.in_drop(self._inputs(x, rec))
        r = x.new_zeros(n, self.rec_units)
        ha = x.new_zeros(n, self.cell_units)
        steps = ad.unbind(1)
        for t in range(n_steps):
            xr = self.cell_drop(torch.cat([steps[t], r], dim=1))
            ha = self.cell_act(self.cell_layer(xr))
            rec("cell_layer", xr, ha)
            if t < n_steps - 1:
                hd = self.rec_drop(ha)
                r = self.rec_act(self.rec_layer(hd))
                rec("rec_layer", hd, r)
        return self._head(ha, rec)

    def _head(self, ha: torch.Tensor, rec: CallRecorder) -> torch.Tensor:
        hd = self.head_drop(ha)
        o1 = self.head_act(self.head_layer(hd))
        rec("head_layer", hd, o1)
        y = self.out_layer(o1)
        rec("out_layer", o1, y)
        return y

    def relevance_forward(self, composite: Any, x: torch.Tensor) -> torch.Tensor:
        """The forward in relevance mode: the input path and the head through their
        modules, the recurrence as one function."""
        self._check_x(x)
        rec = CallRecorder(False)
        u = self.in_drop(self._inputs(x, rec))
        return self._head(self._fused_recurrence(composite, u, "cell_layer", "rec_layer"), rec)

    def _trace(self, x: torch.Tensor, rec: CallRecorder) -> Trace:
        empty_in = x.new_zeros(x.shape[0], 0, self.cell_units)
        empty_out = x.new_zeros(x.shape[0], 0, self.rec_units)
        return {
            "in_layer": rec.calls["in_layer"][0],
            "cell_layer": rec.stacked("cell_layer"),
            "rec_layer": rec.stacked("rec_layer", (empty_in, empty_out)),
            "head_layer": rec.calls["head_layer"][0],
            "out_layer": rec.calls["out_layer"][0],
        }


@ARCHITECTURES.register("deep_sd")
class DeepSD(Deep):
    """Deep-SD: :class:`Deep` with stationary dropout masks (one per sequence) on ``a_t``,
    ``xr_t`` and ``ha_t``; the head's dropout stays ordinary. Same options as Deep
    (``dropout_mode`` defaults to "stationary")."""

    description = "Thesis Deep-SD: Deep with stationary (per-sequence) dropout masks"

    parameter_constraints: dict[str, list] = {}

    def __init__(self, spec: InputSpec, *, bias: str = "softplus", dropout: float = 0.2,
                 dropout_mode: str = "stationary", in_units: int = 256, cell_units: int = 128,
                 rec_units: int = 256, head_units: int = 32):
        super().__init__(spec, bias=bias, dropout=dropout, dropout_mode=dropout_mode,
                         in_units=in_units, cell_units=cell_units, rec_units=rec_units,
                         head_units=head_units)


@ARCHITECTURES.register("deep_v2")
class DeepV2(Deep):
    """Thesis DeepV2: Deep with a two-layer input path, on all steps at once::

        a1_t = in_act(in_layer(x_t))                         (D -> P, 128)
        a_t  = in2_act(in2_layer(pre_drop(a1_t)))            (P -> A, 256)

    then as :class:`Deep` (``in_drop``, ``[a_t | r_{t-1}]``, cell, recurrent layer, head).
    Options as Deep plus ``pre_units`` (P, 128). The trace adds ``in2_layer``.
    """

    description = "Thesis DeepV2: 128 and 256 ReLU input layers, 128 cell, recurrent 256"

    parameter_constraints = {"pre_units": [Interval(int, 1, None)]}

    def __init__(self, spec: InputSpec, *, bias: str = "softplus", dropout: float = 0.2,
                 dropout_mode: str = "ordinary", pre_units: int = 128, in_units: int = 256,
                 cell_units: int = 128, rec_units: int = 256, head_units: int = 32):
        self._init_deep(spec, bias, dropout, dropout_mode, pre_units=pre_units,
                        in_units=in_units, cell_units=cell_units, rec_units=rec_units,
                        head_units=head_units)

    def _build_input(self, spec: InputSpec, bias: str, sizes: dict[str, Any]) -> None:
        self.pre_units = sizes["pre_units"]
        self.in_layer = ThesisLinear(spec.step_dim, self.pre_units, bias)
        self.in_act = nn.ReLU()
        self.pre_drop = self._dropout()
        self.in2_layer = ThesisLinear(self.pre_units, self.in_units, bias)
        self.in2_act = nn.ReLU()

    def _inputs(self, x: torch.Tensor, rec: CallRecorder) -> torch.Tensor:
        a1 = self.in_act(self.in_layer(x))
        rec("in_layer", x, a1)
        d = self.pre_drop(a1)
        a = self.in2_act(self.in2_layer(d))
        rec("in2_layer", d, a)
        return a

    def _trace(self, x: torch.Tensor, rec: CallRecorder) -> Trace:
        return {**super()._trace(x, rec), "in2_layer": rec.calls["in2_layer"][0]}


class ConvInput:
    """Mixin of the Conv architectures (ConvDeep, ConvRLSTM, ...): the input path is a conv
    stack (``convs``, of class ``stack_cls``) then ``in_layer`` (-> A), ReLU."""

    accepts = frozenset({"image_steps"})
    stack_cls: type[ConvStack] | type[LiteralConvStack] = ConvStack

    def _build_input(self, spec: InputSpec, bias: str, sizes: dict[str, Any]) -> None:
        filters = tuple(int(f) for f in sizes.get("filters", (24, 32)))
        if len(filters) != 2 or min(filters) < 1:
            raise ValueError(f"filters must be two positive channel counts, got {filters}")
        self.convs = self.stack_cls(spec.step_shape, bias, filters)
        self.in_layer = ThesisLinear(self.convs.out_features, self.in_units, bias)
        self.in_act = nn.ReLU()

    def _inputs(self, x: torch.Tensor, rec: CallRecorder) -> torch.Tensor:
        f = self.convs.forward_sequence(x)
        a = self.in_act(self.in_layer(f))
        rec("in_layer", f, a)
        return a


@ARCHITECTURES.register("convdeep")
class ConvDeep(ConvInput, Deep):
    """Thesis ConvDeep: the conv stack (:class:`~rnnxbench.models.conv.ConvStack`, on all
    steps of all sequences in one batched call; 28x7 steps -> 448 features), then
    ``in_layer`` 448 -> 128 ReLU and Deep's cell (128), recurrent layer (256) and head.

    Steps are ``spec.step_shape`` images (MAJ: ``(1, 28, 7)``). Options as Deep
    (``in_units`` defaults to 128) plus ``filters`` (conv1 and conv2 channels, (24, 32)).
    Relevance: z-beta on ``convs.conv1``, the rest hidden.
    """

    description = "Thesis ConvDeep: conv 5x5x24, pool, conv 3x3x32, pool -> 128 -> Deep cell"

    parameter_constraints = {"filters": [SequenceOf(Interval(int, 1, None), length=2)]}

    def relevance_roles(self) -> dict[str, tuple[str, int]]:
        return {"convs.conv1": ("input", 0)}

    def __init__(self, spec: InputSpec, *, bias: str = "softplus", dropout: float = 0.2,
                 dropout_mode: str = "ordinary", in_units: int = 128, cell_units: int = 128,
                 rec_units: int = 256, head_units: int = 32,
                 filters: tuple[int, int] = (24, 32)):
        self._init_deep(spec, bias, dropout, dropout_mode, in_units=in_units,
                        cell_units=cell_units, rec_units=rec_units, head_units=head_units,
                        filters=filters)


@ARCHITECTURES.register("conv_plus_deep")
class ConvPlusDeep(ConvDeep):
    """Thesis Conv+Deep: ConvDeep with the "literal connections" conv stack
    (:class:`~rnnxbench.models.conv.LiteralConvStack`: conv1 sees ``[x_t | conv1_{t-1}]``,
    conv2 sees ``[pool1_t | conv2_{t-1}]``; a loop over the steps). Relevance: the mixed rule
    on ``convs.conv1`` (its first ``C`` input channels are pixels), the rest hidden.
    """

    description = "Thesis Conv+Deep: recurrent (literal) conv stack -> 128 -> Deep cell"
    stack_cls = LiteralConvStack

    def relevance_roles(self) -> dict[str, tuple[str, int]]:
        return {"convs.conv1": ("mixed", self.spec.step_shape[0])}
