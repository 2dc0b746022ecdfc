"""Result tables: per-fold scores -> leaderboard (mean and 95% CI over folds) and failures."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from scipy import stats

KEYS = ["task", "architecture", "explainer", "metric"]

LEADERBOARD_COLUMNS = [
    *KEYS, "mean", "std", "ci95_low", "ci95_high", "n_folds", "n_failed", "n_unsupported",
    "n_degenerate", "accuracy_mean", "explained_accuracy_mean", "gate_passed_all", "status",
    "rank", "n_seeds", "std_between_folds", "std_within_folds",
]
#: a fold's status: ``degenerate`` = the metric is undefined for the explanation (e.g. an
#: all-zero map), counted like ``unsupported``, never averaged
STATUSES = ("ok", "failed", "unsupported", "degenerate")
FAILURE_COLUMNS = [*KEYS, "status", "error", "n_folds"]
ACCURACY_COLUMNS = ["task", "architecture", "mean", "std", "ci95_low", "ci95_high", "n_folds",
                    "n_failed", "gate", "gate_passed_all"]
#: the groups within which explainers are ranked
RANK_GROUP = ["task", "architecture", "metric"]


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    """``(mean, std, low, high)`` of finite ``values``: std with ddof=1, t-distribution CI.

    std and the interval are NaN with fewer than two values; all NaN with none.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = v.size
    if n == 0:
        return np.nan, np.nan, np.nan, np.nan
    mean = float(v.mean())
    if n < 2:
        return mean, np.nan, np.nan, np.nan
    std = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * std / np.sqrt(n)
    return mean, std, mean - half, mean + half


def in_order_of(df: pd.DataFrame, keys: list[str], reference: pd.DataFrame) -> pd.DataFrame:
    """``df`` stably sorted by ``keys``, each key's values in order of first appearance in
    ``reference`` (values absent from ``reference`` first); the index is reset."""
    codes = {f"__{k}": pd.Index(pd.unique(reference[k])).get_indexer(df[k]) for k in keys}
    return (df.assign(**codes).sort_values(list(codes), kind="stable")
            .drop(columns=list(codes)).reset_index(drop=True))


