"""Architectures; importing this package registers the built-in ones."""

from rnnxbench.models import attention, baselines, neuroview  # noqa: F401 - registers
from rnnxbench.models.base import Architecture
from rnnxbench.models.conv import ConvStack, LiteralConvStack, ThesisAvgPool
from rnnxbench.models.dropout import StationaryDropout, make_dropout, reset_stationary
from rnnxbench.models.layers import ThesisConv2d, ThesisLinear
from rnnxbench.models.loss import thesis_accuracy, thesis_loss
from rnnxbench.models.rlstm import (
    RLSTM,
    RLSTMSD,
    ConvPlusRLSTMSD,
    ConvRLSTM,
    ConvRLSTMSD,
    RLSTMCell,
    thesis_parameter_count,
)
from rnnxbench.models.thesis import ConvDeep, ConvPlusDeep, Deep, DeepSD, DeepV2, Shallow

__all__ = ["RLSTM", "RLSTMSD", "Architecture", "ConvDeep", "ConvPlusDeep", "ConvPlusRLSTMSD",
           "ConvRLSTM", "ConvRLSTMSD", "ConvStack", "Deep", "DeepSD", "DeepV2",
           "LiteralConvStack", "RLSTMCell", "Shallow", "StationaryDropout", "ThesisAvgPool",
           "ThesisConv2d", "ThesisLinear", "make_dropout", "reset_stationary",
           "thesis_accuracy", "thesis_loss", "thesis_parameter_count"]
