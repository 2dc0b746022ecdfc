"""Localisation metrics (cosine, relevance_mass, relevance_rank, pointing_game, auprc):
hand-computed values, and sklearn and Quantus cross-checks."""

import warnings

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from rnnxbench.metrics import (
    AUPRC,
    CosineSimilarity,
    DegenerateExplanation,
    Metric,
    PointingGame,
    RelevanceMass,
    RelevanceRank,
)
from rnnxbench.metrics.aggregate import ground_truth_steps, ground_truth_values
from rnnxbench.metrics.localisation import average_precision
from rnnxbench.registry import METRICS
from rnnxbench.tasks.base import InputSpec, TaskData

COS_UNIFORM = 2 / np.sqrt(6)  # cos([1,1,0], [1/3,1/3,1/3]) = 0.8165


def make_data(marks, steps_per_block=1, d=2) -> TaskData:
    gt = np.asarray(marks, dtype=bool)
    n, b = gt.shape
    t = b * steps_per_block
    return TaskData("toy", np.zeros((n, t, d), np.float32), np.zeros(n, np.int64),
                    InputSpec(t, d, (d,), 10), gt, np.repeat(np.arange(b), steps_per_block))


def blocks_to_relevance(block_values, steps_per_block=1, d=2) -> np.ndarray:
    """Spread each block's value evenly over its steps and values."""
    v = np.asarray(block_values, dtype=float)
    per_value = v / (steps_per_block * d)
    return np.repeat(per_value, steps_per_block, axis=1)[:, :, None].repeat(d, axis=2)


def test_registered():
    assert METRICS.get("cosine") is CosineSimilarity
    assert METRICS.get("relevance_mass") is RelevanceMass
    assert issubclass(CosineSimilarity, Metric) and CosineSimilarity.higher_is_better
    assert RelevanceMass.higher_is_better


@pytest.mark.parametrize(
    "blocks, cosine, mass",
    [
        ([1, 1, 1], COS_UNIFORM, 2 / 3),
        ([1, 1, 0], 1.0, 1.0),
        ([5, 5, 0], 1.0, 1.0),
        ([0, 0, 1], 0.0, 0.0),
        ([1, 0, 0], 1 / np.sqrt(2), 1.0),  # mass is fooled by one block, cosine is not
        ([2, 1, 0], 3 / np.sqrt(10), 1.0),
    ],
)
def test_cosine_and_mass_hand_values(blocks, cosine, mass):
    data = make_data([[1, 1, 0]])
    r = blocks_to_relevance([blocks])
    np.testing.assert_allclose(CosineSimilarity()(r, data), [cosine], atol=1e-12)
    np.testing.assert_allclose(RelevanceMass()(r, data), [mass], atol=1e-12)


def test_uniform_is_0_8165():
    data = make_data([[1, 1, 0]])
    assert CosineSimilarity()(np.ones((1, 3, 2)), data)[0] == pytest.approx(0.8165, abs=1e-4)


def test_mark_in_any_position_and_output_shape():
    marks = [[1, 1, 0], [1, 0, 1], [0, 1, 1], [0, 1, 1]]
    data = make_data(marks)
    r = blocks_to_relevance([[1, 1, 0], [2, 0, 2], [1, 1, 1], [1, 0, 0]])
    cos = CosineSimilarity()(r, data)
    mass = RelevanceMass()(r, data)
    assert cos.shape == (4,) and mass.shape == (4,)
    np.testing.assert_allclose(cos, [1.0, 1.0, COS_UNIFORM, 0.0], atol=1e-12)
    np.testing.assert_allclose(mass, [1.0, 1.0, 2 / 3, 0.0], atol=1e-12)


def test_maj_layout_t12_b3():
    data = make_data([[1, 1, 0], [1, 1, 0]], steps_per_block=4, d=3)
    r = np.zeros((2, 12, 3))
    r[0, 0:4, 0] = 1.0  # block 0 total 4
    r[0, 5, 2] = 4.0  # block 1 total 4
    r[1, 3, 0] = 1.0  # last step of block 0
    r[1, 4, 1] = 1.0  # first step of block 1
    r[1, 8, 2] = 2.0  # first step of block 2
    np.testing.assert_allclose(CosineSimilarity()(r, data), [1.0, 2 / np.sqrt(12)], atol=1e-12)
    np.testing.assert_allclose(RelevanceMass()(r, data), [1.0, 0.5], atol=1e-12)


