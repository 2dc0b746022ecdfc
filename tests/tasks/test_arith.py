"""The toy arithmetic task (Arras et al. 2019) in classification form."""

import numpy as np
import pytest

from rnnxbench.registry import TASKS
from rnnxbench.tasks.arith import make_arith


def test_two_marked_numbers_decide_the_class():
    X, y, marked, target = make_arith(600, 9, seed=3, operation="sub", n_classes=3)
    assert X.shape == (600, 9, 2) and X.dtype == np.float32 and y.dtype == np.int64
    assert (marked.sum(axis=1) == 2).all()
    assert np.array_equal(X[:, :, 1] == 1, marked)  # the marker channel is the ground truth
    first = np.array([row[m][0] for row, m in zip(X[:, :, 0], marked, strict=True)])
    second = np.array([row[m][1] for row, m in zip(X[:, :, 0], marked, strict=True)])
    np.testing.assert_allclose(target, first - second, atol=1e-6)
    # quantile bins: balanced classes, ordered by the target
    assert np.bincount(y).tolist() == [200, 200, 200]
    assert target[y == 0].max() <= target[y == 1].min() <= target[y == 1].max() \
        <= target[y == 2].min()
    # positions cover every step: uniform over pairs
    assert marked.any(axis=0).all()


def test_task_builds_deterministic_data_with_step_ground_truth():
    task = TASKS.get("arith")(operation="add", n_classes=2, n_samples=100, n_steps=6)
    a, b = task.build("generated", seed=1), task.build("generated", seed=1)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.X, task.build("generated", seed=2).X)
    assert a.ground_truth.shape == (100, 6) and a.step_block.tolist() == list(range(6))
    assert np.array_equal(a.ground_truth, a.X[:, :, 1] == 1)
    total = a.X[:, :, 0][a.ground_truth].reshape(100, 2).sum(axis=1)
    assert a.y.tolist() == (total >= np.median(total)).astype(int).tolist()  # median split
    assert len(task.build("generated", max_images=40, seed=1)) == 40


def test_bad_options_name_the_choices():
    with pytest.raises(ValueError, match="add, sub"):
        TASKS.get("arith")(operation="mul")
    with pytest.raises(ValueError, match="n_steps >= 2"):
        make_arith(10, 1, seed=0)


@pytest.mark.slow
def test_arith_suite_smoke_run(run_dirs):
    import rnnxbench

    result = rnnxbench.run_suite(
        "arith", "smoke", tasks=["arith-add"], architectures=["nv_gru"],
        explainers=["sa", "nv_weights", "uniform"], metrics=["relevance_mass", "cosine"],
        progress=False, cache_dir=run_dirs["cache_dir"], results_dir=None,
        profile_overrides={"max_images": 70, "epochs": 1, "folds": [0], "explain_samples": 5})
    scores = result.scores
    assert (scores["status"] == "ok").all(), scores[scores.status != "ok"]["error"].tolist()
    assert len(scores) == 3 * 2 and (scores["data_source"] == "generated:generated").all()
    uniform = scores[scores.explainer == "uniform"].set_index("metric")["value"]
    assert uniform["relevance_mass"] == pytest.approx(2 / 20)  # 2 marked of 20 steps
    # a task-scoped [training.arith] table reaches the trained models
    training = result.info["model_accuracy"][0]["training"]
    assert {k: training[k] for k in ("epochs", "lr", "batch_size")} == {
        "epochs": 1, "lr": 1e-3, "batch_size": 50}
    scoped = rnnxbench.run_suite(
        "arith", "smoke", tasks=["arith-add"], architectures=["nv_gru"], explainers=["sa"],
        metrics=["cosine"], progress=False, cache_dir=run_dirs["cache_dir"], results_dir=None,
        profile_overrides={"max_images": 70, "epochs": 1, "folds": [0], "explain_samples": 5,
                           "training": {"nv_gru": {"lr": 5e-3},
                                        "arith": {"epochs": 2, "nv_gru": {"batch_size": 10}}}})
    scoped_training = scoped.info["model_accuracy"][0]["training"]
    assert {k: scoped_training[k] for k in ("epochs", "lr", "batch_size")} == {
        "epochs": 2, "lr": 5e-3, "batch_size": 10}
    assert scoped.info["models"] == {"trained": 1, "from_cache": 0}
