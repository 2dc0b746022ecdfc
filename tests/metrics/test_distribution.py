import numpy as np
import pytest

from rnnxbench.metrics.distribution import LastStepShare, StepShare
from rnnxbench.tasks.base import InputSpec, TaskData


def _data(n=2, t=4, d=3):
    return TaskData("x", np.zeros((n, t, d), np.float32), np.zeros(n, np.int64),
                    InputSpec(t, d, (d,), 10))


def test_step_shares_hand_computed():
    rel = np.zeros((2, 4, 3))
    rel[0, 3] = [1, 1, -5]     # negative relevance is not counted
    rel[0, 0] = [2, 0, 0]      # -> shares: step0 2/4, step3 2/4
    rel[1] = 1.0               # uniform -> 1/4 everywhere
    data = _data()
    np.testing.assert_allclose(LastStepShare()(rel, data), [0.5, 0.25])
    np.testing.assert_allclose(StepShare(step=0)(rel, data), [0.5, 0.25])
    np.testing.assert_allclose(StepShare(step=1)(rel, data), [0.0, 0.25])
    assert LastStepShare().not_applicable(data) is None  # no ground truth needed
    assert LastStepShare.higher_is_better is None
    with pytest.raises(ValueError, match="outside"):
        StepShare(step=4)(rel, data)


def test_no_positive_relevance_has_no_shares():
    from rnnxbench.metrics import DegenerateExplanation

    rel = np.zeros((3, 4, 3))
    rel[1, 2, 0] = 1.0
    rel[2] = -1.0  # negative only
    np.testing.assert_array_equal(StepShare(step=2)(rel, _data(n=3)), [np.nan, 1.0, np.nan])
    for other in (np.zeros((2, 4, 3)), -np.ones((2, 4, 3))):
        with pytest.raises(DegenerateExplanation, match="no positive relevance"):
            LastStepShare()(other, _data())
