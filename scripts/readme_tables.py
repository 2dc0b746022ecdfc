"""Markdown tables and checks for README from a published results folder.

usage: python scripts/readme_tables.py results/maj [--metrics cosine,deletion] [--orderings]

Prints, per metric, the architecture x explainer table of leaderboard means (accuracy and a
``*`` where some fold is below the gate), the number of tests in tests.csv and how many
survive each correction, and with ``--orderings`` the thesis' orderings on MNIST-MAJ
(corrected resampled t-tests, Holm within each family).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

THESIS_EXPLAINERS = ["sa", "gb", "lrp", "dtd"]


def metric_table(board: pd.DataFrame, acc: pd.DataFrame, metric: str, task: str,
                 explainers: list[str] | None = None) -> str:
    rows = board[(board.metric == metric) & (board.task == task)]
    means = rows.pivot(index="architecture", columns="explainer", values="mean")
    archs = list(dict.fromkeys(rows.architecture))
    cols = [e for e in dict.fromkeys(rows.explainer) if explainers is None or e in explainers]
    acc = acc[acc.task == task].set_index("architecture")
    out = ["| architecture | accuracy | " + " | ".join(cols) + " |",
           "|---|---:|" + "---:|" * len(cols)]
    for a in archs:
        mark = "" if bool(acc.loc[a, "gate_passed_all"]) else " *"
        vals = ["–" if pd.isna(means.loc[a, c]) else f"{means.loc[a, c]:.2f}" for c in cols]
        out.append(f"| {a} | {acc.loc[a, 'mean']:.2f}{mark} | " + " | ".join(vals) + " |")
    return "\n".join(out)


def test_counts(tests: pd.DataFrame) -> str:
    tested = tests.dropna(subset=["p"])
    lines = [f"tests with a p-value: {len(tested)}",
             f"significant (plain paired t-test, Holm): {int(tested.significant.sum())}"]
    if "significant_corrected" in tested:
        lines.append("significant (corrected resampled t-test, Holm): "
                     f"{int(tested.significant_corrected.sum())}")
        per_metric = tested.groupby("metric")[["significant", "significant_corrected"]].sum()
        lines.append(per_metric.astype(int).to_string())
    return "\n".join(lines)


def pair(tests: pd.DataFrame, board: pd.DataFrame, task: str, a: str, b: str,
         explainers: list[str], metric: str = "cosine") -> str:
    """``a`` against ``b`` per explainer: the two means and, where ``b`` is the baseline, the
    corrected test of ``a``."""
    rows = board[(board.task == task) & (board.metric == metric)].set_index(
        ["architecture", "explainer"])["mean"]
    parts = []
    for e in explainers:
        ma, mb = rows.get((a, e)), rows.get((b, e))
        t = tests[(tests.task == task) & (tests.metric == metric) & (tests.explainer == e)
                  & (tests.architecture == a) & (tests.baseline == b)]
        test = ""
        if len(t) and "p_corrected_holm" in t:
            test = f", p_corr_holm {t.p_corrected_holm.iloc[0]:.3g}"
        parts.append(f"{e}: {ma:.3f} vs {mb:.3f}{test}")
    return f"{a} vs {b}: " + "; ".join(parts)


def orderings(folder: Path, task: str) -> str:
    board = pd.read_csv(folder / "leaderboard.csv")
    tests = pd.read_csv(folder / "tests.csv")
    lines = [pair(tests, board, task, "rlstm", "deep", THESIS_EXPLAINERS),
             pair(tests, board, task, "rlstm_sd", "deep", THESIS_EXPLAINERS),
             pair(tests, board, task, "rlstm_sd", "rlstm", THESIS_EXPLAINERS),
             pair(tests, board, task, "deep_sd", "deep", THESIS_EXPLAINERS),
             pair(tests, board, task, "conv_plus_deep", "convdeep", THESIS_EXPLAINERS),
             pair(tests, board, task, "conv_plus_rlstm_sd", "convrlstm_sd", THESIS_EXPLAINERS)]
    cos = board[(board.task == task) & (board.metric == "cosine")]
    for e in THESIS_EXPLAINERS:
        m = cos[cos.explainer == e].set_index("architecture")["mean"]
        order = ["shallow", "deep", "deep_v2", "convdeep"]
        rising = all(m[x] < m[y] for x, y in zip(order, order[1:], strict=False))
        lines.append(f"depth {e}: " + " < ".join(f"{a} {m[a]:.3f}" for a in order)
                     + f"  monotone: {rising}")
    prof = pd.read_csv(folder / "step_profile.csv")
    prof = prof[prof.task == task]
    last = prof[prof.step >= prof.step.max() - 1].groupby(
        ["architecture", "explainer", "fold"]).share.sum().groupby(
        ["architecture", "explainer"]).mean().unstack()
    lines.append("mean share of the last two steps:\n"
                 + last[[e for e in THESIS_EXPLAINERS if e in last]].round(2).to_string())
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--metrics", default="cosine,deletion,randomization")
    ap.add_argument("--explainers", default=None, help="comma-separated columns (default: all)")
    ap.add_argument("--orderings", action="store_true")
    a = ap.parse_args()
    board = pd.read_csv(a.folder / "leaderboard.csv")
    acc = pd.read_csv(a.folder / "accuracy.csv")
    run = json.loads((a.folder / "run.json").read_text())
    print(f"config hash {run['config_hash']}, git {run['git_revision'][:7]}, "
          f"timings {run['timings_seconds']}")
    for task in dict.fromkeys(board.task):
        for metric in a.metrics.split(","):
            if metric in set(board.metric):
                explainers = a.explainers.split(",") if a.explainers else None
                table = metric_table(board, acc, metric, task, explainers)
                print(f"\n## {task} {metric}\n\n{table}")
        if a.orderings:
            print("\n" + orderings(a.folder, task))
    print("\n" + test_counts(pd.read_csv(a.folder / "tests.csv")))


if __name__ == "__main__":
    main()
