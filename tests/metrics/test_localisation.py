"""Localisation metrics against hand-computed values."""

import warnings

import numpy as np
import pytest

from rnnxbench.metrics import CosineSimilarity, Metric, RelevanceMass
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
def test_hand_values(blocks, cosine, mass):
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
    assert CosineSimilarity()(r, data)[0] == 0.0


def test_zero_relevance_scores_zero_without_warnings():
    data = make_data([[1, 1, 0], [0, 1, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for metric in (CosineSimilarity(), CosineSimilarity(keep_negative=True), RelevanceMass()):
            np.testing.assert_array_equal(metric(np.zeros((2, 3, 2)), data), [0.0, 0.0])
        np.testing.assert_array_equal(CosineSimilarity()(-np.ones((2, 3, 2)), data), [0.0, 0.0])


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
