"""Long tables unpacked from score rows: per-step relevance profiles and metric curves."""

from __future__ import annotations

import pandas as pd

STEP_PROFILE_COLUMNS = ["task", "architecture", "explainer", "fold", "step", "share"]
CURVE_COLUMNS = ["task", "architecture", "explainer", "metric", "fold", "x", "y", "x_label",
                 "y_label"]


def step_profiles(scores: pd.DataFrame) -> pd.DataFrame:
    """Each (task, architecture, explainer, fold)'s mean share of the positive relevance per
    time step (the thesis' Fig. 3.7), from the ``step_profile`` lists of ``scores``."""
    if "step_profile" not in scores or scores.empty:
        return pd.DataFrame(columns=STEP_PROFILE_COLUMNS)
    keys = ["task", "architecture", "explainer", "fold"]
    have = scores[scores["step_profile"].map(lambda p: isinstance(p, list) and len(p) > 0)]
    first = have.drop_duplicates(keys)[[*keys, "step_profile"]]
    long = first.explode("step_profile").rename(columns={"step_profile": "share"})
    long["step"] = long.groupby(keys, sort=False).cumcount()
    long["share"] = long["share"].astype(float)
    return long[STEP_PROFILE_COLUMNS].reset_index(drop=True)


def metric_curves(scores: pd.DataFrame) -> pd.DataFrame:
    """The curve points of metrics that have curves (``Metric.score``), one row per point."""
    if "curve" not in scores or scores.empty:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    rows = []
    for rec in scores[scores["curve"].map(lambda c: isinstance(c, dict))].itertuples():
        for x, y in rec.curve["points"]:
            rows.append({"task": rec.task, "architecture": rec.architecture,
                         "explainer": rec.explainer, "metric": rec.metric, "fold": rec.fold,
                         "x": x, "y": y, "x_label": rec.curve["x_label"],
                         "y_label": rec.curve["y_label"]})
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)
