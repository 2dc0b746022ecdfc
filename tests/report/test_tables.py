"""Leaderboard and failure tables against hand computations."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rnnxbench.report.tables import LEADERBOARD_COLUMNS, failure_summary, leaderboard

T_975_2 = 4.302653  # scipy.stats.t.ppf(0.975, 2)


def score_rows(task="maj", arch="shallow", explainer="sa", metric="cosine", values=(0.1, 0.2, 0.3),
               status=None, accuracy=0.98, gate=True, error=None, **extra):
    status = status or ["ok"] * len(values)
    rows = []
    for fold, (value, st) in enumerate(zip(values, status, strict=True)):
        rows.append(dict(suite="s", task=task, data_source="idx", architecture=arch,
                         explainer=explainer, metric=metric, fold=fold, value=value,
                         accuracy=accuracy[fold] if isinstance(accuracy, list) else accuracy,
                         gate_passed=gate[fold] if isinstance(gate, list) else gate,
                         status=st, seed=0, model_hash="h",
                         error="" if st == "ok" else (error or f"{st} here"), **extra))
    return rows


def frame(*groups):
    return pd.DataFrame([row for g in groups for row in g])


def test_mean_std_ci_by_hand():
    board = leaderboard(frame(score_rows(values=(0.1, 0.2, 0.3))))
    assert list(board.columns) == LEADERBOARD_COLUMNS
    row = board.iloc[0]
    half = T_975_2 * 0.1 / np.sqrt(3)
    assert row["mean"] == pytest.approx(0.2)
    assert row["std"] == pytest.approx(0.1)
    assert row["ci95_low"] == pytest.approx(0.2 - half, abs=1e-6)
    assert row["ci95_high"] == pytest.approx(0.2 + half, abs=1e-6)
    assert stats.t.ppf(0.975, 2) == pytest.approx(T_975_2, abs=1e-6)
    assert (row["n_folds"], row["n_failed"], row["n_unsupported"], row["n_degenerate"]) == (
        3, 0, 0, 0)
    assert row["status"] == "ok"


def test_seven_folds_matches_scipy_interval():
    values = [0.61, 0.72, 0.55, 0.68, 0.70, 0.64, 0.59]
    row = leaderboard(frame(score_rows(values=values))).iloc[0]
    low, high = stats.t.interval(0.95, 6, loc=np.mean(values), scale=stats.sem(values))
    assert (row["ci95_low"], row["ci95_high"]) == pytest.approx((low, high))


def test_failed_folds_excluded_but_counted():
    rows = score_rows(values=(0.1, 99.0, 0.3, np.nan), status=["ok", "failed", "ok", "failed"])
    row = leaderboard(frame(rows)).iloc[0]
    assert row["mean"] == pytest.approx(0.2)
    assert row["std"] == pytest.approx(np.std([0.1, 0.3], ddof=1))
    assert (row["n_folds"], row["n_failed"]) == (2, 2)
    assert row["status"] == "ok"


def test_single_fold_has_no_std_or_ci():
    row = leaderboard(frame(score_rows(values=(0.4,)))).iloc[0]
    assert row["mean"] == pytest.approx(0.4)
    assert np.isnan(row["std"]) and np.isnan(row["ci95_low"]) and np.isnan(row["ci95_high"])
    assert row["n_folds"] == 1


def test_status_without_ok_folds():
    board = leaderboard(frame(
        score_rows(explainer="lrp", values=(np.nan,) * 3, status=["unsupported"] * 3),
        score_rows(explainer="dtd", values=(np.nan,) * 2, status=["failed", "unsupported"]),
    ))
    assert list(board["status"]) == ["unsupported", "failed"]
    assert list(board["n_unsupported"]) == [3, 1]
    assert list(board["n_failed"]) == [0, 1]
    assert board["mean"].isna().all() and (board["n_folds"] == 0).all()


def test_degenerate_folds_counted_like_unsupported_not_averaged():
    board = leaderboard(frame(
        score_rows(explainer="lrp", values=(0.1, 0.0, 0.3),
                   status=["ok", "degenerate", "ok"]),
        score_rows(explainer="dtd", values=(np.nan,) * 3, status=["degenerate"] * 3),
        score_rows(explainer="gb", values=(np.nan,) * 2, status=["degenerate", "unsupported"]),
        score_rows(explainer="sa", values=(np.nan,) * 2, status=["degenerate", "failed"]),
    ))
    cols = LEADERBOARD_COLUMNS
    assert cols[cols.index("n_unsupported") + 1] == "n_degenerate"
    assert list(board["n_degenerate"]) == [1, 3, 1, 1]
    assert list(board["n_unsupported"]) == [0, 0, 1, 0]
    assert list(board["status"]) == ["ok", "degenerate", "degenerate", "failed"]
    lrp = board.iloc[0]
    assert lrp["mean"] == pytest.approx(0.2) and lrp["n_folds"] == 2  # the 0.0 is left out
    assert board["mean"].iloc[1:].isna().all() and (board["n_folds"].iloc[1:] == 0).all()
    assert np.isnan(board["rank"].iloc[1]) and board["rank"].iloc[0] == 1


def test_failure_summary_lists_degenerate_folds():
    summary = failure_summary(frame(
        score_rows(explainer="lrp", metric="randomization", values=(np.nan, 0.1, np.nan),
                   status=["degenerate", "ok", "degenerate"],
                   error="DegenerateExplanation: the relevance is constant"),
    ))
    assert list(summary["status"]) == ["degenerate"]
    assert list(summary["n_folds"]) == [2]
    assert list(summary["error"]) == ["DegenerateExplanation: the relevance is constant"]


def test_ordering_is_first_appearance_not_alphabetical():
    groups = []
    for _fold in range(2):  # interleaved, as a fold-by-fold writer would produce
        for arch in ["shallow", "deep", "convdeep"]:
            for explainer in ["sa", "lrp", "dtd"]:
                groups.append(score_rows(arch=arch, explainer=explainer, values=(0.5,)))
    scores = frame(*groups)
    scores["fold"] = np.repeat([0, 1], 9)
    board = leaderboard(scores)
    assert len(board) == 9
    assert list(board["architecture"]) == ["shallow"] * 3 + ["deep"] * 3 + ["convdeep"] * 3
    assert list(board["explainer"]) == ["sa", "lrp", "dtd"] * 3
    assert (board["n_folds"] == 2).all()


def test_groups_split_by_task_and_metric():
    scores = frame(score_rows(task="maj", metric="cosine", values=(0.1, 0.3)),
                   score_rows(task="maj", metric="relevance_mass", values=(0.5, 0.7)),
                   score_rows(task="fmaj", metric="cosine", values=(0.2, 0.2)))
    board = leaderboard(scores)
    assert list(zip(board["task"], board["metric"], strict=True)) == [
        ("maj", "cosine"), ("maj", "relevance_mass"), ("fmaj", "cosine")]
    np.testing.assert_allclose(board["mean"], [0.2, 0.6, 0.2])
    assert board["std"].iloc[2] == 0.0 and board["ci95_low"].iloc[2] == pytest.approx(0.2)


def test_accuracy_and_gate():
    board = leaderboard(frame(
        score_rows(arch="shallow", accuracy=[0.97, 0.98, 0.99], gate=[True, True, True]),
        score_rows(arch="deep", accuracy=[0.90, 0.98, 0.99], gate=[False, True, True]),
    ))
    np.testing.assert_allclose(board["accuracy_mean"], [0.98, (0.90 + 0.98 + 0.99) / 3])
    assert list(board["gate_passed_all"]) == [True, False]


def test_gate_passed_read_back_as_strings():
    scores = frame(score_rows(gate=True))
    scores["gate_passed"] = ["True", "False", "True"]
    assert not leaderboard(scores)["gate_passed_all"].iloc[0]


def test_higher_is_better_passed_through_only_when_present():
    assert "higher_is_better" not in leaderboard(frame(score_rows()))
    board = leaderboard(frame(score_rows(higher_is_better=False)))
    assert list(board.columns) == LEADERBOARD_COLUMNS + ["higher_is_better"]
    assert not board["higher_is_better"].iloc[0]


def test_empty_scores():
    empty = frame(score_rows()).iloc[:0]
    assert list(leaderboard(empty).columns) == LEADERBOARD_COLUMNS
    assert leaderboard(empty).empty


def test_failure_summary():
    scores = frame(
        score_rows(arch="deep", explainer="sa"),
        score_rows(arch="deep", explainer="lrp", values=(np.nan,) * 3,
                   status=["unsupported"] * 3, error="needs bias-free dense layers"),
        score_rows(arch="deep", explainer="dtd", values=(0.5, np.nan, np.nan),
                   status=["ok", "failed", "failed"], error="CUDA out of memory"),
    )
    summary = failure_summary(scores)
    assert list(summary.columns) == ["task", "architecture", "explainer", "metric", "status",
                                     "error", "n_folds"]
    assert list(summary["explainer"]) == ["lrp", "dtd"]
    assert list(summary["status"]) == ["unsupported", "failed"]
    assert list(summary["error"]) == ["needs bias-free dense layers", "CUDA out of memory"]
    assert list(summary["n_folds"]) == [3, 2]
    assert failure_summary(frame(score_rows())).empty


def test_git_revision_is_dirty_only_when_the_package_changed(tmp_path):
    import subprocess

    from rnnxbench.report.provenance import git_revision

    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "code.py").write_text("x = 1\n")
    (tmp_path / "results.csv").write_text("a\n")
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "c"], cwd=tmp_path, check=True)
    clean = git_revision(pkg)
    assert len(clean) == 40
    (tmp_path / "results.csv").write_text("b\n")  # results next to the package: still clean
    assert git_revision(pkg) == clean
    (pkg / "code.py").write_text("x = 2\n")
    assert git_revision(pkg) == clean + "+dirty"


def test_seed_spread_tells_fold_variance_from_seed_variance():
    values = {(0, 0): 0.5, (0, 1): 0.7, (1, 0): 0.6, (1, 1): 0.8, (2, 0): 0.9, (2, 1): 0.9}
    scores = pd.DataFrame([dict(task="t", architecture="a", explainer="e", metric="m",
                                fold=f, seed=s, value=v, status="ok", accuracy=0.9,
                                explained_accuracy=0.8 + 0.05 * f, gate_passed=True)
                           for (f, s), v in values.items()])
    row = leaderboard(scores).iloc[0]
    fold_means = [0.6, 0.7, 0.9]
    assert row["n_folds"] == 6 and row["n_seeds"] == 2
    assert row["std_between_folds"] == pytest.approx(np.std(fold_means, ddof=1))
    within = np.mean([np.std([0.5, 0.7], ddof=1), np.std([0.6, 0.8], ddof=1), 0.0])
    assert row["std_within_folds"] == pytest.approx(within)
    assert row["explained_accuracy_mean"] == pytest.approx(0.85)
    one = leaderboard(scores[scores["seed"] == 0]).iloc[0]
    assert one["n_seeds"] == 1 and np.isnan(one["std_within_folds"])
