"""The thesis' R-LSTM ("ReLU LSTM", spec §1) and the architectures built on it.

R-LSTM cell over inputs ``a_t`` (``c_0 = h_0 = 0``)::

    xr_t     = [a_t | h_{t-1}]
    i, f, o  = sigmoid(xr_t W_{i,f,o} + b_{i,f,o})      (ordinary gate biases)
    g        = ReLU(xr_t W_g - softplus(b_g))             (ReLU candidate, not tanh)
    c_t      = f * c_{t-1} + i * g
    h_t      = dropout(o * c_t)                           (no tanh on c)

Relevance (spec §2, the thesis' R-LSTM rule; :meth:`RLSTMCell.relevance_forward`): the
gates are constants (signal-take-all), so ``R(h_t)`` goes wholly to ``c_t``; ``R(c_t)``
splits between ``f * c_{t-1}`` and ``i * g`` in proportion (stabiliser 1e-10); ``g``'s share
passes the ReLU and goes through ``W_g`` (the composite's rule for hidden layers:
alpha-beta / z+) to ``[a_t | h_{t-1}]``; the gates receive none. Since ``g >= 0`` and
``c_0 = 0``, ``c_t`` and ``h_t`` are non-negative, so z+ / alpha-beta apply to ``W_g``.

Properties: every non-linearity that carries signal (and relevance) is a ReLU module; the
sigmoid gates are multiplicative factors that DTD and LRP treat as constants (as the thesis
did) and guided backprop leaves with their ordinary gradient. The architectures therefore
declare ``relu`` (DTD and GB run, as in the thesis) plus ``gated`` (documenting the gates).
They never declare ``bias_free``: the gates keep their biases (they carry no relevance).

Parameter counts: the thesis counts each gate's bias vector as one parameter;
:func:`thesis_parameter_count` gives that number, ``n_parameters()`` the true one.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnxbench.models.conv import LiteralConvStack
from rnnxbench.models.dropout import make_dropout
from rnnxbench.models.layers import ThesisLinear, thesis_init_
from rnnxbench.models.thesis import CallRecorder, ConvInput, ThesisRNN
from rnnxbench.registry import ARCHITECTURES
from rnnxbench.relevance import functions as rf
from rnnxbench.tasks.base import InputSpec
from rnnxbench.validate import Interval, SequenceOf

Tensor = torch.Tensor


class RLSTMCell(nn.Module):
    """The R-LSTM cell run over a whole sequence: ``(N, T, A)`` inputs -> ``h_T`` ``(N, H)``.

    Submodules: ``gates`` (an ``nn.Linear`` ``A + H -> 3 H``, rows i, f, o; weights with the
    thesis' truncated normal init, biases zero as in the thesis code), ``g_layer`` (a
    :class:`ThesisLinear` ``A + H -> H`` with the -softplus bias), ``g_act`` (ReLU) and
    ``h_drop`` (dropout on ``h_t``: ordinary or stationary).

    ``forward`` projects the inputs of all steps at once and loops over the steps with one
    ``h_{t-1}`` matmul each; ``relevance_forward`` (used by relevance propagation) runs the
    same computation step by step through ``g_layer`` with the thesis' relevance flow.
    """

    #: the stabiliser of the proportional split of ``R(c_t)`` (thesis code: 1e-10)
    split_epsilon = 1e-10
    #: gates (i, f, o): the thesis counts each gate bias vector as one parameter
    n_gates = 3

    def __init__(self, in_features: int, units: int, bias: str = "softplus",
                 dropout: float = 0.2, dropout_mode: str = "ordinary"):
        super().__init__()
        self.in_features, self.units = in_features, units
        n_in = in_features + units
        self.gates = nn.Linear(n_in, self.n_gates * units)
        thesis_init_(self.gates.weight.data, n_in)
        nn.init.zeros_(self.gates.bias)
        self.g_layer = ThesisLinear(n_in, units, bias)
        self.g_act = nn.ReLU()
        self.h_drop = make_dropout(dropout, dropout_mode)

    def forward(self, a: Tensor) -> Tensor:
        n, n_steps, n_a = a.shape
        H = self.units
        g_bias = self.g_layer.effective_bias
        weight = torch.cat([self.gates.weight, self.g_layer.weight], dim=0)  # (4H, A + H)
        bias = torch.cat([self.gates.bias,
                          g_bias if g_bias is not None else self.gates.bias.new_zeros(H)])
        proj = F.linear(a, weight[:, :n_a], bias)  # all steps at once: (N, T, 4H)
        w_h = weight[:, n_a:].t()
        h = a.new_zeros(n, H)
        c = a.new_zeros(n, H)
        steps = proj.unbind(1)
        for t in range(n_steps):
            z = steps[t] if t == 0 else torch.addmm(steps[t], h, w_h)
            i, f, o = torch.sigmoid(z[:, : 3 * H]).split(H, dim=1)
            g = self.g_act(z[:, 3 * H:])
            c = f * c + i * g
            h = self.h_drop(o * c)
        return h

    def relevance_forward(self, composite: Any, a: Tensor) -> Tensor:
        """The forward pass in relevance mode: gates constant, ``c_t`` split in proportion
        (the composite's ``gate_bias_factor`` spreads the stabiliser's share), ``g_layer``
        and ``g_act`` called as modules so they carry the composite's rules."""
        n, n_steps, _ = a.shape
        H = self.units
        bias_factor = getattr(composite, "gate_bias_factor", 0.0)
        h = a.new_zeros(n, H)
        c = a.new_zeros(n, H)
        steps = a.unbind(1)
        for t in range(n_steps):
            xr = torch.cat([steps[t], h], dim=1)
            gates = torch.sigmoid(F.linear(xr.detach(), self.gates.weight, self.gates.bias))
            i, f, o = gates.split(H, dim=1)
            g = self.g_act(self.g_layer(xr))
            c = rf.proportional_sum(rf.gate_mul(f, c), rf.gate_mul(i, g),
                                    eps=self.split_epsilon, bias_factor=bias_factor)
            h = self.h_drop(rf.gate_mul(o, c))
        return h

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.units}"


