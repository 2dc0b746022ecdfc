"""Seed replication: every fold trained with each of a profile's seeds; the leaderboard
separates the spread over folds from the spread over seeds, and tests pair fold x seed."""

import pandas as pd
import pytest

import rnnxbench

pytestmark = pytest.mark.slow


def test_every_fold_is_trained_with_every_seed(run_dirs):
    result = rnnxbench.run_suite("digits", "smoke", explainers=["sa", "uniform"],
                                 metrics=["cosine"], progress=False,
                                 profile_overrides={"seeds": [0, 1]}, **run_dirs)
    models = pd.DataFrame(result.info["model_accuracy"])
    assert len(models) == 2 * 2 * 2 and models["model_hash"].nunique() == 8  # arch x fold x seed
    assert sorted(models.groupby(["architecture", "fold"])["seed"].apply(list).iloc[0]) == [0, 1]
    scores = result.scores
    assert set(scores["seed"]) == {0, 1} and len(scores) == 2 * 2 * 2 * 2
    board = result.leaderboard.set_index(["architecture", "explainer"])
    row = board.loc[("deep", "sa")]
    assert row["n_folds"] == 4 and row["n_seeds"] == 2
    assert row["std_between_folds"] >= 0 and row["std_within_folds"] >= 0
    tests = result.tests
    assert (tests["n_pairs"] == 4).all()
    explained = result.explained  # the same sequences for both seeds of a fold
    per_seed = explained.groupby(["architecture", "fold", "seed"])["sample"].apply(tuple)
    assert per_seed[("deep", 0, 0)] == per_seed[("deep", 0, 1)]
    again = rnnxbench.run_suite("digits", "smoke", explainers=["sa", "uniform"],
                                metrics=["cosine"], progress=False,
                                profile_overrides={"seeds": [0, 1]}, **run_dirs)
    assert again.info["models"] == {"trained": 0, "from_cache": 8}
