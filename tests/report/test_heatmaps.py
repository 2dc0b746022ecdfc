"""The heatmap grid: which sequences it shows, the PNG it writes and where it outlines the
ground truth, on hand-built explorations (no training)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.patches import Rectangle
from PIL import Image

from rnnxbench.report.exploration import Exploration
from rnnxbench.report.heatmaps import draw_heatmaps, heatmap_sequences, plot_heatmaps
from rnnxbench.report.input_images import evidence_spans

STEP, T, N, C = (1, 3, 2), 4, 6, 3
LABEL = np.array([2, 0, 1, 0, 2, 1])
BLOCKS = np.array([0, 0, 1, 1])
TRUTH = np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0, 1]], dtype=bool)


def exploration(arch: str, explainers=("a", "b"), missing=(), task="maj", sample=None,
                step_shape=STEP, seed=0) -> Exploration:
    rng = np.random.default_rng(seed)
    d = int(np.prod(step_shape))
    rel = {e: rng.standard_normal((N, T, d)).astype(np.float32)
           for e in explainers if e not in missing}
    return Exploration(
        task, arch, 0, 0, "hash", step_shape, (0.0, 1.0),
        sample=np.arange(N) * 10 if sample is None else sample, label=LABEL,
        predicted=np.roll(LABEL, 1), proba=np.full((N, C), 1 / C),
        x=rng.random((N, T, d)).astype(np.float32), states=np.zeros((N, T, 2)),
        expected=np.zeros((N, T, C)), confusion=np.zeros((C, C), dtype=np.int64),
        step_block=BLOCKS, ground_truth=TRUTH, relevance=rel,
        missing={e: "unsupported: test" for e in missing}, explainers=list(explainers))


def two_models() -> list[Exploration]:
    return [exploration("lstm"), exploration("gru", missing=("b",), seed=1)]


def texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in (*ax.texts, ax.xaxis.label)]


def test_heatmap_sequences_one_per_class():
    assert heatmap_sequences(LABEL, n=3) == [1, 2, 0]  # first of class 0, 1, 2


def test_heatmap_sequences_spreads_over_many_classes():
    label = np.repeat(np.arange(10), 2)
    assert heatmap_sequences(label, n=4) == [0, 6, 12, 18]  # classes 0, 3, 6, 9
    assert heatmap_sequences(label, n=4) == heatmap_sequences(label, n=4)


def test_heatmap_sequences_fills_without_repeats_and_respects_n():
    picked = heatmap_sequences(LABEL, n=5)
    assert len(picked) == 5 and len(set(picked)) == 5
    assert {int(LABEL[p]) for p in picked} == {0, 1, 2}
    assert [int(LABEL[p]) for p in picked] == sorted(int(LABEL[p]) for p in picked)
    assert sorted(heatmap_sequences(LABEL, n=10)) == list(range(N))
    assert heatmap_sequences(np.array([1, 1]), n=4) == [0, 1]
    assert heatmap_sequences(LABEL, n=0) == [] and heatmap_sequences(np.array([]), 4) == []


def test_plot_heatmaps_writes_a_png_growing_with_the_grid(tmp_path):
    small = plot_heatmaps([exploration("lstm", explainers=("a",))], tmp_path / "s.png")
    wide = plot_heatmaps([exploration("lstm", explainers=("a", "b", "c"))], tmp_path / "w.png")
    tall = plot_heatmaps(two_models() + [exploration("rnn")], tmp_path / "out" / "t.png")
    (w0, h0), (w1, h1), (w2, h2) = (Image.open(p).size for p in (small, wide, tall))
    assert w1 > w0 and h1 == h0
    assert h2 > h0
    assert small.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_zero_relevance_and_missing_explainer_do_not_fail(tmp_path):
    models = two_models()
    models[0].relevance["a"][:] = 0
    fig = draw_heatmaps(models, n=3)
    shown = texts(fig)
    assert "all 0" in shown and shown.count("n/a") == 1
    assert any(t.startswith("±") for t in shown)
    assert plot_heatmaps(models, tmp_path / "h.png").stat().st_size > 0


def test_input_column_marks_label_and_each_models_prediction():
    fig = draw_heatmaps(two_models(), n=3)
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == [f"label {LABEL[i]} / pred {np.roll(LABEL, 1)[i]}" for i in (1, 2, 0)]
    assert [ax.get_title() for ax in fig.axes[:3]] == ["input", "a", "b"]
    assert "maj, fold 0, sequences 10, 20, 0" in fig.get_suptitle()


def test_mismatched_or_no_explorations_raise():
    with pytest.raises(ValueError, match="at least one"):
        draw_heatmaps([])
    with pytest.raises(ValueError, match="different tasks"):
        draw_heatmaps([exploration("lstm"), exploration("gru", task="other")])
    with pytest.raises(ValueError, match="different sequences"):
        draw_heatmaps([exploration("lstm"), exploration("gru", sample=np.arange(N))])


def test_ground_truth_outlines_are_drawn_over_the_evidence_blocks():
    fig = draw_heatmaps(two_models(), n=3)
    chosen, height = heatmap_sequences(LABEL, 3), STEP[1]
    ncols = 3
    for r in range(2):
        for c in range(ncols):
            ax = fig.axes[r * ncols + c]
            boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
            if r == 1 and c == 2:  # "b" is missing on the second model: no boxes
                assert boxes == []
                continue
            found = sorted((b.get_x() + 0.5, b.get_x() + 0.5 + b.get_width(),
                            b.get_y() + 0.5, b.get_height()) for b in boxes)
            tops = [k * (height + 2) for k in range(len(chosen))]
            want = sorted((start, stop, top, height) for top, i in zip(tops, chosen, strict=True)
                          for start, stop in evidence_spans(BLOCKS, TRUTH[i], STEP))
            assert found == want and len(want) == 4  # sequences 1, 2, 0: 1 + 2 + 1 blocks


def test_vector_series_without_ground_truth():
    models = [exploration("lstm", step_shape=(2,))]
    models[0].ground_truth = np.zeros((N, 0), dtype=bool)
    fig = draw_heatmaps(models, n=2)
    assert all(not ax.patches for ax in fig.axes)
    assert fig.axes[1].images[0].get_array().shape == (2 * 2 + 2, T)  # two D x T images
