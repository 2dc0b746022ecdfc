"""The published results/ carry what the leaderboard claims: every fold, every class
explained, models above their gates, and explained.csv / run.json / scores.csv agreeing."""

import json
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITES = ["maj", "synthetic", "arith", "ucr"]


def folder(suite: str) -> Path:
    path = ROOT / "results" / suite
    if not (path / "explained.csv").exists():
        pytest.skip(f"no published {path} with explained.csv")
    return path


@pytest.mark.parametrize("suite", SUITES)
def test_explained_sequences_match_run_json_and_scores(suite):
    path = folder(suite)
    explained = pd.read_csv(path / "explained.csv")
    run = json.loads((path / "run.json").read_text())
    counts = run["explained"]["class_counts"]
    for task, per_task in explained.groupby("task"):
        # the same sequences for every model of a fold
        for fold, rows in per_task.groupby("fold"):
            samples = {tuple(sorted(g["sample"])) for _, g in rows.groupby("architecture")}
            assert len(samples) == 1, (task, fold)
            want = {str(k): v for k, v in counts[task]["per_fold"][str(fold)].items()}
            first = rows[rows.architecture == rows.architecture.iloc[0]]
            got = first["label"].astype(str).value_counts().to_dict()
            assert got == want, (task, fold)
        assert (per_task["correct"] == (per_task["label"] == per_task["predicted"])).all()
    scores = pd.read_csv(path / "scores.csv")
    n = explained.groupby(["task", "architecture", "fold"]).size()
    ok = scores[scores.status == "ok"].groupby(["task", "architecture", "fold"]).n_samples.max()
    assert (ok == n.reindex(ok.index)).all()


def test_maj_leaderboard_has_every_fold_every_class_and_gated_models():
    """Issue 12: all 7 folds, at least 5 explained sequences of every class per fold, and
    every model of MNIST-MAJ above its gate in every fold."""
    path = folder("maj")
    run = json.loads((path / "run.json").read_text())
    models = pd.DataFrame(run["model_accuracy"])
    models = models[models.task == "mnist-maj"]
    assert set(models.groupby("architecture").fold.apply(frozenset)) == {frozenset(range(7))}
    gate = pd.read_csv(path / "scores.csv").query("task == 'mnist-maj'").gate.unique()
    assert len(gate) == 1 and (models.accuracy >= gate[0]).all()
    explained = pd.read_csv(path / "explained.csv").query("task == 'mnist-maj'")
    per_class = explained.groupby(["architecture", "fold", "label"]).size()
    assert per_class.min() >= 5 and explained.label.nunique() == 10
    board = pd.read_csv(path / "leaderboard.csv").query("task == 'mnist-maj'")
    assert board.gate_passed_all.all()
    assert board.loc[board.status == "ok", "n_folds"].max() == 7


def test_maj_publishes_its_pages_heatmaps_and_index():
    path = folder("maj")
    run = json.loads((path / "run.json").read_text())
    archs = run["config"]["architectures"]
    names = [a["id"] if isinstance(a, dict) else a for a in archs]
    pages = run["explorer_pages"]
    assert sorted(pages) == sorted(f"explore/mnist-maj__{a}__fold0.html" for a in names)
    index = (path / "index.html").read_text(encoding="utf-8")
    for page in pages:
        text = (path / page).read_text(encoding="utf-8")
        assert "<script src" not in text and len(text) < 5_000_000
        assert f"href='{page}'" in index
    assert run["heatmap_figures"] == ["heatmaps_mnist-maj.png"]
    assert (path / "heatmaps_mnist-maj.png").read_bytes().startswith(b"\x89PNG")
    assert run["config_hash"] in index and "figure_errors" not in run