def test_negative_relevance_clip_vs_keep():
    data = make_data([[1, 0, 1]])
    # per-step values: block 0 [2, -1], block 1 [1, 0], block 2 [0, -3]
    r = np.array([[[2.0, -1.0], [1.0, 0.0], [0.0, -3.0]]])
    # clipped at value level: blocks [2, 1, 0] (clipping after summing would give [1, 1, 0])
    np.testing.assert_allclose(CosineSimilarity()(r, data), [2 / np.sqrt(10)], atol=1e-12)
    # kept: blocks [1, 1, -3]
    np.testing.assert_allclose(CosineSimilarity(keep_negative=True)(r, data),
                               [-2 / np.sqrt(22)], atol=1e-12)
    # mass counts positive relevance only: 2 of 3 in the marked blocks
    np.testing.assert_allclose(RelevanceMass()(r, data), [2 / 3], atol=1e-12)


def test_keep_negative_does_not_flip_sign_for_negative_total():
    data = make_data([[1, 1, 0]])
    r = blocks_to_relevance([[-1, -1, 0]])
    assert CosineSimilarity(keep_negative=True)(r, data)[0] == pytest.approx(-1.0)
    with pytest.raises(DegenerateExplanation, match="no positive relevance"):
        CosineSimilarity()(r, data)  # clipped at 0 nothing is left


