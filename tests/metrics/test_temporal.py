import numpy as np
import pytest

from rnnxbench.metrics import DegenerateExplanation
from rnnxbench.metrics.aggregate import ground_truth_values
from rnnxbench.metrics.temporal import axis_precision_recall, selected_units
from rnnxbench.registry import METRICS
from rnnxbench.tasks.base import InputSpec, TaskData

NAMES = ["time_precision", "time_recall", "feature_precision", "feature_recall"]

# one sample, T = 4 steps x D = 3 features; ground truth: steps 1-2 of feature 0
CELLS = np.zeros((1, 4, 3), dtype=bool)
CELLS[0, 1:3, 0] = True
R = np.array([[[0.0, 0.0, 0.0],
               [3.0, 0.0, 0.0],
               [0.0, 0.0, 1.0],
               [0.0, -2.0, 0.0]]])


def cell_data(cells: np.ndarray = CELLS, with_cells: bool = True) -> TaskData:
    n, t, d = cells.shape
    return TaskData("cells", np.zeros((n, t, d), np.float32), np.zeros(n, np.int64),
                    InputSpec(t, d, (d,), 2), ground_truth=cells.any(axis=2),
                    step_block=np.arange(t),
                    ground_truth_cells=cells if with_cells else None)


def scores(relevance: np.ndarray, data: TaskData, **options) -> dict[str, float]:
    return {name: float(METRICS.get(name)(**options)(relevance, data)[0]) for name in NAMES}


def test_registered():
    assert {*NAMES} <= set(METRICS.names())


def test_hand_computed_absolute_mean_selection():
    # |R| per step [0, 3, 1, 2], mean 1.5 -> steps {1, 3}; informative {1, 2}
    # |R| per feature [3, 2, 1], mean 2 -> features {0, 1}; informative {0}
    assert scores(R, cell_data()) == {"time_precision": 0.5, "time_recall": 0.5,
                                      "feature_precision": 0.5, "feature_recall": 1.0}


def test_hand_computed_signed_mean_selection():
    # R per step [0, 3, 1, -2], mean 0.5 -> steps {1, 2}
    # R per feature [3, -2, 1], mean 2/3 -> features {0, 2}
    assert scores(R, cell_data(), absolute=False) == {
        "time_precision": 1.0, "time_recall": 1.0,
        "feature_precision": 0.5, "feature_recall": 1.0}


def test_hand_computed_top_k_selection_equals_precision_and_recall():
    # K = 2 informative steps: top-2 of [0, 3, 1, 2] = {1, 3}; K = 1 feature: {0}
    assert scores(R, cell_data(), select="top_k") == {
        "time_precision": 0.5, "time_recall": 0.5,
        "feature_precision": 1.0, "feature_recall": 1.0}


@pytest.mark.parametrize("fill", [0.7, 0.0, -1.0])
def test_flat_profiles_are_degenerate_not_perfect_recall(fill):
    # "at least the mean" would select every unit: recall 1 for a map that marks nothing
    for name in NAMES:
        for options in ({}, {"absolute": False}, {"select": "top_k"}):
            with pytest.raises(DegenerateExplanation, match="same summed relevance"):
                METRICS.get(name)(**options)(np.full((1, 4, 3), fill), cell_data())


def test_flat_samples_are_nan_only_there_and_per_axis():
    cells = np.concatenate([CELLS, CELLS, CELLS])
    relevance = np.concatenate([R, np.zeros_like(R), R])
    relevance[2] = relevance[2].sum(axis=1, keepdims=True) / 3  # each step spread evenly
    got = {name: METRICS.get(name)()(relevance, cell_data(cells)) for name in NAMES}
    np.testing.assert_array_equal(got["time_precision"], [0.5, np.nan, 0.5])
    np.testing.assert_array_equal(got["time_recall"], [0.5, np.nan, 0.5])
    # erasure-like maps have no feature resolution: undefined on the feature axis
    np.testing.assert_array_equal(got["feature_precision"], [0.5, np.nan, np.nan])
    np.testing.assert_array_equal(got["feature_recall"], [1.0, np.nan, np.nan])


