"""Statistics over folds: paired t-tests against a baseline architecture (Holm-corrected),
with and without the correction for folds that share training data, and mean explainer
ranks.

The thesis' text reports no significance tests; its reference code compares architectures
with paired t-tests over the cross-validation folds, which :func:`paired_tests` follows (one
pair per fold, and per training seed when a profile trains several). Folds of k-fold
cross-validation share (k - 2) / (k - 1) of their training data, so their scores are not
independent and the plain paired t-test is anti-conservative (Dietterich 1998; Nadeau and
Bengio 2003): the corrected resampled t-test (Nadeau and Bengio; Bouckaert and Frank 2004)
inflates the variance by ``1/n + n_test/n_train``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import special, stats

from rnnxbench.registry import UnknownNameError
from rnnxbench.report.tables import KEYS, group_matrices, in_order_of, metric_directions

#: one Holm family: every architecture-vs-baseline comparison of one task x explainer x metric
FAMILY = ["task", "explainer", "metric"]
FAMILY_DESCRIPTION = ("Holm over the architecture-vs-baseline comparisons of one "
                      "task x explainer x metric")
TEST_COLUMNS = [*KEYS, "baseline", "higher_is_better", "alternative", "n_pairs", "mean_diff",
                "t", "df", "p", "p_holm", "significant", "t_corrected", "p_corrected",
                "p_corrected_holm", "significant_corrected"]
RANK_COLUMNS = ["task", "metric", "explainer", "mean_rank", "n_architectures",
                "higher_is_better"]
ALTERNATIVES = {True: "greater", False: "less", None: "two-sided"}


def holm(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Holm step-down adjusted p-values (as statsmodels' ``multipletests(method="holm")``);
    NaN entries stay NaN and do not count towards the family size."""
    p = np.asarray(p_values, dtype=np.float64)
    return holm_by(p, np.zeros(p.shape, dtype=np.int64))


def holm_by(p_values: np.ndarray | list[float], families: np.ndarray | list) -> np.ndarray:
    """:func:`holm` within each family at once: ``families`` labels each p-value's family.

    Sorted within its family, the k-th of m finite p-values becomes the running maximum of
    ``p * (m - k + 1)``, capped at 1; non-finite entries give NaN and are not counted.
    """
    shape = np.shape(p_values)
    p = np.asarray(p_values, dtype=np.float64).ravel()
    adjusted = np.full(p.shape, np.nan)
    rows = np.flatnonzero(np.isfinite(p))
    if rows.size:
        family = pd.factorize(np.asarray(families).ravel()[rows], use_na_sentinel=False)[0]
        order = np.lexsort((p[rows], family))
        rows, family = rows[order], family[order]
        size = np.bincount(family)[family]
        position = np.arange(len(rows)) - np.searchsorted(family, family)
        raw = pd.Series(p[rows] * (size - position))
        adjusted[rows] = np.minimum(raw.groupby(family).cummax().to_numpy(), 1.0)
    return adjusted.reshape(shape)


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


