"""Paired t-tests against a baseline, Holm correction and explainer ranks, by hand."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rnnxbench.registry import UnknownNameError
from rnnxbench.report.statistics import (
    RANK_COLUMNS,
    TEST_COLUMNS,
    explainer_ranks,
    holm,
    paired_tests,
)
from rnnxbench.report.tables import LEADERBOARD_COLUMNS, leaderboard, metric_directions

BASE = [0.50, 0.55, 0.60, 0.52, 0.58]
DEEP = [0.56, 0.57, 0.66, 0.60, 0.59]


def rows(arch, values, explainer="sa", metric="cosine", task="maj", status=None,
         higher_is_better=True):
    status = status or ["ok"] * len(values)
    return [dict(task=task, architecture=arch, explainer=explainer, metric=metric, fold=fold,
                 value=v, status=s, accuracy=0.9, gate_passed=True,
                 higher_is_better=higher_is_better)
            for fold, (v, s) in enumerate(zip(values, status, strict=True))]


def frame(*groups):
    return pd.DataFrame([r for g in groups for r in g])


def test_one_sided_paired_t_equals_scipy():
    table = paired_tests(frame(rows("shallow", BASE), rows("deep", DEEP)), "shallow")
    assert list(table.columns) == TEST_COLUMNS and len(table) == 1
    row = table.iloc[0]
    ref = stats.ttest_rel(DEEP, BASE, alternative="greater")
    diff = np.subtract(DEEP, BASE)
    t_hand = diff.mean() / (diff.std(ddof=1) / np.sqrt(5))
    assert row["t"] == pytest.approx(ref.statistic) == pytest.approx(t_hand)
    assert row["p"] == pytest.approx(ref.pvalue) == pytest.approx(stats.t.sf(t_hand, 4))
    assert (row["df"], row["n_pairs"], row["alternative"]) == (4, 5, "greater")
    assert row["mean_diff"] == pytest.approx(diff.mean())
    assert (row["architecture"], row["baseline"]) == ("deep", "shallow")
    assert row["p_holm"] == pytest.approx(row["p"])  # a family of one
    assert row["significant"] == (ref.pvalue < 0.05)


def test_direction_flips_with_higher_is_better():
    greater = paired_tests(frame(rows("shallow", BASE), rows("deep", DEEP)), "shallow")
    lower = paired_tests(frame(rows("shallow", BASE, higher_is_better=False),
                               rows("deep", DEEP, higher_is_better=False)), "shallow")
    two = paired_tests(frame(rows("shallow", BASE, higher_is_better=None),
                             rows("deep", DEEP, higher_is_better=None)), "shallow")
    p_greater, p_less, p_two = greater["p"][0], lower["p"][0], two["p"][0]
    assert lower["alternative"][0] == "less" and two["alternative"][0] == "two-sided"
    assert p_less == pytest.approx(stats.ttest_rel(DEEP, BASE, alternative="less").pvalue)
    assert p_less == pytest.approx(1 - p_greater)
    assert p_two == pytest.approx(2 * min(p_greater, p_less))
    assert p_greater < 0.05 < p_less  # deep is higher: better only if higher is better
    assert greater["significant"][0] and not lower["significant"][0]
    assert two["higher_is_better"][0] is None


def test_direction_read_back_from_csv_strings():
    scores = frame(rows("shallow", BASE), rows("deep", DEEP))
    scores["higher_is_better"] = "False"
    assert paired_tests(scores, "shallow")["alternative"][0] == "less"
    scores["higher_is_better"] = np.nan
    assert metric_directions(scores) == {"cosine": None}
    assert metric_directions(scores.drop(columns="higher_is_better")) == {"cosine": True}


def test_missing_folds_are_dropped_pairwise():
    base = list(BASE)
    base[0] = np.nan  # a NaN value with status ok
    deep_status = ["ok", "ok", "failed", "ok", "ok"]
    deep = list(DEEP)
    deep[2] = 99.0  # a failed fold's value must not count
    scores = frame(rows("shallow", base), rows("deep", deep, status=deep_status))
    scores = scores.sample(frac=1.0, random_state=1)  # pairing is by fold, not by position
    row = paired_tests(scores, "shallow").iloc[0]
    keep = [1, 3, 4]
    ref = stats.ttest_rel(np.take(DEEP, keep), np.take(BASE, keep), alternative="greater")
    assert row["n_pairs"] == 3 and row["df"] == 2
    assert row["t"] == pytest.approx(ref.statistic) and row["p"] == pytest.approx(ref.pvalue)


def test_too_few_pairs_give_nan_and_leave_the_family():
    scores = frame(rows("shallow", BASE), rows("deep", DEEP),
                   rows("lstm", [0.9, np.nan, np.nan, np.nan, np.nan]))
    table = paired_tests(scores, "shallow").set_index("architecture")
    assert table.loc["lstm", "n_pairs"] == 1
    assert np.isnan(table.loc["lstm", ["t", "df", "p", "p_holm"]].astype(float)).all()
    assert not table.loc["lstm", "significant"]
    assert table.loc["deep", "p_holm"] == pytest.approx(table.loc["deep", "p"])


def test_holm_by_hand():
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.01, np.nan, 0.04, 0.03]), [0.03, np.nan, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.5, 0.4]), [0.8, 0.8])
    np.testing.assert_allclose(holm([0.3, 0.9]), [0.6, 0.9])  # capped by monotonicity only
    assert holm([]).size == 0


def test_holm_family_is_task_explainer_metric():
    lstm = [0.52, 0.60, 0.61, 0.55, 0.65]
    scores = frame(*(rows(a, v, explainer=e, metric=m)
                     for e in ("sa", "lrp") for m in ("cosine", "mass")
                     for a, v in (("shallow", BASE), ("deep", DEEP), ("lstm", lstm))))
    table = paired_tests(scores, "shallow", alpha=0.01)
    assert len(table) == 2 * 2 * 2 and "shallow" not in set(table["architecture"])
    p_deep = stats.ttest_rel(DEEP, BASE, alternative="greater").pvalue
    p_lstm = stats.ttest_rel(lstm, BASE, alternative="greater").pvalue
    low, high = sorted([p_deep, p_lstm])
    hand = {min(p_deep, p_lstm): 2 * low, max(p_deep, p_lstm): max(2 * low, high)}
    for row in table.itertuples():  # each family has 2 tests, not 8
        assert row.p_holm == pytest.approx(hand[row.p])
        assert row.significant == (hand[row.p] < 0.01)
    assert list(table["architecture"]) == ["deep"] * 4 + ["lstm"] * 4  # leaderboard order
    assert list(table["explainer"][:4]) == ["sa", "sa", "lrp", "lrp"]


def test_unknown_baseline_names_the_architectures():
    scores = frame(rows("shallow", BASE), rows("deep", DEEP))
    with pytest.raises(UnknownNameError, match=r"baseline architecture 'shalow'.*shallow, deep"):
        paired_tests(scores, "shalow")
    assert list(paired_tests(scores.iloc[:0], "shallow").columns) == TEST_COLUMNS


def test_only_the_baseline_gives_no_tests():
    table = paired_tests(frame(rows("shallow", BASE)), "shallow")
    assert table.empty and list(table.columns) == TEST_COLUMNS


def _means(arch, means, metric="cosine", higher_is_better=True):
    """Two folds per explainer e0, e1, ... with the given means."""
    return [r for i, m in enumerate(means)
            for r in rows(arch, [m - 0.01, m + 0.01], explainer=f"e{i}", metric=metric,
                          higher_is_better=higher_is_better)]


def test_ranks_with_ties_and_direction():
    board = leaderboard(frame(_means("shallow", [0.5, 0.7, 0.5, 0.2]),
                              _means("shallow", [0.5, 0.7, 0.5, 0.2], metric="loss",
                                     higher_is_better=False),
                              _means("shallow", [0.5, 0.7, 0.5, 0.2], metric="share",
                                     higher_is_better=None)))
    assert list(board.columns) == LEADERBOARD_COLUMNS + ["higher_is_better"]
    rank = board.set_index(["metric", "explainer"])["rank"]
    assert list(rank["cosine"]) == [2.5, 1.0, 2.5, 4.0]
    assert list(rank["loss"]) == [2.5, 4.0, 2.5, 1.0]
    assert rank["share"].isna().all()


def test_rank_skips_explainers_without_ok_folds():
    scores = frame(_means("shallow", [0.5, 0.7, 0.6]))
    scores.loc[scores["explainer"] == "e1", "status"] = "failed"
    rank = leaderboard(scores).set_index("explainer")["rank"]
    assert rank["e0"] == 2.0 and np.isnan(rank["e1"]) and rank["e2"] == 1.0


def test_explainer_mean_ranks_over_architectures():
    board = leaderboard(frame(_means("shallow", [0.5, 0.7, 0.6]),
                              _means("deep", [0.8, 0.7, 0.6]),
                              _means("lstm", [0.8, 0.8, 0.1]),
                              _means("lstm", [0.1, 0.2, 0.3], metric="share",
                                     higher_is_better=None)))
    table = explainer_ranks(board)
    assert list(table.columns) == RANK_COLUMNS
    cos = table[table["metric"] == "cosine"]
    # e0: ranks 3, 1, 1.5; e1: 1, 2, 1.5; e2: 2, 3, 3 -- best mean rank first
    assert list(cos["explainer"]) == ["e1", "e0", "e2"]
    np.testing.assert_allclose(cos["mean_rank"], [4.5 / 3, 5.5 / 3, 8 / 3])
    assert list(cos["n_architectures"]) == [3, 3, 3]
    share = table[table["metric"] == "share"]
    assert share["mean_rank"].isna().all() and (share["n_architectures"] == 0).all()
    assert share["higher_is_better"].isna().all() and cos["higher_is_better"].all()


def test_explainer_mean_ranks_sorted_best_first():
    board = leaderboard(frame(_means("shallow", [0.2, 0.7, 0.6]), _means("deep", [0.1, 0.9, 0.5])))
    table = explainer_ranks(board)
    assert list(table["explainer"]) == ["e1", "e2", "e0"]
    assert list(table["mean_rank"]) == [1.0, 2.0, 3.0]
    assert explainer_ranks(board.iloc[:0]).empty


def test_corrected_resampled_t_test_by_hand():
    """Nadeau and Bengio's correction for folds that share training data: the variance of
    the differences is inflated by 1/n + n_test/n_train (1/6 for 7-fold cross-validation)."""
    scores = frame(rows("shallow", BASE), rows("deep", DEEP))
    table = paired_tests(scores, "shallow", test_train_ratio={"maj": 1 / 6})
    row = table.iloc[0]
    diff = np.subtract(DEEP, BASE)
    t_hand = diff.mean() / np.sqrt(diff.var(ddof=1) * (1 / 5 + 1 / 6))
    assert row["t_corrected"] == pytest.approx(t_hand)
    assert row["p_corrected"] == pytest.approx(stats.t.sf(t_hand, 4))
    assert row["p_corrected"] > row["p"]  # more conservative
    assert row["p_corrected_holm"] == pytest.approx(row["p_corrected"])
    assert row["significant_corrected"] == (row["p_corrected_holm"] < 0.05)
    plain = paired_tests(scores, "shallow")  # no ratio for the task: not applicable
    assert np.isnan(plain["p_corrected"][0]) and not plain["significant_corrected"][0]


def test_pairs_are_matched_on_fold_and_training_seed():
    def seeded(arch, values, seed):
        return [{**r, "seed": seed} for r in rows(arch, values)]

    other = [v + 0.01 for v in BASE]
    scores = frame(seeded("shallow", BASE, 0), seeded("shallow", other, 1),
                   seeded("deep", DEEP, 0), seeded("deep", [v + 0.02 for v in DEEP], 1))
    row = paired_tests(scores, "shallow").iloc[0]
    diff = np.concatenate([np.subtract(DEEP, BASE), np.subtract(DEEP, BASE) + 0.01])
    assert row["n_pairs"] == 10 and row["mean_diff"] == pytest.approx(diff.mean())
    assert row["t"] == pytest.approx(stats.ttest_1samp(diff, 0).statistic)