def thesis_parameter_count(model: nn.Module) -> int:
    """Trainable parameters counted as the thesis did: each R-LSTM gate bias vector as 1."""
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    for m in model.modules():
        if isinstance(m, RLSTMCell) and m.gates.bias is not None and m.gates.bias.requires_grad:
            n -= m.gates.bias.numel() - m.n_gates
    return n


@ARCHITECTURES.register("rlstm")
class RLSTM(ThesisRNN):
    """Thesis R-LSTM: input layer on all steps at once, then the R-LSTM cell::

        a_t = in_drop(in_act(in_layer(x_t)))                 (D -> A, 256)
        h_T = cell(a_1..a_T)                                 (:class:`RLSTMCell`, H = 72)
        y   = out_layer(h_T)                                 (H -> n_classes)

    Options: ``bias`` ("softplus" | "none": ThesisLinear layers; the gates keep their own
    ordinary biases), ``dropout`` (0.2), ``dropout_mode`` ("ordinary" | "stationary": one
    mask per sequence on ``a_t`` and ``h_t``), ``in_units`` (A, 256), ``units`` (H, 72).
    Relevance: z-beta on ``in_layer``; ``cell.g_layer`` and ``out_layer`` hidden.
    """

    description = "Thesis R-LSTM: 256 ReLU input layer -> ReLU-LSTM cell (72) -> output"
    properties = frozenset({"relu", "gated"})

    parameter_constraints = {"in_units": [Interval(int, 1, None)],
                             "units": [Interval(int, 1, None)]}

    def __init__(self, spec: InputSpec, *, bias: str = "softplus", dropout: float = 0.2,
                 dropout_mode: str = "ordinary", in_units: int = 256, units: int = 72):
        self._init_rlstm(spec, bias, dropout, dropout_mode, in_units=in_units, units=units)

    def _init_rlstm(self, spec: InputSpec, bias: str, dropout: float, dropout_mode: str,
                    **sizes: Any) -> None:
        ThesisRNN.__init__(self, spec, bias, dropout, dropout_mode, **sizes)
        self.in_units, self.units = sizes["in_units"], sizes["units"]
        self._build_input(spec, bias, sizes)
        self.in_drop = self._dropout()
        self.cell = RLSTMCell(self.in_units, self.units, bias, self.dropout, self.dropout_mode)
        self.out_layer = ThesisLinear(self.units, spec.n_classes, bias)

    def relevance_roles(self) -> dict[str, tuple[str, int]]:
        return {"in_layer": ("input", 0)}

    def instance_properties(self) -> frozenset[str]:
        return frozenset(self.properties)  # never bias_free: the gates have biases

    def _build_input(self, spec: InputSpec, bias: str, sizes: dict[str, Any]) -> None:
        self.in_layer = ThesisLinear(spec.step_dim, self.in_units, bias)
        self.in_act = nn.ReLU()

    def _inputs(self, x: Tensor, rec: CallRecorder) -> Tensor:
        a = self.in_act(self.in_layer(x))
        rec("in_layer", x, a)
        return a

    def _run(self, x: Tensor, rec: CallRecorder) -> Tensor:
        self._check_x(x)
        h = self.cell(self.in_drop(self._inputs(x, rec)))
        y = self.out_layer(h)
        rec("out_layer", h, y)
        return y


