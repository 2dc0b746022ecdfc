"""Subclasses of nn.LSTM / nn.GRU / nn.RNN are explained as the torch class they extend."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnxbench
from rnnxbench.explainers.base import model_properties
from rnnxbench.relevance import UnsupportedModel

F64 = torch.float64
N_FEATURES, HIDDEN, N_CLASSES = 3, 4, 2


class MyLSTM(nn.LSTM):
    pass


class MyGRU(nn.GRU):
    pass


class MyRNN(nn.RNN):
    pass


class Classifier(nn.Module):
    """A stacked bidirectional recurrent layer and a linear head on the last step."""

    def __init__(self, cls: type[nn.RNNBase], **kw):
        super().__init__()
        self.rnn = cls(N_FEATURES, HIDDEN, num_layers=2, batch_first=True, bidirectional=True,
                       **kw)
        self.head = nn.Linear(2 * HIDDEN, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


CASES = [(MyLSTM, nn.LSTM, {}), (MyGRU, nn.GRU, {}),
         (MyRNN, nn.RNN, {"nonlinearity": "tanh"}), (MyRNN, nn.RNN, {"nonlinearity": "relu"})]
IDS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]


def _pair(sub: type, base: type, kw: dict) -> tuple[nn.Module, nn.Module]:
    """The model around ``sub`` and the same model (same weights) around ``base``."""
    torch.manual_seed(0)
    plain = Classifier(base, **kw).to(F64).eval()
    mine = Classifier(sub, **kw).to(F64).eval()
    mine.load_state_dict(plain.state_dict())
    return mine, plain


@pytest.mark.parametrize(("sub", "base", "kw"), CASES, ids=IDS)
@pytest.mark.parametrize("options", [{}, {"bias_factor": 1.0, "start": "logit"}],
                         ids=["default", "bias_factor_1"])
def test_subclass_relevance_equals_the_torch_class(sub, base, kw, options):
    mine, plain = _pair(sub, base, kw)
    x = torch.randn(3, 5, N_FEATURES, dtype=F64, generator=torch.Generator().manual_seed(1))
    target = torch.tensor([0, 1, 1])
    R_plain = rnnxbench.explain(plain, x, target, method="lrp_eps", **options)
    R_mine = rnnxbench.explain(mine, x, target, method="lrp_eps", **options)
    assert R_plain.abs().sum() > 0
    assert torch.equal(R_mine, R_plain)


@pytest.mark.parametrize(("sub", "base", "kw"), CASES, ids=IDS)
def test_subclass_properties_are_those_of_the_torch_class(sub, base, kw):
    """``relu`` only for the ReLU RNN; dtd (which needs it) names the subclass otherwise."""
    mine, plain = _pair(sub, base, kw)
    assert model_properties(mine) == model_properties(plain)
    relu = kw.get("nonlinearity") == "relu"
    assert ("relu" in model_properties(mine)) == relu
    x = torch.rand(2, 5, N_FEATURES, dtype=F64)
    if relu:
        torch.testing.assert_close(rnnxbench.explain(mine, x, 0, method="dtd"),
                                   rnnxbench.explain(plain, x, 0, method="dtd"), rtol=0, atol=0)
    else:
        with pytest.raises(UnsupportedModel, match=f"'rnn' \\({sub.__name__}\\)"):
            rnnxbench.explain(mine, x, 0, method="dtd")


def test_subclass_with_its_own_forward_is_rejected():
    """Its forward would be replaced by the torch class' cell: an error, not wrong numbers."""

    class Doubled(nn.GRU):
        def forward(self, input, hx=None):
            out, h = super().forward(input, hx)
            return 2 * out, h

    model = Classifier(Doubled).eval()
    with pytest.raises(UnsupportedModel, match="Doubled overrides GRU.forward"):
        rnnxbench.explain(model, torch.randn(2, 5, N_FEATURES), 0)
