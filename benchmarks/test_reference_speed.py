"""``rnnxbench.explain`` against the NumPy LRP of Arras et al. (issue 15).

Bidirectional classifiers of the reference's shape (60-dimensional inputs, hidden 60,
T = 20, 5 classes, bias-free output over [last left-to-right state | first right-to-left
state]; seeded random weights, biases uniform in [-1, 1]): Arras' one-layer LSTM, a GRU and
a 2-layer LSTM. Each benchmark times ``explain(model, x, target, method="lrp_eps",
epsilon=1e-3, start="logit")`` on one float32 batch of 1,000 sentences and the NumPy
reference (``numpy_lrp.py``, float64, one sentence at a time, its own loop) on
``REFERENCE_SENTENCES`` of them, one reference pass right before each of explain's
``ROUNDS`` timed rounds (the reference's time moved by a third between runs on a shared
machine, and explain's with it: paired rounds drift less). ``extra_info`` holds the median
of the per-round ratios per sentence (the reference's time over explain's, ``ratio``), the
ratio of the two medians (``ratio_of_medians``) and the largest difference between explain
in float64 and the reference on those sentences (checked <= 1e-10). Nothing here asserts on
time.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pytest
import torch
from torch import nn

import rnnxbench

E, H, T, C, BATCH = 60, 60, 20, 5, 1000
REFERENCE_SENTENCES = 40
ROUNDS = 7
#: name -> (torch module class, layers)
MODELS = {"bi-LSTM (Arras)": (nn.LSTM, 1), "bi-GRU": (nn.GRU, 1),
          "2-layer bi-LSTM": (nn.LSTM, 2)}


class BiClassifier(nn.Module):
    def __init__(self, cls: type[nn.Module] = nn.LSTM, layers: int = 1):
        super().__init__()
        self.rnn = cls(E, H, num_layers=layers, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * H, C, bias=False)

    def forward(self, x):
        h, _ = self.rnn(x)
        return self.out(torch.cat([h[:, -1, :H], h[:, 0, H:]], dim=1))


def _weights(rnn: nn.Module, layer: int, suffix: str) -> list[np.ndarray]:
    return [getattr(rnn, f"{k}_l{layer}{suffix}").detach().double().numpy()
            for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


def make_setup(numpy_lrp, name: str):
    cls, layers = MODELS[name]
    torch.manual_seed(0)
    model = BiClassifier(cls, layers).eval()
    with torch.no_grad():
        for pname, p in model.rnn.named_parameters():
            if pname.startswith("bias"):
                p.uniform_(-1, 1)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, T, E, generator=gen)
    target = torch.randint(0, C, (BATCH,), generator=gen)
    cell = numpy_lrp.Direction if cls is nn.LSTM else numpy_lrp.GRUDirection
    reference = numpy_lrp.Bidi(
        [(_weights(model.rnn, k, ""), _weights(model.rnn, k, "_reverse"))
         for k in range(layers)], model.out.weight.detach().double().numpy(), cell)
    return model, x, target, reference


def _explain(model, x, target):
    return rnnxbench.explain(model, x, target, method="lrp_eps", epsilon=1e-3, start="logit")


@pytest.mark.parametrize("name", list(MODELS))
def test_explain_vs_numpy_reference(benchmark, numpy_lrp, run_info, name: str) -> None:
    model, x, target, reference = make_setup(numpy_lrp, name)
    n = REFERENCE_SENTENCES
    x64 = x[:n].double().numpy()
    ref = np.stack([reference.lrp(x64[i], int(target[i])) for i in range(n)])
    ours = _explain(model.double(), x[:n].double(), target[:n]).numpy()
    model.float()
    diff = float(np.abs(ours - ref).max())
    assert diff <= 1e-10 and np.abs(ref).max() > 1e-3
    passes: list[float] = []  # one reference pass (per sentence) before each round

    def reference_pass():
        start = time.perf_counter()
        for i in range(n):
            reference.lrp(x64[i], int(target[i]))
        passes.append((time.perf_counter() - start) / n)
        return (model, x, target), {}

    benchmark.group = "numpy-reference"
    benchmark.pedantic(_explain, setup=reference_pass, rounds=ROUNDS, warmup_rounds=1)
    rounds = [t / BATCH for t in benchmark.stats.stats.data]
    ratios = [r / e for r, e in zip(passes[1:], rounds, strict=True)]  # passes[0]: warmup
    per_sentence, per_sentence_ref = statistics.median(rounds), statistics.median(passes[1:])
    ratio = statistics.median(ratios)
    benchmark.extra_info.update(
        run_info, kind="reference", model=name, batch=BATCH, reference_sentences=n,
        rounds=ROUNDS, reference_ms_per_sentence=per_sentence_ref * 1e3,
        explain_ms_per_sentence=per_sentence * 1e3, ratio=ratio,
        ratio_min=min(ratios), ratio_max=max(ratios),
        ratio_of_medians=per_sentence_ref / per_sentence, max_abs_diff_float64=diff)
    print(f"\n{name}: explain {per_sentence * 1e3:.3f} ms/sentence (batch {BATCH}, float32), "
          f"reference {per_sentence_ref * 1e3:.2f} ms/sentence: {ratio:.0f}x (paired "
          f"median; {min(ratios):.0f}-{max(ratios):.0f}x); float64 max |diff| {diff:.1e}")
