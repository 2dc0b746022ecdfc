"""Report tables and statistics: the vectorised code against the per-group code it replaced.

Both run on the published ``results/maj/scores.csv`` (1,456 task x architecture x explainer
x metric groups, 1,344 comparisons with baseline ``shallow`` in 112 Holm families). The
``per_group`` variants below are the implementation before the vectorisation (one pandas
summary, t-test or Holm call per group), kept as the baseline: each function's group holds
both variants, so pytest-benchmark's table shows the ratio of one run, and the vectorised
benchmark records ``speedup`` (per-group median / vectorised median, same run) in
``extra_info``. Nothing here asserts on time. The tests in ``tests/report`` use these
baselines as the reference the vectorised tables must equal.
"""

from __future__ import annotations

import statistics
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnxbench.registry import UnknownNameError
from rnnxbench.report.statistics import (
    ALTERNATIVES,
    FAMILY,
    TEST_COLUMNS,
    explainer_ranks,
    holm_by,
    paired_test,
    paired_tests,
)
from rnnxbench.report.tables import (
    ACCURACY_COLUMNS,
    KEYS,
    LEADERBOARD_COLUMNS,
    failure_summary,
    in_order_of,
    leaderboard,
    metric_directions,
    rank_explainers,
    t_interval,
)

SCORES = Path(__file__).resolve().parents[1] / "results" / "maj" / "scores.csv"
BASELINE = "shallow"
ROUNDS = {"per_group": 3, "vectorised": 20}
_MEDIANS: dict[str, float] = {}


# ------------------------------------------------------------ the per-group baseline
def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


def _group_status(status: pd.Series) -> str:
    seen = set(status)
    for name in ("ok", "failed", "degenerate", "unsupported"):
        if name in seen:
            return name
    return str(status.iloc[0]) if len(status) else "failed"


def _summarise(group: pd.DataFrame) -> dict:
    ok = group["status"] == "ok"
    values = pd.to_numeric(group.loc[ok, "value"], errors="coerce").to_numpy(dtype=np.float64)
    mean, std, low, high = t_interval(values)
    acc = pd.to_numeric(group["accuracy"], errors="coerce")
    gate = group["gate_passed"].dropna()
    row = {
        "mean": mean, "std": std, "ci95_low": low, "ci95_high": high,
        "n_folds": int(np.isfinite(values).sum()),
        "n_failed": int((group["status"] == "failed").sum()),
        "n_unsupported": int((group["status"] == "unsupported").sum()),
        "n_degenerate": int((group["status"] == "degenerate").sum()),
        "accuracy_mean": float(acc.mean()) if acc.notna().any() else np.nan,
        "gate_passed_all": bool(len(gate) > 0 and all(_truthy(g) for g in gate)),
        "status": _group_status(group["status"]),
    }
    if "higher_is_better" in group:
        known = group["higher_is_better"].dropna()
        row["higher_is_better"] = known.iloc[0] if len(known) else None
    return row


#: leaderboard columns added after the vectorisation (not part of this baseline)
NEWER = ("explained_accuracy_mean", "n_seeds", "std_between_folds", "std_within_folds",
         "t_corrected", "p_corrected", "p_corrected_holm", "significant_corrected")


def per_group_leaderboard(scores: pd.DataFrame) -> pd.DataFrame:
    """:func:`~rnnxbench.report.tables.leaderboard` as it was: one summary per group."""
    columns = [c for c in LEADERBOARD_COLUMNS if c not in NEWER] + (
        ["higher_is_better"] if "higher_is_better" in scores else [])
    if scores.empty:
        return pd.DataFrame(columns=columns)
    rows = [{**dict(zip(KEYS, key, strict=True)), **_summarise(group)}
            for key, group in scores.groupby(KEYS, sort=False, dropna=False)]
    board = pd.DataFrame(rows, columns=columns)
    board["rank"] = rank_explainers(board, metric_directions(scores))
    return in_order_of(board, KEYS, scores)


def per_group_accuracy_summary(models: pd.DataFrame) -> pd.DataFrame:
    """:func:`~rnnxbench.report.tables.accuracy_summary` as it was."""
    if models.empty:
        return pd.DataFrame(columns=ACCURACY_COLUMNS)
    rows = []
    for (task, arch), group in models.groupby(["task", "architecture"], sort=False):
        ok = group["status"] == "ok"
        acc = pd.to_numeric(group.loc[ok, "accuracy"], errors="coerce").to_numpy(np.float64)
        mean, std, low, high = t_interval(acc)
        gate = float(group["gate"].iloc[0])
        rows.append({"task": task, "architecture": arch, "mean": mean, "std": std,
                     "ci95_low": low, "ci95_high": high, "n_folds": int(np.isfinite(acc).sum()),
                     "n_failed": int((~ok).sum()), "gate": gate,
                     "gate_passed_all": bool(ok.all() and (acc >= gate).all())})
    return pd.DataFrame(rows, columns=ACCURACY_COLUMNS)


