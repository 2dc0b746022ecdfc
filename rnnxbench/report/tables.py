"""Result tables: per-fold scores -> leaderboard (mean and 95% CI over folds) and failures."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

KEYS = ["task", "architecture", "explainer", "metric"]

LEADERBOARD_COLUMNS = [
    *KEYS, "mean", "std", "ci95_low", "ci95_high", "n_folds", "n_failed", "n_unsupported",
    "accuracy_mean", "gate_passed_all", "status", "rank",
]
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


def _ordered(df: pd.DataFrame, keys: list[str], reference: pd.DataFrame) -> pd.DataFrame:
    """``df`` sorted by ``keys``, each in order of first appearance in ``reference``."""
    codes = {f"__{k}": pd.Index(pd.unique(reference[k])).get_indexer(df[k]) for k in keys}
    return (df.assign(**codes).sort_values(list(codes), kind="stable")
            .drop(columns=list(codes)).reset_index(drop=True))


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


def _group_status(status: pd.Series) -> str:
    seen = set(status)
    if "ok" in seen:
        return "ok"
    if "failed" in seen:
        return "failed"
    if "unsupported" in seen:
        return "unsupported"
    return str(status.iloc[0]) if len(status) else "failed"


def _summarise(group: pd.DataFrame) -> dict:
    ok = group["status"] == "ok"
    values = pd.to_numeric(group.loc[ok, "value"], errors="coerce").to_numpy(dtype=np.float64)
    mean, std, low, high = t_interval(values)
    n_ok = int(np.isfinite(values).sum())
    acc = pd.to_numeric(group["accuracy"], errors="coerce")
    gate = group["gate_passed"].dropna()
    row = {
        "mean": mean, "std": std, "ci95_low": low, "ci95_high": high,
        "n_folds": n_ok,
        "n_failed": int((group["status"] == "failed").sum()),
        "n_unsupported": int((group["status"] == "unsupported").sum()),
        "accuracy_mean": float(acc.mean()) if acc.notna().any() else np.nan,
        "gate_passed_all": bool(len(gate) > 0 and all(_truthy(g) for g in gate)),
        "status": _group_status(group["status"]),
    }
    if "higher_is_better" in group:
        known = group["higher_is_better"].dropna()  # rows of failed models may lack it
        row["higher_is_better"] = known.iloc[0] if len(known) else None
    return row


def leaderboard(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per task x architecture x explainer x metric, summarised over folds.

    ``mean``/``std`` (ddof=1) and the 95% t-interval ``mean +- t(0.975, n-1) * std/sqrt(n)``
    use the folds with status ``ok`` and a finite value (``n_folds`` of them); std and CI are
    NaN for fewer than two. ``n_failed``/``n_unsupported`` count the other folds;
    ``accuracy_mean`` averages the folds' model accuracy; ``gate_passed_all`` is True when
    every fold passed the accuracy gate. ``status`` is ``ok`` if any fold is ok, else
    ``failed`` (if any failed) or ``unsupported``. Rows follow the first appearance of each
    task, architecture, explainer and metric in ``scores``. A ``higher_is_better`` column in
    ``scores`` is passed through. ``rank`` ranks the explainers by ``mean`` within each task x
    architecture x metric (see :func:`rank_explainers`; 1 = best, ties averaged, NaN for
    descriptive metrics).
    """
    columns = LEADERBOARD_COLUMNS + (["higher_is_better"] if "higher_is_better" in scores else [])
    if scores.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for key, group in scores.groupby(KEYS, sort=False, dropna=False):
        rows.append({**dict(zip(KEYS, key, strict=True)), **_summarise(group)})
    board = pd.DataFrame(rows, columns=columns)
    board["rank"] = rank_explainers(board, metric_directions(scores))
    return _ordered(board, KEYS, scores)


def failure_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Every group of non-ok folds: task, architecture, explainer, metric, status, error.

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
    return _ordered(table[FAILURE_COLUMNS], [*KEYS, "status"], scores)


def accuracy_summary(models: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy per task x architecture over folds (or repeats), as in the leaderboard.

    ``models`` has one row per trained model: ``task, architecture, fold, accuracy, status``
    and ``gate``. ``mean``/``std``/95% t-interval over the models with status ``ok``
    (``n_folds``); ``n_failed`` counts the others; ``gate_passed_all`` is True when every
    fold's model reached the gate.
    """
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
