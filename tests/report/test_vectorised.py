"""The vectorised tables and tests equal the per-group code they replaced (kept as the
baseline of ``benchmarks/test_report_speed.py``), on the published results and edge cases,
and the grouped t-tests and Holm adjustment equal scipy's and statsmodels'."""

import gc
import importlib.util
import json
import warnings
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from rnnxbench.report.statistics import holm, holm_by, paired_t, paired_tests
from rnnxbench.report.tables import accuracy_summary, leaderboard, t_interval, t_intervals

ROOT = Path(__file__).resolve().parents[2]
SUITES = ["maj", "synthetic", "arith", "ucr"]


def _load_baseline():
    spec = importlib.util.spec_from_file_location(
        "_rnnxbench_report_baseline", ROOT / "benchmarks" / "test_report_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OLD = _load_baseline()


@pytest.fixture
def quick_multipletests(monkeypatch):
    """statsmodels' multipletests runs a full gc.collect() on every call (tens of ms here);
    the values do not depend on it."""
    monkeypatch.setattr(gc, "collect", lambda *args: 0)


def same(new: pd.DataFrame, old: pd.DataFrame) -> None:
    """Same columns, dtypes, order and values (counts and strings exact, floats to 1e-12);
    columns the per-group code never had (added since) are left out."""
    pd.testing.assert_frame_equal(new[[c for c in new if c not in NEWER]], old,
                                  check_exact=False, rtol=1e-12, atol=0)


#: leaderboard columns added after the vectorisation (the per-group baseline lacks them)
NEWER = ("explained_accuracy_mean", "n_seeds", "std_between_folds", "std_within_folds",
         "t_corrected", "p_corrected", "p_corrected_holm", "significant_corrected")


def published(suite: str) -> pd.DataFrame:
    path = ROOT / "results" / suite / "scores.csv"
    if not path.exists():
        pytest.skip(f"no published {path}")
    return pd.read_csv(path)


@pytest.mark.parametrize("suite", SUITES)
def test_published_tables_unchanged(suite):
    scores = published(suite)
    same(leaderboard(scores), OLD.per_group_leaderboard(scores))
    models = pd.DataFrame(json.loads((ROOT / "results" / suite / "run.json").read_text())
                          ["model_accuracy"])
    models["gate"] = models["task"].map(scores.drop_duplicates("task").set_index("task")["gate"])
    same(accuracy_summary(models), OLD.per_group_accuracy_summary(models))


@pytest.mark.parametrize("suite", SUITES)
def test_published_tests_unchanged(suite, quick_multipletests):
    """Three architectures as baseline in turn, on a few families (the per-group code is
    slow; every baseline on the full files was compared once, outside the suite)."""
    scores = published(suite)
    explainers = list(pd.unique(scores["explainer"]))[:3]
    metrics = list(pd.unique(scores["metric"]))[:2]
    archs = list(pd.unique(scores["architecture"]))[:6]
    sub = scores[scores["explainer"].isin(explainers) & scores["metric"].isin(metrics)
                 & scores["architecture"].isin(archs)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for baseline in archs[:3]:
            same(paired_tests(sub, baseline), OLD.per_group_paired_tests(sub, baseline))


def rows(arch, explainer, values, status=None, metric="cosine", hib=True, gate=True, acc=0.9,
         task="t"):
    status = status or ["ok"] * len(values)
    return [dict(task=task, architecture=arch, explainer=explainer, metric=metric, fold=f,
                 value=v, status=s, accuracy=acc[f] if isinstance(acc, list) else acc,
                 gate_passed=gate[f] if isinstance(gate, list) else gate,
                 higher_is_better=hib[f] if isinstance(hib, list) else hib,
                 error="" if s == "ok" else f"{s}!")
            for f, (v, s) in enumerate(zip(values, status, strict=True))]


def edge_scores() -> pd.DataFrame:
    nan, inf = np.nan, np.inf
    groups = [
        rows("a", "e0", [0.1, 0.2, 0.3]),
        rows("b", "e0", [0.4], hib=[None]),                                # one fold
        rows("a", "e1", [nan, 0.5, inf], gate=[True, nan, False]),          # NaN, inf
        rows("b", "e1", [0.2, 0.7, nan], status=["ok", "failed", "failed"], acc=[0.8, nan, 0.7]),
        rows("a", "e2", [nan, nan], status=["unsupported"] * 2, hib=[nan, nan]),
        rows("b", "e2", [nan, nan], status=["failed", "unsupported"], gate=[nan, nan]),
        rows("c", "e2", [0.3, 0.3], status=["skipped", "skipped"]),         # neither
        rows("c", "e0", [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3], hib=False,
             metric="loss"),                                                 # n >= 8
        rows("a", "e0", [0.2, 0.2, 0.2], metric="loss", hib=[nan, False, False], task="u"),
        rows("b", "e0", [0.1, nan], status=["ok", nan], metric="share", hib=None, task="u"),
    ]
    # interleave the groups' rows (a fold-by-fold writer's order)
    return pd.DataFrame([r for f in range(9) for g in groups for r in g if r["fold"] == f])


def variants(scores: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """As built in memory, as read back from CSV, with string flags and values, without a
    direction, in another row order, with missing keys."""
    csv = scores.to_csv(index=False)
    strings = scores.assign(gate_passed=scores["gate_passed"].map(
        {True: "True", False: "False"}), higher_is_better=scores["higher_is_better"].map(
        {True: "True", False: "False"}))
    return {"memory": scores, "csv": pd.read_csv(StringIO(csv)), "strings": strings,
            "no_direction": scores.drop(columns="higher_is_better"),
            "text_values": scores.assign(value=scores["value"].astype(str).astype(object)),
            "shuffled": scores.sample(frac=1.0, random_state=3),
            "missing_keys": scores.assign(  # rows without an explainer, task, architecture
                explainer=scores["explainer"].mask(scores.index == 3),
                task=scores["task"].mask(scores.index == 5),
                architecture=scores["architecture"].mask(scores.index == 7))}


@pytest.mark.parametrize("variant", ["memory", "csv", "strings", "no_direction", "text_values",
                                     "shuffled", "missing_keys"])
def test_edge_cases_unchanged(variant, quick_multipletests):
    scores = variants(edge_scores())[variant]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        same(leaderboard(scores), OLD.per_group_leaderboard(scores))
        for baseline in ("a", "b", "c"):
            same(paired_tests(scores, baseline), OLD.per_group_paired_tests(scores, baseline))
    models = scores.drop_duplicates(["task", "architecture", "fold"]).assign(gate=0.5)
    same(accuracy_summary(models), OLD.per_group_accuracy_summary(models))
    assert leaderboard(scores.iloc[:0]).empty and paired_tests(scores.iloc[:0], "a").empty


def test_paired_tests_edge_values(quick_multipletests):
    """Constant nonzero differences give +-inf, constant zero ones NaN; < 2 pairs NaN."""
    scores = pd.DataFrame(
        rows("base", "e", [0.1, 0.2, 0.3, 0.4]) + rows("up", "e", [0.6, 0.7, 0.8, 0.9])
        + rows("down", "e", [0.0, 0.1, 0.2, 0.3]) + rows("same", "e", [0.1, 0.2, 0.3, 0.4])
        + rows("one", "e", [0.5, np.nan, np.nan, np.nan]) + rows("none", "e", [np.nan] * 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        new = paired_tests(scores, "base")
        same(new, OLD.per_group_paired_tests(scores, "base"))
        ref = stats.ttest_rel([0.6, 0.7, 0.8, 0.9], [0.1, 0.2, 0.3, 0.4], alternative="greater")
    t = new.set_index("architecture")["t"]
    assert t["up"] == ref.statistic and np.isnan(t["same"]) and np.isnan(t["one"])
    assert list(new["n_pairs"]) == [4, 4, 4, 1, 0]


def test_a_fold_scored_twice_is_an_error_as_before():
    scores = pd.DataFrame(rows("a", "e", [0.1, 0.2]) + rows("b", "e", [0.3, 0.4]) * 2)
    for tests in (paired_tests, OLD.per_group_paired_tests):
        with pytest.raises(ValueError):
            tests(scores, "a")


def test_grouped_t_equals_scipy_on_random_groups():
    rng = np.random.default_rng(0)
    sizes = rng.integers(0, 12, 400)
    codes = np.repeat(np.arange(len(sizes)), sizes)
    a, b = rng.normal(size=codes.size), rng.normal(size=codes.size)
    a[codes % 7 == 0] = b[codes % 7 == 0] + 0.25  # constant differences
    a[codes % 11 == 0] = b[codes % 11 == 0]       # zero differences
    sign = rng.choice([-1, 0, 1], len(sizes))
    res = paired_t(a - b, codes, len(sizes), sign)
    names = {1: "greater", -1: "less", 0: "two-sided"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for g, n in enumerate(sizes):
            x, y = a[codes == g], b[codes == g]
            assert res["n"][g] == n
            if n < 2:
                assert np.isnan([res["t"][g], res["df"][g], res["p"][g]]).all()
                continue
            ref = stats.ttest_rel(x, y, alternative=names[sign[g]])
            np.testing.assert_allclose([res["t"][g], res["p"][g], res["df"][g]],
                                       [ref.statistic, ref.pvalue, n - 1], rtol=1e-12, atol=0)
            np.testing.assert_allclose(res["mean"][g], np.mean(x - y), rtol=1e-12, atol=0)


def test_grouped_t_intervals_equal_the_scalar_one():
    rng = np.random.default_rng(1)
    sizes = rng.integers(0, 10, 300)
    codes = np.repeat(np.arange(len(sizes)), sizes)
    values = rng.normal(size=codes.size)
    values[rng.random(codes.size) < 0.1] = np.nan
    out = t_intervals(values, codes, len(sizes))
    for g in range(len(sizes)):
        v = values[codes == g]
        np.testing.assert_allclose([out[k][g] for k in ("mean", "std", "low", "high")],
                                   t_interval(v), rtol=1e-12, atol=0)
        assert out["n"][g] == np.isfinite(v).sum()


def test_holm_by_equals_statsmodels_per_family(quick_multipletests):
    rng = np.random.default_rng(2)
    families = rng.integers(0, 100, 1000)
    p = rng.random(1000) ** 3
    p[rng.random(1000) < 0.15] = np.nan
    p[:40] = 0.5  # ties
    adjusted = holm_by(p, families)
    for f in np.unique(families):
        mine = families == f
        expected = np.full(mine.sum(), np.nan)
        finite = np.isfinite(p[mine])
        if finite.any():
            expected[finite] = multipletests(p[mine][finite], method="holm")[1]
        np.testing.assert_allclose(adjusted[mine], expected, rtol=1e-12, atol=0)
    np.testing.assert_allclose(holm(p[families == 0]), adjusted[families == 0], rtol=0)
    assert holm_by([], []).size == 0 and np.isnan(holm_by([np.nan], ["x"])).all()
    np.testing.assert_allclose(holm_by([0.01, 0.04, 0.03, 0.5], ["a", np.nan, "a", np.nan]),
                               [0.02, 0.08, 0.03, 0.5])  # a missing label is a family too
    assert holm(np.full((2, 3), 0.01)).shape == (2, 3)