def group_matrices(values: np.ndarray, codes: np.ndarray,
                   n_groups: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(groups, matrix)`` for each distinct group size: ``matrix[i]`` holds the ``values``
    of group ``groups[i]`` (``codes`` in ``0..n_groups-1``) in their input order.

    Row-wise reductions of these matrices give the same floats as numpy's on each group's
    own 1-D array (same summation), so vectorised means and variances match per-group ones.
    """
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=n_groups)
    starts = np.cumsum(counts) - counts
    ordered = values[order]
    for size in np.unique(counts[counts > 0]):
        groups = np.flatnonzero(counts == size)
        yield groups, ordered[starts[groups, None] + np.arange(size)]


def t_intervals(values: np.ndarray, codes: np.ndarray, n_groups: int,
                level: float = 0.95) -> dict[str, np.ndarray]:
    """:func:`t_interval` of every group of ``values`` at once (``codes`` in
    ``0..n_groups-1``; only finite values count): arrays ``mean, std, low, high, n``,
    equal to :func:`t_interval`'s floats group by group."""
    values = np.asarray(values, dtype=np.float64)
    codes = np.asarray(codes)
    keep = np.isfinite(values) & (codes >= 0)
    out = {k: np.full(n_groups, np.nan) for k in ("mean", "std", "low", "high")}
    out["n"] = np.zeros(n_groups, dtype=np.int64)
    for groups, matrix in group_matrices(values[keep], codes[keep], n_groups):
        n = matrix.shape[1]
        out["n"][groups] = n
        out["mean"][groups] = matrix.mean(axis=1)
        if n >= 2:
            std = matrix.std(axis=1, ddof=1)
            half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * std / np.sqrt(n)
            out["std"][groups] = std
            out["low"][groups] = out["mean"][groups] - half
            out["high"][groups] = out["mean"][groups] + half
    return out


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


def direction(value: object) -> bool | None:
    """A ``higher_is_better`` cell as True, False or None (descriptive, or unknown).

    Accepts bools and their CSV spellings (``"True"``/``"False"``); None, NaN and ``""``
    give None.
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text in {"true", "1", "yes"}:
            return True
        return False if text in {"false", "0", "no"} else None
    if value is None or pd.isna(value):
        return None
    return bool(value)


def metric_directions(scores: pd.DataFrame) -> dict[str, bool | None]:
    """Each metric's direction: the first non-missing ``higher_is_better`` of its rows.

    Without that column every metric counts as higher-is-better (the default of
    :class:`rnnxbench.metrics.base.Metric`); a metric whose rows all lack it (descriptive
    metrics, or only failed models) gets None.
    """
    metrics = pd.unique(scores["metric"])
    if "higher_is_better" not in scores:
        return dict.fromkeys(metrics, True)
    known = scores["higher_is_better"].map(direction).dropna()
    first = known.groupby(scores.loc[known.index, "metric"], sort=False).first()
    return {m: (bool(first[m]) if m in first.index else None) for m in metrics}


def rank_explainers(board: pd.DataFrame, directions: dict[str, bool | None]) -> pd.Series:
    """Rank of each leaderboard row's explainer within its task x architecture x metric.

    Rank 1 is the best ``mean`` in the metric's direction (``directions``, see
    :func:`metric_directions`); ties get the average rank; a NaN mean, or a metric without
    a direction (descriptive), gets NaN.
    """
    sign = board["metric"].map(lambda m: {True: -1.0, False: 1.0}.get(directions.get(m), np.nan))
    key = pd.to_numeric(board["mean"], errors="coerce") * sign.astype(np.float64)
    groups = [board[k] for k in RANK_GROUP]
    return key.groupby(groups, sort=False, dropna=False).rank(method="average").rename("rank")


def _first_rows(codes: np.ndarray, mask: np.ndarray, n_groups: int) -> np.ndarray:
    """Index of each group's first row where ``mask`` holds; -1 for a group without one."""
    first = np.full(n_groups, -1, dtype=np.int64)
    rows = np.flatnonzero(mask & (codes >= 0))
    groups, at = np.unique(codes[rows], return_index=True)
    first[groups] = rows[at]
    return first


def _values(column: pd.Series) -> np.ndarray:
    """A column as float64 (non-numbers and missing values NaN)."""
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _is(column: pd.Series, value: str) -> np.ndarray:
    return (column == value).to_numpy(dtype=bool, na_value=False)


def _count(codes: np.ndarray, mask: np.ndarray, n_groups: int) -> np.ndarray:
    return np.bincount(codes[mask & (codes >= 0)], minlength=n_groups).astype(np.int64)


def _picked(column: pd.Series, rows: np.ndarray) -> list:
    """``column``'s values at ``rows`` (None where a row is -1), as a list: a frame built
    from it infers the dtype as one built from per-group dicts does."""
    values = column.to_numpy(dtype=object)[np.maximum(rows, 0)]
    return [None if r < 0 else v for r, v in zip(rows, values, strict=True)]