def test_zero_relevance_is_degenerate_without_warnings():
    data = make_data([[1, 1, 0], [0, 1, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for metric in (CosineSimilarity(), CosineSimilarity(keep_negative=True), RelevanceMass()):
            with pytest.raises(DegenerateExplanation, match="all 2 samples"):
                metric(np.zeros((2, 3, 2)), data)
        for metric in (CosineSimilarity(), RelevanceMass()):
            with pytest.raises(DegenerateExplanation, match="no positive relevance"):
                metric(-np.ones((2, 3, 2)), data)


def test_partly_zero_relevance_is_nan_for_those_samples_only():
    data = make_data([[1, 1, 0], [0, 1, 1], [1, 0, 1]])
    r = blocks_to_relevance([[0, 0, 0], [1, 1, 0], [-1, 0, -2]])
    np.testing.assert_allclose(CosineSimilarity()(r, data), [np.nan, 0.5, np.nan])
    np.testing.assert_allclose(RelevanceMass()(r, data), [np.nan, 0.5, np.nan])
    np.testing.assert_allclose(CosineSimilarity(keep_negative=True)(r, data),
                               [np.nan, 0.5, -3 / np.sqrt(10)])


@pytest.mark.parametrize("fill", [0.0, 1.0, -2.0])
def test_ranking_metrics_score_chance_on_constant_and_zero_maps(fill):
    data = make_data([[1, 1, 0], [0, 0, 1]], steps_per_block=2)
    r = np.full((2, 6, 2), fill)
    share = [2 / 3, 1 / 3]  # ground-truth share of the input values
    for metric in (RelevanceRank(), PointingGame(), AUPRC(), RelevanceRank(absolute=True)):
        np.testing.assert_allclose(metric(r, data), share)


def test_scale_invariant_including_tiny_and_huge():
    data = make_data([[1, 1, 0]])
    for scale in (1e-200, 1e-25, 1.0, 1e150):
        r = blocks_to_relevance([[2, 1, 1]]) * scale
        assert CosineSimilarity()(r, data)[0] == pytest.approx(3 / np.sqrt(12))
        assert RelevanceMass()(r, data)[0] == pytest.approx(0.75)


def test_needs_ground_truth_and_matching_shape():
    data = make_data([[1, 1, 0]])
    no_gt = TaskData("plain", data.X, data.y, data.spec)
    assert CosineSimilarity().not_applicable(no_gt)
    with pytest.raises(ValueError, match="ground truth"):
        CosineSimilarity()(np.ones((1, 3, 2)), no_gt)
    with pytest.raises(ValueError, match="shape"):
        RelevanceMass()(np.ones((2, 3, 2)), data)


# ------------------------------------------------ rank, pointing game, AUPRC
def test_registered_with_direction_and_granularity():
    for name, cls in [("relevance_rank", RelevanceRank), ("pointing_game", PointingGame),
                      ("auprc", AUPRC)]:
        assert METRICS.get(name) is cls and issubclass(cls, Metric)
        assert cls.higher_is_better is True
        assert cls.requires_ground_truth and cls.granularity == "input"


def test_ground_truth_mask_blocks_to_steps_to_values():
    gt = np.array([[1, 0], [0, 1]], bool)
    step_block = np.array([0, 0, -1, 1])  # step 2 lies in no block
    np.testing.assert_array_equal(ground_truth_steps(gt, step_block),
                                  [[1, 1, 0, 0], [0, 0, 0, 1]])
    values = ground_truth_values(gt, step_block, 3)
    assert values.shape == (2, 4, 3)
    np.testing.assert_array_equal(values[:, :, 1], ground_truth_steps(gt, step_block))


# 3 blocks of 1 step x 2 values; ground truth = blocks 0 and 1 -> cells 0..3, K = 4
@pytest.mark.parametrize(
    "cells, rank, point, ap",
    [
        # top-4 = cells 0,1,2,3 -> all hits; max on cell 0
        ([6, 5, 4, 3, 2, 1], 1.0, 1.0, 1.0),
        # top-4 = cells 4, 5 (outside), 0, 1 (inside); max on cell 4 (outside)
        ([3, 2, 1, 0, 5, 4], 0.5, 0.0, (1 / 3 + 2 / 4 + 3 / 5 + 4 / 6) / 4),
        # max on cell 2 (in GT); top-4 = cells 2,4,0,5 -> 2 hits
        ([4, 0, 9, 1, 5, 3], 0.5, 1.0, (1 / 1 + 2 / 3 + 3 / 5 + 4 / 6) / 4),
    ],
)
def test_rank_pointing_and_ap_hand_values(cells, rank, point, ap):
    data = make_data([[1, 1, 0]])
    r = np.asarray(cells, dtype=float).reshape(1, 3, 2)
    np.testing.assert_allclose(RelevanceRank()(r, data), [rank])
    np.testing.assert_allclose(PointingGame()(r, data), [point])
    np.testing.assert_allclose(AUPRC()(r, data), [ap])


def test_ties_count_as_expected_value():
    data = make_data([[1, 1, 0]])
    # constant relevance: chance level K / M = 4 / 6, pointing 4 / 6, AP = 4 / 6
    for metric in (RelevanceRank(), PointingGame(), AUPRC()):
        np.testing.assert_allclose(metric(np.ones((1, 3, 2)), data), [4 / 6])
    # cells [9, 2, 2, 0, 2, 2]: K = 4, top = {0} + 3 of the four 2s (cells 1, 2, 4, 5; two of
    # them ground truth) -> (1 + 3 * 2 / 4) / 4
    r = np.array([9, 2, 2, 0, 2, 2], float).reshape(1, 3, 2)
    np.testing.assert_allclose(RelevanceRank()(r, data), [(1 + 3 * 2 / 4) / 4])
    # two tied maxima, one in the ground truth
    r = np.array([5, 0, 0, 0, 5, 0], float).reshape(1, 3, 2)
    np.testing.assert_allclose(PointingGame()(r, data), [0.5])


def test_signed_vs_absolute():
    data = make_data([[1, 0, 0]])  # ground truth: cells 0, 1
    r = np.array([-9, -8, 1, 2, 3, 4], float).reshape(1, 3, 2)
    assert RelevanceRank()(r, data)[0] == 0.0 and PointingGame()(r, data)[0] == 0.0
    assert RelevanceRank(absolute=True)(r, data)[0] == 1.0
    assert PointingGame(absolute=True)(r, data)[0] == 1.0
    assert AUPRC(absolute=True)(r, data)[0] == 1.0
    np.testing.assert_allclose(AUPRC()(r, data), [(1 / 5 + 2 / 6) / 2])


def test_maj_layout_and_step_shapes():
    # T = 12 in 3 blocks of 4 steps, each step a (1, 2, 2) image
    data = make_data([[0, 1, 1]], steps_per_block=4, d=4)
    r = np.zeros((1, 12, 1, 2, 2))
    r[0, 5, 0, 1, 1] = 3.0  # block 1: the maximum
    r[0, 0, 0, 0, 0] = 2.0  # block 0: second
    np.testing.assert_allclose(PointingGame()(r, data), [1.0])
    # K = 32; top-32: the 3, the 2, then 30 of the 46 zeros (31 of them ground truth)
    np.testing.assert_allclose(RelevanceRank()(r, data), [(1 + 30 * 31 / 46) / 32])


def test_empty_ground_truth_is_nan_without_warnings():
    data = make_data([[0, 0, 0], [1, 0, 0]])
    r = np.arange(12, dtype=float).reshape(2, 3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for metric in (RelevanceRank(), PointingGame(), AUPRC()):
            out = metric(r, data)
            assert np.isnan(out[0]) and np.isfinite(out[1])


def test_needs_ground_truth_and_shape():
    data = make_data([[1, 1, 0]])
    no_gt = TaskData("plain", data.X, data.y, data.spec)
    for metric in (RelevanceRank(), PointingGame(), AUPRC()):
        assert metric.not_applicable(no_gt)
        with pytest.raises(ValueError, match="ground truth"):
            metric(np.ones((1, 3, 2)), no_gt)
        with pytest.raises(ValueError, match="shape"):
            metric(np.ones((2, 3, 2)), data)


def test_average_precision_equals_sklearn_with_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(50, 12)).astype(float)  # many ties
    labels = rng.random((50, 12)) < 0.4
    labels[:, 0] = True
    labels[0] = True  # all positive
    expected = [average_precision_score(y, s) for s, y in zip(scores, labels, strict=True)]
    np.testing.assert_allclose(average_precision(scores, labels), expected, atol=1e-12)


def test_auprc_equals_sklearn_on_task_data():
    rng = np.random.default_rng(1)
    marks = rng.random((20, 3)) < 0.5
    marks[:, 0] = True
    data = make_data(marks, steps_per_block=2, d=3)
    r = rng.normal(size=(20, 6, 3)).round(1)
    mask = np.repeat(np.repeat(marks, 2, axis=1)[:, :, None], 3, axis=2).reshape(20, -1)
    expected = [average_precision_score(m, s)
                for s, m in zip(r.reshape(20, -1), mask, strict=True)]
    np.testing.assert_allclose(AUPRC()(r, data), expected, atol=1e-12)


# --- Quantus (0.6) cross-check ------------------------------------------------------------
# Quantus takes image-like batches: x (N, C, H, W), a and s (N, 1, H, W); a time series
# (N, T, D) is passed as one channel, (N, 1, T, D). Its default max-normalisation of a_batch
# changes neither rankings nor mass ratios. Conventions that differ, and how inputs are
# chosen so both definitions must agree:
# * relevance_mass clips relevance at 0 (share of the positive relevance); Quantus'
#   RelevanceMassAccuracy divides raw sums. Equal on non-negative relevance, and ours on
#   signed relevance equals Quantus' on the clipped relevance.
# * ties: ours count tied values by their expected hit rate, Quantus by argsort order (rank)
#   or as a hit if any tied maximum is inside (pointing). Continuous random relevance has no
#   ties, where both are exact.


def _quantus_scores(metric_cls, a: np.ndarray, data: TaskData) -> np.ndarray:
    quantus = pytest.importorskip("quantus")
    n, t, d = data.X.shape
    mask = ground_truth_values(data.ground_truth, data.step_block, d).astype(float)
    metric = getattr(quantus, metric_cls)(disable_warnings=True)
    out = metric(model=None, x_batch=data.X.reshape(n, 1, t, d), y_batch=data.y,
                 a_batch=a.reshape(n, 1, t, d), s_batch=mask.reshape(n, 1, t, d),
                 channel_first=True)
    return np.asarray(out, dtype=float)


def _random_case(seed: int, n: int = 40):
    rng = np.random.default_rng(seed)
    marks = rng.random((n, 3)) < 0.5
    marks[np.arange(n), rng.integers(0, 3, n)] = True  # at least one block
    data = make_data(marks, steps_per_block=4, d=5)
    data = TaskData(data.name, rng.normal(size=data.X.shape).astype(np.float32), data.y,
                    data.spec, data.ground_truth, data.step_block)
    return data, rng


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_quantus_on_signed_relevance(seed):
    data, rng = _random_case(seed)
    a = rng.normal(size=data.X.shape)
    np.testing.assert_allclose(RelevanceRank()(a, data),
                               _quantus_scores("RelevanceRankAccuracy", a, data), atol=1e-12)
    np.testing.assert_allclose(PointingGame()(a, data),
                               _quantus_scores("PointingGame", a, data), atol=1e-12)
    # mass: ours on signed relevance == Quantus on the positive part
    np.testing.assert_allclose(RelevanceMass()(a, data),
                               _quantus_scores("RelevanceMassAccuracy", np.clip(a, 0, None),
                                               data), atol=1e-12)


def test_matches_quantus_on_non_negative_relevance():
    data, rng = _random_case(2)
    a = rng.random(size=data.X.shape) ** 3  # SA-like: non-negative, skewed
    for ours, theirs in [(RelevanceRank(), "RelevanceRankAccuracy"),
                         (PointingGame(), "PointingGame"),
                         (RelevanceMass(), "RelevanceMassAccuracy")]:
        np.testing.assert_allclose(ours(a, data), _quantus_scores(theirs, a, data), atol=1e-12)

