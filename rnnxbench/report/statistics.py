"""Statistics over folds: paired t-tests against a baseline architecture (Holm-corrected) and
mean explainer ranks, as in the thesis (one-sided paired t-tests over the 7 folds)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from rnnxbench.registry import UnknownNameError
from rnnxbench.report.tables import KEYS, _ordered, metric_directions

#: one Holm family: every architecture-vs-baseline comparison of one task x explainer x metric
FAMILY = ["task", "explainer", "metric"]
FAMILY_DESCRIPTION = ("Holm over the architecture-vs-baseline comparisons of one "
                      "task x explainer x metric")
TEST_COLUMNS = [*KEYS, "baseline", "higher_is_better", "alternative", "n_pairs", "mean_diff",
                "t", "df", "p", "p_holm", "significant"]
RANK_COLUMNS = ["task", "metric", "explainer", "mean_rank", "n_architectures",
                "higher_is_better"]
ALTERNATIVES = {True: "greater", False: "less", None: "two-sided"}


def holm(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Holm step-down adjusted p-values (statsmodels); NaN entries stay NaN and do not count
    towards the family size."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        adjusted[finite] = multipletests(p[finite], method="holm")[1]
    return adjusted


def paired_test(values: np.ndarray, baseline: np.ndarray,
                alternative: str) -> tuple[float, float, float]:
    """``(t, df, p)`` of scipy's paired t-test of ``values - baseline``; NaN for < 2 pairs.

    Constant nonzero differences give t = +-inf, constant zero differences NaN (scipy's).
    """
    n = len(values)
    if n < 2:
        return np.nan, np.nan, np.nan
    with warnings.catch_warnings():  # degenerate (constant) differences: scipy warns
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.ttest_rel(values, baseline, alternative=alternative)
    return float(res.statistic), float(n - 1), float(res.pvalue)


def paired_tests(scores: pd.DataFrame, baseline: str, alpha: float = 0.05) -> pd.DataFrame:
    """Every architecture against ``baseline``, per task x explainer x metric, over folds.

    Pairs are matched on ``fold``; only folds where both have status ``ok`` and a finite
    value count (``n_pairs``). ``mean_diff`` is the mean of architecture - baseline. The
    test is scipy's ``ttest_rel`` with ``alternative`` from the metric's
    ``higher_is_better``: ``greater`` (architecture better) when True, ``less`` when False,
    ``two-sided`` for descriptive metrics (None). ``p_holm`` is Holm-adjusted within each
    family (all comparisons of one task x explainer x metric, :data:`FAMILY`), and
    ``significant`` is ``p_holm < alpha``. Fewer than two pairs give NaN t/df/p and are
    left out of the family. Rows follow the order of ``scores``; the baseline has none.
    Raises :class:`UnknownNameError` when ``baseline`` is not an architecture of ``scores``.
    """
    if scores.empty:
        return pd.DataFrame(columns=TEST_COLUMNS)
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
    table = pd.DataFrame(rows, columns=TEST_COLUMNS)
    if table.empty:
        return table
    table["p_holm"] = table.groupby(FAMILY, sort=False)["p"].transform(holm)
    table["significant"] = (table["p_holm"] < alpha).astype(bool)
    return _ordered(table, KEYS, scores)


def explainer_ranks(board: pd.DataFrame) -> pd.DataFrame:
    """Mean rank of each explainer over architectures, per task x metric.

    ``board`` is a :func:`~rnnxbench.report.tables.leaderboard` (its ``rank`` column ranks
    explainers within task x architecture x metric); ``mean_rank`` averages the finite ranks,
    ``n_architectures`` counts them (NaN mean rank for descriptive metrics or explainers
    without ok folds). Rows follow task and metric order, then ``mean_rank`` (best first).
    """
    if board.empty:
        return pd.DataFrame(columns=RANK_COLUMNS)
    table = (board.groupby(["task", "metric", "explainer"], sort=False)["rank"]
             .agg(mean_rank="mean", n_architectures="count").reset_index())
    table["higher_is_better"] = table["metric"].map(metric_directions(board))
    codes = {f"__{k}": pd.Index(pd.unique(board[k])).get_indexer(table[k])
             for k in ("task", "metric")}
    table = (table.assign(**codes).sort_values([*codes, "mean_rank"], kind="stable",
                                                na_position="last")
             .drop(columns=list(codes)).reset_index(drop=True))
    return table[RANK_COLUMNS]
