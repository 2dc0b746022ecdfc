"""The ucr task: aeon's bundled UCR/UEA sets, offline, with their own train/test split."""

from __future__ import annotations

import numpy as np
import pytest

from rnnxbench.engine.folds import task_splits
from rnnxbench.registry import TASKS
from rnnxbench.tasks import DataUnavailable, UCRTask, bundled_sets
from rnnxbench.tasks.ucr import to_sequences

SUITE_SETS = ["GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions", "JapaneseVowels",
              "OSULeaf"]


def test_the_suites_sets_ship_with_aeon():
    assert set(SUITE_SETS) <= set(bundled_sets())
    assert TASKS.get("ucr") is UCRTask


@pytest.mark.parametrize("name, n_train, n_test, steps, channels, classes", [
    ("GunPoint", 50, 150, 150, 1, 2), ("BasicMotions", 40, 40, 100, 6, 4),
    ("JapaneseVowels", 270, 370, 29, 12, 9)])
def test_own_split_shapes(name, n_train, n_test, steps, channels, classes):
    d = UCRTask(dataset=name).build("aeon")
    assert d.X.shape == (n_train + n_test, steps, channels) and d.X.dtype == np.float32
    assert d.spec.n_classes == classes and set(np.unique(d.y)) == set(range(classes))
    assert d.test_split.sum() == n_test and not d.test_split[:n_train].any()
    assert d.ground_truth is None and np.isfinite(d.X).all()
    # standardised with the training split's statistics, per channel
    train = d.X[~d.test_split]
    if name != "JapaneseVowels":  # (padding zeros would bias the check)
        np.testing.assert_allclose(train.mean(axis=(0, 1)), 0, atol=1e-5)
        np.testing.assert_allclose(train.std(axis=(0, 1)), 1, atol=1e-4)


def test_labels_follow_the_files_and_parts_are_shuffled():
    from aeon.datasets import load_classification

    d = UCRTask(dataset="ItalyPowerDemand").build("aeon", seed=3)
    _, y_test = load_classification("ItalyPowerDemand", split="test")
    classes = np.unique(y_test)
    counts = np.bincount(d.y[d.test_split], minlength=len(classes))
    np.testing.assert_array_equal(counts, [np.sum(y_test == c) for c in classes])
    # a prefix of the test part (the explained samples) mixes the classes
    assert len(np.unique(d.y[d.test_split][:32])) == 2
    again = UCRTask(dataset="ItalyPowerDemand").build("aeon", seed=3)
    np.testing.assert_array_equal(again.X, d.X)
    assert not np.array_equal(UCRTask(dataset="ItalyPowerDemand").build("aeon", seed=4).y, d.y)


def test_variable_length_series_are_zero_padded_at_the_end():
    series = [np.array([[1.0, 2.0, 3.0]]), np.array([[5.0]])]
    out = to_sequences(series, mean=np.array([2.0]), std=np.array([2.0]), n_steps=4)
    np.testing.assert_allclose(out[:, :, 0], [[-0.5, 0, 0.5, 0], [1.5, 0, 0, 0]])
    d = UCRTask(dataset="JapaneseVowels").build("aeon")
    assert d.meta["padded"] and d.meta["lengths"] == [7, 29]
    shortest = np.flatnonzero((np.abs(d.X).sum(axis=2) > 0).sum(axis=1) <= 7)
    assert len(shortest) and (d.X[shortest, 7:] == 0).all()


def test_kfold_option_pools_the_parts_and_max_images_caps_each():
    d = UCRTask(dataset="ArrowHead", split="kfold").build("aeon")
    assert d.test_split is None and len(d) == 211
    small = UCRTask(dataset="ItalyPowerDemand").build("aeon", max_images=30)
    assert (~small.test_split).sum() == 30 and small.test_split.sum() == 30


def test_own_split_makes_every_fold_a_repeat_of_it():
    d = UCRTask(dataset="GunPoint").build("aeon")
    folds = task_splits(d.y, [0, 1, 2], 7, 71, d.test_split)
    for train, test in folds.values():
        np.testing.assert_array_equal(test, np.flatnonzero(d.test_split))
        assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(d)
    kfold = task_splits(d.y, [0, 1], 7, 71)
    assert not np.array_equal(kfold[0][1], kfold[1][1])
    # a subset holding one part only has no split left
    assert d.subset(np.flatnonzero(d.test_split)).test_split is None


def test_bad_input_names_the_choices(tmp_path):
    with pytest.raises(ValueError, match="split must be one of own, kfold"):
        UCRTask(dataset="GunPoint", split="cv")
    with pytest.raises(ValueError, match="source must be one of aeon, ts"):
        UCRTask(dataset="GunPoint").build("ucr-archive")
    with pytest.raises(DataUnavailable, match="not bundled with aeon.*GunPoint"):
        UCRTask(dataset="Adiac").build("aeon")
    with pytest.raises(DataUnavailable, match="Adiac_TRAIN.ts"):
        UCRTask(dataset="Adiac").build("ts", data_dir=str(tmp_path))
    # aeon also ships regression sets: not offered, and refused from files
    assert "Covid3Month" not in bundled_sets() and "CardanoSentiment" not in bundled_sets()
    with pytest.raises(DataUnavailable, match="classification set 'Covid3Month'"):
        UCRTask(dataset="Covid3Month").build("aeon")
    from rnnxbench.tasks.ucr import aeon_data_dir

    for part in ("TRAIN", "TEST"):
        src = aeon_data_dir() / "Covid3Month" / f"Covid3Month_{part}.ts"
        (tmp_path / f"Covid_{part}.ts").write_text(src.read_text())
    with pytest.raises(ValueError, match="regression set"):
        UCRTask(dataset="Covid").build("ts", data_dir=str(tmp_path))


def test_ts_source_reads_archive_files_from_the_data_folder(tmp_path):
    from rnnxbench.tasks.ucr import aeon_data_dir

    folder = tmp_path / "Mine"
    folder.mkdir()
    for part in ("TRAIN", "TEST"):
        text = (aeon_data_dir() / "GunPoint" / f"GunPoint_{part}.ts").read_text()
        (folder / f"Mine_{part}.ts").write_text(text)
    mine = UCRTask(dataset="Mine").build("ts", data_dir=str(tmp_path))
    ref = UCRTask(dataset="GunPoint").build("aeon")
    np.testing.assert_array_equal(mine.X, ref.X)
    assert mine.source.startswith("ts:")
