"""The shared aggregation: input values -> steps -> blocks -> shares."""

import numpy as np
import pytest

from rnnxbench.metrics.aggregate import (
    block_membership,
    block_relevance,
    block_shares,
    shares,
    step_relevance,
)

MAJ_BLOCKS = np.repeat(np.arange(3), 4)  # T = 12: steps 4k..4k+3 form block k


def test_step_relevance_sums_each_step():
    r = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)
    np.testing.assert_allclose(step_relevance(r), [[6, 22, 38], [54, 70, 86]])
    assert step_relevance(r).shape == (2, 3)


def test_step_relevance_flattens_a_step_shape():
    r = np.ones((2, 12, 1, 28, 7))
    np.testing.assert_allclose(step_relevance(r), np.full((2, 12), 196.0))


def test_positive_clips_input_values_before_summing():
    r = np.array([[[2.0, -1.0], [-3.0, -1.0]]])
    np.testing.assert_allclose(step_relevance(r), [[1.0, -4.0]])
    np.testing.assert_allclose(step_relevance(r, positive=True), [[2.0, 0.0]])  # not max(0, 1)


def test_block_relevance_maj_steps():
    r = np.zeros((1, 12, 2))
    r[0, :, 0] = np.arange(12)  # step t holds t
    np.testing.assert_allclose(block_relevance(r, MAJ_BLOCKS), [[0 + 1 + 2 + 3, 4 + 5 + 6 + 7,
                                                                  8 + 9 + 10 + 11]])


def test_block_relevance_matches_a_loop_reference():
    rng = np.random.default_rng(0)
    r = rng.normal(size=(5, 12, 6))
    expected = np.zeros((5, 3))
    for n in range(5):
        for t in range(12):
            expected[n, t // 4] += np.clip(r[n, t], 0, None).sum()
    np.testing.assert_allclose(block_relevance(r, MAJ_BLOCKS, positive=True), expected)


def test_block_relevance_step_count_mismatch():
    with pytest.raises(ValueError, match="steps"):
        block_relevance(np.ones((1, 10, 2)), MAJ_BLOCKS)


def test_block_membership_ignores_negative_index():
    m = block_membership(np.array([0, -1, 1, 1]))
    np.testing.assert_array_equal(m, [[1, 0], [0, 0], [0, 1], [0, 1]])
    assert block_membership(np.array([0, 0]), n_blocks=3).shape == (2, 3)


def test_shares_sum_to_one_and_zero_stays_zero():
    s = shares(np.array([[1.0, 1.0, 2.0], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(s, [[0.25, 0.25, 0.5], [0.0, 0.0, 0.0]])
    assert not np.isnan(s).any()


def test_shares_eps_is_the_thesis_one():
    np.testing.assert_allclose(shares(np.array([1e-20, 1e-20])), [1 / 3, 1 / 3])
    np.testing.assert_allclose(shares(np.array([1.0, 3.0]), eps=1.0), [0.2, 0.6])


def test_block_shares_default_positive():
    r = np.zeros((1, 12, 1))
    r[0, 0, 0], r[0, 4, 0], r[0, 8, 0] = 3.0, 1.0, -5.0
    np.testing.assert_allclose(block_shares(r, MAJ_BLOCKS), [[0.75, 0.25, 0.0]])
