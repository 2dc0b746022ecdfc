"""Explorations: what a run keeps of fold 0's models for the explorer pages and heatmaps,
computed from the cached models, cached, and consistent with the model and the scoring."""

import numpy as np
import pytest
import torch

import rnnxbench
from rnnxbench.engine.cache import Cache
from rnnxbench.explainers.base import Explainer
from rnnxbench.harness.exploration import exploration_key, explore_job
from rnnxbench.harness.options import run_options
from rnnxbench.harness.plan import build_model, plan_models
from rnnxbench.harness.run import configure
from rnnxbench.registry import EXPLAINERS, TASKS
from rnnxbench.report.exploration import Exploration
from rnnxbench.tasks.base import build_task


class _Raises(Explainer):
    """Always raises."""

    def attribute(self, inputs, target):
        raise RuntimeError("boom")


OPTIONS = {"explainers": ["sa", "lrp", "attention", "raises"], "metrics": ["cosine"],
           "progress": False}


@pytest.fixture(scope="module", autouse=True)
def _raises():
    """An explainer that always fails, registered for this module's tests."""
    with EXPLAINERS.override("raises", _Raises, origin="test"):
        yield


@pytest.fixture(scope="module")
def explored(tmp_path_factory):
    root = tmp_path_factory.mktemp("explore")
    result = rnnxbench.run_suite("digits", "smoke", cache_dir=root / "cache",
                                 results_dir=root / "results", **OPTIONS)
    return root, result


@pytest.fixture(scope="module")
def planned(explored):
    """The run's config, data and the explored models' jobs (as the run planned them)."""
    cfg = configure("digits", "smoke", run_options(OPTIONS))
    entry = cfg.tasks[0]
    data = {entry.id: build_task(TASKS.get(entry.task)(**entry.options), entry.source, None,
                                 cfg.profile.max_images, cfg.seed, cfg.profile.n_folds,
                                 cfg.profile.cv_seed)}
    hashes = {e.model_hash for e in explored[1].explorations}
    jobs = {m.model_hash: m for m in plan_models(cfg, data, ["cpu"]) if m.model_hash in hashes}
    return cfg, data, jobs


def test_every_fold0_model_is_explored_once(explored):
    _, result = explored
    exps = result.explorations
    assert sorted(e.architecture for e in exps) == ["deep", "shallow"]
    assert {e.fold for e in exps} == {0} and result.info["explore"]["errors"] == {}
    explained = result.explained
    for e in exps:
        rows = explained[(explained["architecture"] == e.architecture)
                         & (explained["fold"] == 0)]
        assert e.sample.tolist() == rows["sample"].tolist()  # the scored sequences
        assert e.label.tolist() == rows["label"].tolist()
        assert e.predicted.tolist() == rows["predicted"].tolist()


def test_an_exploration_agrees_with_its_model(explored, planned):
    root, result = explored
    exp = result.explorations[0]
    n, t, d = exp.x.shape
    assert exp.states.shape[:2] == (n, t) and exp.expected.shape == (n, t, exp.n_classes)
    # the last step's expected prediction is the model's output
    np.testing.assert_allclose(exp.expected[:, -1], exp.proba, atol=1e-5)
    np.testing.assert_allclose(exp.proba.sum(1), 1, atol=1e-5)
    # the confusion matrix counts the fold's held-out sequences, its diagonal the accuracy
    acc = result.scores.query("architecture == @exp.architecture and fold == 0")["accuracy"]
    assert exp.confusion.sum() > n
    assert np.trace(exp.confusion) / exp.confusion.sum() == pytest.approx(acc.iloc[0])
    # relevance as the explainer gives it (squared gradient) on the model from the cache
    cfg, data, jobs = planned
    model = build_model(data["digits-maj"], jobs[exp.model_hash].architecture)
    model.load_state_dict(Cache(root / "cache").load_model(exp.model_hash)[0])
    x = torch.tensor(exp.x, requires_grad=True)
    logits = model.eval()(x)
    logits.gather(1, torch.as_tensor(exp.label)[:, None]).sum().backward()
    np.testing.assert_allclose(exp.relevance["sa"], x.grad.numpy() ** 2, rtol=1e-4,
                               atol=1e-9)


def test_unsupported_and_failing_explainers_are_recorded(explored):
    _, result = explored
    for exp in result.explorations:
        assert set(exp.relevance) == {"sa", "lrp"}
        assert exp.missing["attention"].startswith("unsupported")
        assert exp.missing["raises"] == "failed: RuntimeError: boom"
        assert exp.explainers == ["sa", "lrp", "attention", "raises"]


def test_explorations_are_cached_and_round_trip(explored, tmp_path):
    root, result = explored
    exp = result.explorations[0]
    back = Exploration.from_arrays(exp.to_arrays())
    for name in ("x", "states", "expected", "confusion", "ground_truth", "sample"):
        np.testing.assert_array_equal(getattr(back, name), getattr(exp, name))
    assert back.missing == exp.missing and list(back.relevance) == list(exp.relevance)
    # a rerun takes it from the cache, without the model
    again = rnnxbench.run_suite("digits", "smoke", cache_dir=root / "cache", results_dir=None,
                                **OPTIONS)
    assert again.info["models"]["trained"] == 0
    same = next(e for e in again.explorations if e.architecture == exp.architecture)
    np.testing.assert_array_equal(same.relevance["lrp"], exp.relevance["lrp"])
    assert list((root / "cache" / "scores" / exp.model_hash).glob("explore-*.npz"))


def test_a_corrupt_cached_exploration_is_recomputed(explored, planned):
    root, result = explored
    cfg, data, jobs = planned
    exp = result.explorations[0]
    path = Cache(root / "cache").arrays_path(exp.model_hash,
                                             exploration_key(cfg, data["digits-maj"]))
    assert path.exists()
    path.write_bytes(b"not a zip")
    with pytest.warns(Warning):
        found = explore_job(data, jobs[exp.model_hash], cfg, root / "cache", {"status": "ok"})
    assert isinstance(found, Exploration) and path.exists()
    np.testing.assert_array_equal(found.relevance["sa"], exp.relevance["sa"])
    assert list(path.parent.glob("*.corrupt"))


def test_without_a_model_there_is_a_reason_not_an_exploration(explored, planned, tmp_path):
    cfg, data, jobs = planned
    job = jobs[explored[1].explorations[0].model_hash]
    assert explore_job(data, job, cfg, tmp_path, {"status": "failed", "error": "x"}) == "x"
    assert explore_job(data, job, cfg, tmp_path, {"status": "ok"}) == "no trained model"