def paired_t(diffs: np.ndarray, codes: np.ndarray, n_groups: int, sign: np.ndarray,
             ratio: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Paired t-tests of many groups of differences at once, as :func:`paired_test`.

    ``codes`` (``0..n_groups-1``) group ``diffs``; ``sign`` per group picks the alternative
    (+1 ``greater``, -1 ``less``, 0 ``two-sided``). Returns arrays ``n, mean, t, df, p``;
    t, df and p are NaN for fewer than two differences. The arithmetic is scipy's
    ``ttest_rel`` (mean, ``var = mean((d - mean)**2) * n/(n-1)``, ``t = mean/sqrt(var/n)``,
    p from ``special.stdtr``): scipy's values, to the last bit on the published results.
    With ``ratio`` (per group ``n_test / n_train``, NaN where it does not apply) also
    ``t_corrected = mean / sqrt(var * (1/n + ratio))`` and its ``p_corrected``.
    """
    out = {k: np.full(n_groups, np.nan) for k in ("mean", "t", "df", "p", "t_corrected",
                                                  "p_corrected")}
    ratio = np.full(n_groups, np.nan) if ratio is None else np.asarray(ratio, np.float64)
    out["n"] = np.zeros(n_groups, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        for groups, matrix in group_matrices(np.asarray(diffs, np.float64), codes, n_groups):
            n = matrix.shape[1]
            mean = matrix.mean(axis=1)
            out["n"][groups], out["mean"][groups] = n, mean
            if n >= 2:
                var = ((matrix - mean[:, None]) ** 2).mean(axis=1) * (n / (n - 1))
                out["t"][groups] = mean / np.sqrt(var / n)
                out["t_corrected"][groups] = mean / np.sqrt(var * (1 / n + ratio[groups]))
                out["df"][groups] = n - 1
    sign = np.asarray(sign)
    for t, p in (("t", "p"), ("t_corrected", "p_corrected")):
        t, df = out[t], out["df"]
        out[p] = np.where(sign > 0, special.stdtr(df, -t), np.where(
            sign < 0, special.stdtr(df, t), 2 * special.stdtr(df, -np.abs(t))))
    return out


def paired_tests(scores: pd.DataFrame, baseline: str, alpha: float = 0.05,
                 test_train_ratio: dict[str, float] | None = None) -> pd.DataFrame:
    """Every architecture against ``baseline``, per task x explainer x metric, over folds.

    Pairs are matched on ``fold`` (and ``seed``, the training seed, where scores have it);
    only pairs where both have status ``ok`` and a finite value count (``n_pairs``): a
    ``failed``, ``unsupported`` or ``degenerate`` fold drops its pair. ``mean_diff`` is the
    mean of architecture - baseline. The test is scipy's ``ttest_rel`` with ``alternative``
    from the metric's
    ``higher_is_better``: ``greater`` (architecture better) when True, ``less`` when False,
    ``two-sided`` for descriptive metrics (None). ``p_holm`` is Holm-adjusted within each
    family (all comparisons of one task x explainer x metric, :data:`FAMILY`), and
    ``significant`` is ``p_holm < alpha``. Fewer than two pairs give NaN t/df/p and are
    left out of the family. ``t_corrected``/``p_corrected`` are the corrected resampled
    t-test with ``test_train_ratio[task]`` (``n_test / n_train`` of the task's folds; NaN for
    tasks without one, e.g. repeats of one split, where folds differ by seed only),
    ``p_corrected_holm`` its Holm adjustment and ``significant_corrected`` that
    ``< alpha``. Rows follow the order of ``scores``; the baseline has none.
    Raises :class:`UnknownNameError` when ``baseline`` is not an architecture of ``scores``
    and ValueError when a fold has two usable rows for one architecture and family.
    """
    if scores.empty:
        return pd.DataFrame(columns=TEST_COLUMNS)
    archs = [str(a) for a in pd.unique(scores["architecture"])]
    if baseline not in archs:
        raise UnknownNameError("baseline architecture", baseline, archs)
    family = scores.groupby(FAMILY, sort=False).ngroup().fillna(-1).to_numpy(np.int64)
    is_base = (scores["architecture"] == baseline).to_numpy(dtype=bool, na_value=False)
    value = pd.to_numeric(scores["value"], errors="coerce").to_numpy(np.float64, na_value=np.nan)
    ok = (scores["status"] == "ok").to_numpy(dtype=bool, na_value=False)
    usable = ok & np.isfinite(value) & (family >= 0)
    seed = scores["seed"].to_numpy() if "seed" in scores else np.zeros(len(scores))
    rows = pd.DataFrame({"family": family, "architecture": scores["architecture"].to_numpy(),
                         "fold": scores["fold"].to_numpy(), "seed": seed, "value": value})
    if rows[usable].duplicated(["family", "architecture", "fold", "seed"]).any():
        raise ValueError("more than one usable score for one task x explainer x metric x "
                         "architecture x fold x seed")
    tested = (family >= 0) & ~is_base
    if not tested.any():
        return pd.DataFrame([], columns=TEST_COLUMNS)
    compared = scores[tested]
    comparison = np.full(len(scores), -1, dtype=np.int64)
    comparison[tested] = compared.groupby([*FAMILY, "architecture"], sort=False,
                                          dropna=False).ngroup().to_numpy()
    n = int(comparison.max()) + 1
    first = np.unique(comparison[tested], return_index=True)[1]
    # pairs: each usable fold of an architecture with the baseline's fold, in fold order
    pairs = (rows.assign(comparison=comparison)[usable & tested]
             .merge(rows[usable & is_base], on=["family", "fold", "seed"],
                    suffixes=("", "_base"))
             .sort_values(["comparison", "fold", "seed"], kind="stable"))
    directions = metric_directions(scores)
    hib = [directions[m] for m in compared["metric"].to_numpy(dtype=object)[first]]
    ratios = test_train_ratio or {}
    ratio = np.array([ratios.get(t, np.nan) for t in compared["task"].to_numpy()[first]],
                     dtype=np.float64)
    res = paired_t((pairs["value"] - pairs["value_base"]).to_numpy(),
                   pairs["comparison"].to_numpy(), n,
                   np.array([{True: 1, False: -1}.get(h, 0) for h in hib]), ratio)
    table = pd.DataFrame({k: compared[k].to_numpy(dtype=object)[first].tolist() for k in KEYS})
    table = table.assign(baseline=baseline, higher_is_better=hib,
                         alternative=[ALTERNATIVES[h] for h in hib], n_pairs=res["n"],
                         mean_diff=res["mean"], t=res["t"], df=res["df"], p=res["p"])
    table["p_holm"] = holm_by(table["p"].to_numpy(), family[tested][first])
    table["significant"] = (table["p_holm"] < alpha).astype(bool)
    table = table.assign(t_corrected=res["t_corrected"], p_corrected=res["p_corrected"])
    table["p_corrected_holm"] = holm_by(table["p_corrected"].to_numpy(), family[tested][first])
    table["significant_corrected"] = (table["p_corrected_holm"] < alpha).astype(bool)
    return in_order_of(table[TEST_COLUMNS], KEYS, scores)


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