def per_group_holm(p_values: np.ndarray | list[float]) -> np.ndarray:
    """:func:`~rnnxbench.report.statistics.holm` as it was: statsmodels on the finite ones."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        adjusted[finite] = multipletests(p[finite], method="holm")[1]
    return adjusted


def per_group_paired_tests(scores: pd.DataFrame, baseline: str,
                           alpha: float = 0.05) -> pd.DataFrame:
    """:func:`~rnnxbench.report.statistics.paired_tests` as it was: a pivot per family, a
    ``ttest_rel`` per comparison and a Holm call per family."""
    columns = [c for c in TEST_COLUMNS if c not in NEWER]
    if scores.empty:
        return pd.DataFrame(columns=columns)
    archs = [str(a) for a in pd.unique(scores["architecture"])]
    if baseline not in archs:
        raise UnknownNameError("baseline architecture", baseline, archs)
    directions = metric_directions(scores)
    value = pd.to_numeric(scores["value"], errors="coerce")
    usable = scores.assign(value=value)[(scores["status"] == "ok") & np.isfinite(value)]
    usable_groups = dict(iter(usable.groupby(FAMILY, sort=False)))
    rows = []
    for key, group in scores.groupby(FAMILY, sort=False):
        good = usable_groups.get(key)
        wide = (pd.DataFrame() if good is None else
                good.pivot(index="fold", columns="architecture", values="value"))
        base = wide[baseline] if baseline in wide else pd.Series(dtype=np.float64)
        hib = directions[key[2]]
        for arch in pd.unique(group["architecture"]):
            if arch == baseline:
                continue
            other = wide[arch] if arch in wide else pd.Series(dtype=np.float64)
            pairs = pd.concat([other, base], axis=1, keys=["a", "b"]).dropna()
            t, df, p = paired_test(pairs["a"].to_numpy(), pairs["b"].to_numpy(),
                                   ALTERNATIVES[hib])
            diff = pairs["a"] - pairs["b"]
            rows.append({"task": key[0], "architecture": arch, "explainer": key[1],
                         "metric": key[2], "baseline": baseline, "higher_is_better": hib,
                         "alternative": ALTERNATIVES[hib], "n_pairs": len(pairs),
                         "mean_diff": float(diff.mean()) if len(diff) else np.nan,
                         "t": t, "df": df, "p": p})
    table = pd.DataFrame(rows, columns=columns)
    if table.empty:
        return table
    table["p_holm"] = table.groupby(FAMILY, sort=False)["p"].transform(per_group_holm)
    table["significant"] = (table["p_holm"] < alpha).astype(bool)
    return in_order_of(table, KEYS, scores)


def per_group_holm_families(tests: pd.DataFrame) -> np.ndarray:
    return tests.groupby(FAMILY, sort=False)["p"].transform(per_group_holm).to_numpy()


def vectorised_holm_families(tests: pd.DataFrame) -> np.ndarray:
    families = tests.groupby(FAMILY, sort=False).ngroup().to_numpy()
    return holm_by(tests["p"].to_numpy(), families)


# ------------------------------------------------------------------- the benchmarks
IMPLEMENTATIONS = {
    "leaderboard": (per_group_leaderboard, leaderboard),
    "paired_tests": (lambda s: per_group_paired_tests(s, BASELINE),
                     lambda s: paired_tests(s, BASELINE)),
    "holm": (per_group_holm_families, vectorised_holm_families),
}


@pytest.fixture(scope="module")
def maj_scores() -> pd.DataFrame:
    if not SCORES.exists():
        pytest.skip(f"no published scores at {SCORES}")
    return pd.read_csv(SCORES)


@pytest.mark.parametrize("variant", ["per_group", "vectorised"])  # the baseline runs first
@pytest.mark.parametrize("function", list(IMPLEMENTATIONS))
def test_report_speed(benchmark, maj_scores: pd.DataFrame, function: str,
                      variant: str) -> None:
    arg = paired_tests(maj_scores, BASELINE) if function == "holm" else maj_scores
    benchmark.group = f"report: {function}"
    benchmark.extra_info.update(kind="report", function=function, variant=variant,
                                rows=len(maj_scores), baseline=BASELINE)
    call = IMPLEMENTATIONS[function][variant == "vectorised"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = benchmark.pedantic(call, args=(arg,), rounds=ROUNDS[variant],
                                    warmup_rounds=0 if variant == "per_group" else 2)
    assert len(result) > 0
    stats = getattr(benchmark.stats, "stats", None)  # None with --benchmark-disable
    if stats is None:
        return
    median = statistics.median(stats.data)
    if variant == "per_group":
        _MEDIANS[function] = median
    elif function in _MEDIANS:
        benchmark.extra_info["speedup"] = _MEDIANS[function] / median


def test_unchanged_tables_speed(benchmark, maj_scores: pd.DataFrame) -> None:
    """failure_summary and explainer_ranks (already one groupby each), for the record."""
    board = leaderboard(maj_scores)
    benchmark.group = "report: failures + ranks"
    benchmark.extra_info.update(kind="report", function="failure_summary+explainer_ranks",
                                variant="vectorised", rows=len(maj_scores))
    benchmark.pedantic(lambda: (failure_summary(maj_scores), explainer_ranks(board)),
                       rounds=20, warmup_rounds=2)
