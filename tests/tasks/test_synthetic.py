import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

import rnnxbench
from rnnxbench.registry import TASKS
from rnnxbench.tasks.base import InputSpec, TaskData
from rnnxbench.tasks.synthetic import BACKGROUNDS, DATASETS, SyntheticTask, make_synthetic

POSITIONAL = ("positional_time", "positional_feature")


def build(dataset="middle", background="gaussian", seed=0, max_images=0, **options):
    options = {"n_samples": 200, "n_steps": 50, "n_features": 50, **options}
    task = SyntheticTask(dataset=dataset, background=background, **options)
    return task.build("generated", max_images=max_images, seed=seed)


def box_ranges(cells: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per sample the first step, step count, first feature and feature count of the box."""
    steps, features = cells.any(axis=2), cells.any(axis=1)
    return (steps.argmax(axis=1), steps.sum(axis=1), features.argmax(axis=1),
            features.sum(axis=1))


def test_registered_and_deterministic_from_the_seed():
    assert TASKS.get("synthetic") is SyntheticTask
    a, b, c = build(seed=3), build(seed=3), build(seed=4)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.ground_truth_cells, b.ground_truth_cells)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert not np.array_equal(a.X, c.X)


@pytest.mark.parametrize("background", BACKGROUNDS)
def test_shapes_spec_and_block_ground_truth(background):
    data = build("rare_time", background, n_samples=30, n_steps=12, n_features=7)
    assert data.X.shape == (30, 12, 7) and data.X.dtype == np.float32
    assert data.y.dtype == np.int64 and np.bincount(data.y).tolist() == [15, 15]
    assert data.spec == InputSpec(12, 7, (7,), 2, (float(data.X.min()), float(data.X.max())))
    np.testing.assert_array_equal(data.step_block, np.arange(12))
    np.testing.assert_array_equal(data.ground_truth, data.ground_truth_cells.any(axis=2))
    assert data.name == f"synthetic-rare_time-{background}"
    assert data.source == "generated" and data.n_images == 30
    assert len(build(max_images=40)) == 40


# Ismail et al.'s layouts on 50 x 50: (first step, steps, first feature, features)
FIXED = {"middle": (10, 30, 10, 30), "small_middle": (18, 14, 18, 14),
         "rare_time": (22, 6, 5, 40), "rare_feature": (5, 40, 22, 6)}


@pytest.mark.parametrize("dataset", list(FIXED))
def test_fixed_boxes_are_ismail_et_al_s(dataset):
    data = build(dataset)
    for got, want in zip(box_ranges(data.ground_truth_cells), FIXED[dataset], strict=True):
        assert (got == want).all()


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_mask_is_one_whole_box_per_sample(dataset):
    data = build(dataset, n_steps=40, n_features=20)
    t0, nt, f0, nf = box_ranges(data.ground_truth_cells)
    steps, features = np.arange(40), np.arange(20)
    in_t = (steps >= t0[:, None]) & (steps < (t0 + nt)[:, None])
    in_f = (features >= f0[:, None]) & (features < (f0 + nf)[:, None])
    np.testing.assert_array_equal(data.ground_truth_cells, in_t[:, :, None] & in_f[:, None])
    assert len(set(nt)) == len(set(nf)) == 1  # one box size per data set
    assert (t0 + nt <= 40).all() and (f0 + nf <= 20).all()


def test_moving_boxes_move_and_keep_their_size():
    t0, nt, f0, nf = box_ranges(build("moving").ground_truth_cells)
    assert (nt == 30).all() and (nf == 30).all()
    assert len(set(t0)) > 10 and len(set(f0)) > 10
    assert t0.min() == 0 and t0.max() == 20 and f0.max() == 20


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("background", BACKGROUNDS)
def test_the_class_signal_is_exactly_the_box(dataset, background):
    """Same seed, with and without the signal: the difference is +-shift on the box only."""
    args = (dataset, background, 60, 30, 10, 7)
    x1, y, cells = make_synthetic(*args, shift=1.5)
    x0, y0, cells0 = make_synthetic(*args, shift=0.0)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(cells, cells0)
    sign = np.ones(60) if dataset in POSITIONAL else 2.0 * y - 1
    np.testing.assert_allclose(x1 - x0, 1.5 * sign[:, None, None] * cells, atol=1e-5)


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_class_is_learnable_from_the_box_only(dataset):
    """A linear model separates the classes; with the box cells redrawn as background it
    is at chance (on Gaussian background, where redrawn cells look like the rest)."""
    data = build(dataset, n_samples=300, n_steps=20, n_features=10)
    x = data.X.reshape(len(data), -1)
    model = LogisticRegression(C=0.1, max_iter=2000)
    assert cross_val_score(model, x, data.y, cv=3).mean() > 0.9
    noise = np.random.default_rng(1).standard_normal(x.shape)
    redrawn = np.where(data.ground_truth_cells.reshape(len(data), -1), noise, x)
    assert cross_val_score(model, redrawn, data.y, cv=3).mean() < 0.65


@pytest.mark.parametrize("dataset, axis", [("positional_time", 0), ("positional_feature", 1)])
def test_positional_types_encode_the_class_by_position(dataset, axis):
    data = build(dataset)
    ranges = box_ranges(data.ground_truth_cells)
    start, other = ranges[2 * axis], ranges[2 * (1 - axis)]
    assert (start[data.y == 0] == 1).all() and (start[data.y == 1] == 29).all()
    assert len(set(other)) > 10  # random along the other axis
    box_mean = (data.X * data.ground_truth_cells).sum(axis=(1, 2)) / 400
    for c in (0, 1):  # the same +1 signal in both classes
        assert 0.8 < box_mean[data.y == c].mean() < 1.2


def test_layouts_scale_to_other_sizes():
    # middle on 50 x 20: steps 10..39, features round(4)..+round(12)
    t0, nt, f0, nf = box_ranges(build("middle", n_features=20).ground_truth_cells)
    assert (t0 == 10).all() and (nt == 30).all() and (f0 == 4).all() and (nf == 12).all()
    # positional_feature on 20 features: starts 0 and 12, 8 wide, never overlapping
    data = build("positional_feature", n_features=20)
    _, _, f0, nf = box_ranges(data.ground_truth_cells)
    assert set(f0[data.y == 0]) == {0} and set(f0[data.y == 1]) == {12} and (nf == 8).all()


def test_backgrounds_have_the_documented_statistics():
    shape = {"n_samples": 400, "n_steps": 50, "n_features": 10, "shift": 0.0}
    ar = build("middle", "autoregressive", noise=0.0, **shape).X.astype(np.float64)
    lag1 = (ar[:, 1:] * ar[:, :-1]).mean() / (ar**2).mean()
    assert abs(ar.var() - 1) < 0.1 and abs(lag1 - 0.9) < 0.03
    harmonic = build("middle", "harmonic", noise=0.0, **shape).X
    assert np.abs(harmonic).max() <= 1 and abs(harmonic.var() - 0.5) < 0.05
    gaussian = build("middle", "gaussian", **shape).X
    assert abs(gaussian.mean()) < 0.02 and abs(gaussian.var() - 1) < 0.02


@pytest.mark.parametrize("options, message", [
    ({"dataset": "big_middle"}, "middle, small_middle, moving"),
    ({"background": "narma"}, "gaussian, autoregressive, harmonic"),
    ({"frequency": (0.3, 0.1)}, "frequency"), ({"ar": 1.0}, "ar must"),
    ({"n_features": 0}, "positive")])
def test_bad_options_are_rejected_at_construction(options, message):
    with pytest.raises(ValueError, match=message):
        SyntheticTask(**options)


def test_cell_mask_is_validated_and_kept_by_subset():
    data = build(n_samples=10)
    sub = data.subset(np.array([3, 1]))
    np.testing.assert_array_equal(sub.ground_truth_cells, data.ground_truth_cells[[3, 1]])
    fields = dict(name="t", X=data.X, y=data.y, spec=data.spec, step_block=data.step_block)
    with pytest.raises(ValueError, match="outside the ground-truth blocks"):
        TaskData(**fields, ground_truth=np.zeros_like(data.ground_truth),
                 ground_truth_cells=data.ground_truth_cells)
    with pytest.raises(ValueError, match="must be bool"):
        TaskData(**fields, ground_truth=data.ground_truth,
                 ground_truth_cells=data.ground_truth_cells[:, :, :3])
    with pytest.raises(ValueError, match="needs block ground truth"):
        TaskData(**fields, ground_truth_cells=data.ground_truth_cells)


MASK_METRICS = ["relevance_mass", "relevance_rank", "auprc", "cosine", "time_precision",
                "time_recall", "feature_precision", "feature_recall"]


@pytest.mark.slow
def test_synthetic_suite_smoke_run(run_dirs):
    result = rnnxbench.run_suite(
        "synthetic", "smoke", tasks=["middle-gaussian"], architectures=["gru"],
        explainers=["sa", "tsr", "uniform"], progress=False,
        cache_dir=run_dirs["cache_dir"], results_dir=None,
        profile_overrides={"max_images": 70, "epochs": 1, "folds": [0], "explain_samples": 4})
    scores = result.scores
    # a constant map selects no step or feature over another: the time/feature precision
    # and recall are undefined for it (degenerate), not a perfect recall of 1
    flat = ["time_precision", "time_recall", "feature_precision", "feature_recall"]
    degenerate = (scores["explainer"] == "uniform") & scores["metric"].isin(flat)
    assert (scores.loc[degenerate, "status"] == "degenerate").all()
    assert (scores.loc[~degenerate, "status"] == "ok").all(), scores["error"].tolist()
    assert set(scores["metric"]) == set(MASK_METRICS) and len(scores) == 3 * 8
    assert scores.loc[~degenerate, "value"].between(0, 1).all()
    assert (scores["data_source"] == "generated:generated").all()
    uniform = scores[scores.explainer == "uniform"].set_index("metric")["value"]
    assert uniform["relevance_mass"] == pytest.approx(360 / 1000)