def test_relevance_on_the_cells_only_is_perfect_and_batched():
    cells = np.zeros((3, 5, 4), dtype=bool)
    cells[0, 1:3, 2:4] = True
    cells[1, 4, 0] = True
    cells[2, 1:, 1] = True
    relevance = cells * 1.0
    for name, value in scores(relevance, cell_data(cells)).items():
        assert value == 1.0, name
    precision, recall = axis_precision_recall(relevance, cells, "time")
    np.testing.assert_array_equal(precision, [1, 1, 1])
    np.testing.assert_array_equal(recall, [1, 1, 1])
    # relevance on the complement: per feature [5, 5, 3, 3], [4, 5, 5, 5], [5, 1, 5, 5];
    # the features at or above the mean are never the informative ones
    precision, recall = axis_precision_recall(~cells * 1.0, cells, "feature")
    np.testing.assert_array_equal(precision, [0, 0, 0])
    np.testing.assert_array_equal(recall, [0, 0, 0])


def test_a_sample_without_cells_scores_nan():
    cells = np.zeros((2, 4, 3), dtype=bool)
    cells[1, 0, 0] = True
    precision, recall = axis_precision_recall(np.arange(24.0)[::-1].reshape(2, 4, 3), cells,
                                              "time")
    assert np.isnan(precision[0]) and np.isnan(recall[0]) and recall[1] == 1


def test_without_cells_the_metrics_are_not_applicable():
    data = cell_data(with_cells=False)
    for name in NAMES:
        metric = METRICS.get(name)()
        assert "ground-truth cells" in metric.not_applicable(data)
        with pytest.raises(ValueError, match="ground-truth cells"):
            metric(R, data)


def test_bad_options():
    with pytest.raises(ValueError, match="select"):
        METRICS.get("time_recall")(select="top")
    with pytest.raises(ValueError, match="axis"):
        axis_precision_recall(R, CELLS, "space")
    with pytest.raises(ValueError, match="needs k"):
        selected_units(np.ones((1, 3)), "top_k")


# The cell mask in the shared aggregation and the localisation metrics


def test_ground_truth_values_uses_the_cells_when_given():
    gt, blocks = CELLS.any(axis=2), np.arange(4)
    np.testing.assert_array_equal(ground_truth_values(gt, blocks, 3, CELLS), CELLS)
    whole_steps = ground_truth_values(gt, blocks, 3)
    assert whole_steps.sum() == 6 and whole_steps[0, 1:3].all()
    with pytest.raises(ValueError, match="does not match"):
        ground_truth_values(gt, blocks, 2, CELLS)


def test_localisation_metrics_score_the_cells():
    with_cells, steps_only = cell_data(), cell_data(with_cells=False)
    relevance = np.array([[[0.0, 0.0, 0.0],
                           [3.0, 1.0, 0.0],
                           [0.0, 2.0, 0.0],
                           [0.0, 0.0, 4.0]]])

    def metric(name, data):
        return float(METRICS.get(name)()(relevance, data)[0])

    # positive relevance 10: 3 on the cells, 6 on the cells' steps
    assert metric("relevance_mass", with_cells) == pytest.approx(0.3)
    assert metric("relevance_mass", steps_only) == pytest.approx(0.6)
    # K = 2 cells: top-2 values 4 (off) and 3 (on)
    assert metric("relevance_rank", with_cells) == pytest.approx(0.5)
    # without cells: K = 6, 4 values above the 6th (0; 3 of them on the steps) and 2 of
    # 8 tied zeros (3 on the steps) expected -> (3 + 2 * 3 / 8) / 6
    assert metric("relevance_rank", steps_only) == pytest.approx((3 + 2 * 3 / 8) / 6)
    assert metric("pointing_game", with_cells) == 0.0
    # AP: ranks 4 (no), 3 (yes: 1/2), 2, 1, then 8 tied zeros with the other cell
    assert metric("auprc", with_cells) == pytest.approx((1 / 2 + 2 / 12) / 2)