def _all_truthy(column: pd.Series, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group: some non-missing value, and every non-missing value truthy."""
    labels, uniques = pd.factorize(column)
    truthy = np.array([_truthy(u) for u in uniques], dtype=bool)
    present = labels >= 0
    falsy = present & ~truthy[np.maximum(labels, 0)] if len(uniques) else present
    return (_count(codes, present, n_groups) > 0) & (_count(codes, falsy, n_groups) == 0)


def leaderboard(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per task x architecture x explainer x metric, summarised over folds.

    ``mean``/``std`` (ddof=1) and the 95% t-interval ``mean +- t(0.975, n-1) * std/sqrt(n)``
    use the folds with status ``ok`` and a finite value (``n_folds`` of them); std and CI are
    NaN for fewer than two. ``n_failed``/``n_unsupported``/``n_degenerate`` count the other
    folds (``degenerate``: the metric's value is undefined for that fold's explanations);
    ``accuracy_mean`` averages the folds' model accuracy; ``gate_passed_all`` is True when
    every fold passed the accuracy gate. ``status`` is ``ok`` if any fold is ok, else
    ``failed`` (if any failed), ``degenerate`` (if any is) or ``unsupported``. Rows follow
    the first appearance of each task, architecture, explainer and metric in ``scores``. A
    ``higher_is_better`` column in ``scores`` is passed through. ``rank`` ranks the
    explainers by ``mean`` within each task x architecture x metric (see
    :func:`rank_explainers`; 1 = best, ties averaged, NaN for descriptive metrics).
    """
    columns = LEADERBOARD_COLUMNS + (["higher_is_better"] if "higher_is_better" in scores else [])
    if scores.empty:
        return pd.DataFrame(columns=columns)
    codes = scores.groupby(KEYS, sort=False, dropna=False).ngroup().to_numpy()
    n = int(codes.max()) + 1
    first = _first_rows(codes, np.ones(len(codes), dtype=bool), n)
    status = scores["status"]
    ok, failed, unsupported, degenerate = (_is(status, s) for s in STATUSES)
    value = np.where(ok, _values(scores["value"]), np.nan)
    folds = t_intervals(value, codes, n)
    acc_mean = _mean_of(scores, "accuracy", codes, n)
    n_ok, n_failed, n_unsupported, n_degenerate = (
        _count(codes, m, n) for m in (ok, failed, unsupported, degenerate))
    # ok if any fold is, else failed, degenerate, unsupported, else the first fold's status
    group_status = [str(s) for s in _picked(status, first)]
    for name, count in (("unsupported", n_unsupported), ("degenerate", n_degenerate),
                        ("failed", n_failed), ("ok", n_ok)):
        group_status = np.where(count > 0, name, group_status)
    data = {k: _picked(scores[k], first) for k in KEYS}
    data.update({
        "mean": folds["mean"], "std": folds["std"], "ci95_low": folds["low"],
        "ci95_high": folds["high"], "n_folds": folds["n"], "n_failed": n_failed,
        "n_unsupported": n_unsupported, "n_degenerate": n_degenerate,
        "accuracy_mean": acc_mean,
        "explained_accuracy_mean": _mean_of(scores, "explained_accuracy", codes, n),
        "gate_passed_all": _all_truthy(scores["gate_passed"], codes, n),
        "status": group_status.tolist(), "rank": np.full(n, np.nan),
        **seed_spread(scores, codes, n, ok),
    })
    if "higher_is_better" in scores:  # the first known one: rows of failed models may lack it
        known = scores["higher_is_better"].notna().to_numpy()
        data["higher_is_better"] = _picked(scores["higher_is_better"],
                                           _first_rows(codes, known, n))
    board = pd.DataFrame(data, columns=columns)
    board["rank"] = rank_explainers(board, metric_directions(scores))
    return in_order_of(board, KEYS, scores)


def _mean_of(scores: pd.DataFrame, column: str, codes: np.ndarray, n: int) -> np.ndarray:
    """Each group's mean of the non-missing values of ``column`` (NaN without the column),
    summed as pandas does (missing ones as 0)."""
    if column not in scores:
        return np.full(n, np.nan)
    values = _values(scores[column])
    total = np.full(n, np.nan)
    for groups, matrix in group_matrices(np.where(np.isnan(values), 0.0, values), codes, n):
        total[groups] = matrix.sum(axis=1)
    count = _count(codes, ~np.isnan(values), n)
    return np.divide(total, count, out=np.full(n, np.nan), where=count > 0)


def seed_spread(scores: pd.DataFrame, codes: np.ndarray, n: int,
                ok: np.ndarray) -> dict[str, np.ndarray]:
    """With several training seeds per fold (a profile's ``seeds``): per group the number
    of seeds, the std (ddof=1) over folds of each fold's mean over seeds
    (``std_between_folds``: data variance) and the mean over folds of the std over seeds
    within a fold (``std_within_folds``: seed variance). NaN where a group has one seed."""
    out = {"n_seeds": np.ones(n), "std_between_folds": np.full(n, np.nan),
           "std_within_folds": np.full(n, np.nan)}
    if "seed" not in scores or scores["seed"].nunique() < 2:
        return out
    frame = pd.DataFrame({"group": codes, "fold": scores["fold"].to_numpy(),
                          "seed": scores["seed"].to_numpy(), "value": _values(scores["value"])})
    frame = frame[ok & np.isfinite(frame["value"].to_numpy())]
    per_fold = frame.groupby(["group", "fold"])["value"].agg(["mean", "std"])
    groups = per_fold.groupby(level="group")
    out["n_seeds"][:] = np.nan
    seeds = frame.groupby("group")["seed"].nunique()
    out["n_seeds"][seeds.index.to_numpy()] = seeds.to_numpy()
    between, within = groups["mean"].std(ddof=1), groups["std"].mean()
    out["std_between_folds"][between.index.to_numpy()] = between.to_numpy()
    out["std_within_folds"][within.index.to_numpy()] = within.to_numpy()
    return out


def failure_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Every group of non-ok folds (failed, unsupported, degenerate): task, architecture,
    explainer, metric, status, error.

    One row per distinct (status, error) within a task x architecture x explainer x metric,
    with ``n_folds`` the number of folds that ended that way; partly failed groups appear too.
    """
    bad = scores[scores["status"] != "ok"]
    if bad.empty:
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    if "error" not in bad:
        bad = bad.assign(error="")
    bad = bad.assign(error=bad["error"].fillna("").astype(str))
    table = (bad.groupby([*KEYS, "status", "error"], sort=False, dropna=False)
             .size().rename("n_folds").reset_index())
    return in_order_of(table[FAILURE_COLUMNS], [*KEYS, "status"], scores)


def accuracy_summary(models: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy per task x architecture over folds (or repeats), as in the leaderboard.

    ``models`` has one row per trained model: ``task, architecture, fold, accuracy, status``
    and ``gate``. ``mean``/``std``/95% t-interval over the models with status ``ok``
    (``n_folds``); ``n_failed`` counts the others; ``gate_passed_all`` is True when every
    fold's model reached the gate.
    """
    if models.empty:
        return pd.DataFrame(columns=ACCURACY_COLUMNS)
    codes = (models.groupby(["task", "architecture"], sort=False).ngroup()  # NaN: no key
             .fillna(-1).to_numpy(np.int64))
    n = int(codes.max()) + 1
    if n == 0:  # every row lacks its task or architecture
        return pd.DataFrame(columns=ACCURACY_COLUMNS)
    first = _first_rows(codes, np.ones(len(codes), dtype=bool), n)
    ok = _is(models["status"], "ok")
    acc = _values(models["accuracy"])
    folds = t_intervals(np.where(ok, acc, np.nan), codes, n)
    gate = models["gate"].to_numpy()[first].astype(np.float64)
    below = ~ok | ~(acc >= gate[codes])  # a failed or missing model fails the gate too
    return pd.DataFrame({
        "task": _picked(models["task"], first),
        "architecture": _picked(models["architecture"], first),
        "mean": folds["mean"], "std": folds["std"], "ci95_low": folds["low"],
        "ci95_high": folds["high"], "n_folds": folds["n"],
        "n_failed": _count(codes, ~ok, n), "gate": gate,
        "gate_passed_all": _count(codes, below, n) == 0,
    }, columns=ACCURACY_COLUMNS)