@ARCHITECTURES.register("rlstm_sd")
class RLSTMSD(RLSTM):
    """R-LSTM-SD: :class:`RLSTM` with stationary dropout masks on ``a_t`` and ``h_t``."""

    description = "Thesis R-LSTM-SD: R-LSTM with stationary (per-sequence) dropout masks"

    parameter_constraints: dict[str, list] = {}

    def __init__(self, spec: InputSpec, *, bias: str = "softplus", dropout: float = 0.2,
                 dropout_mode: str = "stationary", in_units: int = 256, units: int = 72):
        super().__init__(spec, bias=bias, dropout=dropout, dropout_mode=dropout_mode,
                         in_units=in_units, units=units)


@ARCHITECTURES.register("convrlstm")
class ConvRLSTM(ConvInput, RLSTM):
    """Thesis ConvR-LSTM: ConvDeep's conv stack (all steps in one batched call; 28x7 ->
    448), ``in_layer`` 448 -> 128 ReLU, dropout, an R-LSTM cell with 96 units, output.

    Options as :class:`RLSTM` (``in_units`` 128, ``units`` 96) plus ``filters`` (conv1 and
    conv2 channels, (24, 32)). Relevance: z-beta on ``convs.conv1``; conv2, ``in_layer``,
    ``cell.g_layer`` and ``out_layer`` hidden.
    """

    description = "Thesis ConvR-LSTM: conv stack -> 128 ReLU -> ReLU-LSTM cell (96)"

    parameter_constraints = {"filters": [SequenceOf(Interval(int, 1, None), length=2)]}

    def __init__(self, spec: InputSpec, *, bias: str = "softplus", dropout: float = 0.2,
                 dropout_mode: str = "ordinary", in_units: int = 128, units: int = 96,
                 filters: tuple[int, int] = (24, 32)):
        self._init_rlstm(spec, bias, dropout, dropout_mode, in_units=in_units, units=units,
                         filters=filters)

    def relevance_roles(self) -> dict[str, tuple[str, int]]:
        return {"convs.conv1": ("input", 0)}


@ARCHITECTURES.register("convrlstm_sd")
class ConvRLSTMSD(ConvRLSTM):
    """ConvR-LSTM-SD: :class:`ConvRLSTM` with stationary masks on ``a_t`` and ``h_t``."""

    description = "Thesis ConvR-LSTM-SD: ConvR-LSTM with stationary dropout masks"

    parameter_constraints: dict[str, list] = {}

    def __init__(self, spec: InputSpec, *, bias: str = "softplus", dropout: float = 0.2,
                 dropout_mode: str = "stationary", in_units: int = 128, units: int = 96,
                 filters: tuple[int, int] = (24, 32)):
        super().__init__(spec, bias=bias, dropout=dropout, dropout_mode=dropout_mode,
                         in_units=in_units, units=units, filters=filters)


@ARCHITECTURES.register("conv_plus_rlstm_sd")
class ConvPlusRLSTMSD(ConvRLSTMSD):
    """Thesis Conv+R-LSTM-SD: the "literal connections" conv stack
    (:class:`~rnnxbench.models.conv.LiteralConvStack`, a loop over the steps) -> 448 ->
    ``in_layer`` 128 ReLU -> R-LSTM-SD cell (96 units). Relevance: the mixed rule on
    ``convs.conv1`` (first ``C`` input channels are pixels), the rest as ConvR-LSTM.
    """

    description = "Thesis Conv+R-LSTM-SD: recurrent (literal) conv stack -> R-LSTM-SD cell"
    stack_cls = LiteralConvStack

    def relevance_roles(self) -> dict[str, tuple[str, int]]:
        return {"convs.conv1": ("mixed", self.spec.step_shape[0])}
