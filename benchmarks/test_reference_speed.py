"""``rnnxbench.explain`` against Arras et al.'s NumPy LRP for LSTMs (issue 15).

A bidirectional nn.LSTM classifier of the reference's shape (60-dimensional inputs, hidden
60, T = 20, 5 classes, bias-free output over [last left-to-right state | first
right-to-left state]; seeded random weights, biases uniform in [-1, 1]). The benchmark
times ``explain(model, x, target, method="lrp_eps", epsilon=1e-3, start="logit")`` on one
float32 batch of 1,000 sentences and the NumPy reference (``arras_lstm.py``, float64, one
sentence at a time, its own loop) on ``REFERENCE_SENTENCES`` of them; ``extra_info`` holds
the ratio per sentence (the reference's time over explain's) and the largest difference
between explain in float64 and the reference on those sentences (checked <= 1e-10).
Nothing here asserts on time.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch import nn

import rnnxbench

E, H, T, C, BATCH = 60, 60, 20, 5, 1000
REFERENCE_SENTENCES = 40


class BiLSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(E, H, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * H, C, bias=False)

    def forward(self, x):
        h, _ = self.lstm(x)
        return self.out(torch.cat([h[:, -1, :H], h[:, 0, H:]], dim=1))


def _weights(lstm: nn.LSTM, suffix: str) -> list[np.ndarray]:
    return [getattr(lstm, f"{k}_l0{suffix}").detach().double().numpy()
            for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


@pytest.fixture(scope="module")
def setup(arras):
    torch.manual_seed(0)
    model = BiLSTMClassifier().eval()
    with torch.no_grad():
        for name, p in model.lstm.named_parameters():
            if name.startswith("bias"):
                p.uniform_(-1, 1)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, T, E, generator=gen)
    target = torch.randint(0, C, (BATCH,), generator=gen)
    reference = arras.LSTMBidi(_weights(model.lstm, ""), _weights(model.lstm, "_reverse"),
                                  model.out.weight.detach().double().numpy())
    return model, x, target, reference


def _explain(model, x, target):
    return rnnxbench.explain(model, x, target, method="lrp_eps", epsilon=1e-3, start="logit")


def test_explain_vs_arras_reference(benchmark, setup, run_info) -> None:
    model, x, target, reference = setup
    n = REFERENCE_SENTENCES
    x64 = x[:n].double().numpy()
    start = time.perf_counter()
    ref = np.stack([reference.lrp(x64[i], int(target[i])) for i in range(n)])
    per_sentence_ref = (time.perf_counter() - start) / n
    ours = _explain(model.double(), x[:n].double(), target[:n]).numpy()
    model.float()
    diff = float(np.abs(ours - ref).max())
    assert diff <= 1e-10 and np.abs(ref).max() > 1e-3
    benchmark.group = "arras-reference"
    benchmark.pedantic(_explain, args=(model, x, target), rounds=7, warmup_rounds=1)
    per_sentence = benchmark.stats.stats.median / BATCH
    benchmark.extra_info.update(
        run_info, kind="reference", batch=BATCH, reference_sentences=n,
        reference_ms_per_sentence=per_sentence_ref * 1e3,
        explain_ms_per_sentence=per_sentence * 1e3,
        ratio=per_sentence_ref / per_sentence, max_abs_diff_float64=diff)
    print(f"\nexplain {per_sentence * 1e3:.3f} ms/sentence (batch {BATCH}, float32), "
          f"reference {per_sentence_ref * 1e3:.2f} ms/sentence: "
          f"{per_sentence_ref / per_sentence:.0f}x; float64 max |diff| {diff:.1e}")
