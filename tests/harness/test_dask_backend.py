"""The dask backend (``backend = "dask"``): a real LocalCluster of two worker processes gives
the same scores.csv as the local pool, the driver writes every cache entry, and bad options
and workers that lack a component fail clearly before any job runs."""

import pytest

pytest.importorskip("distributed")

import rnnxbench  # noqa: E402
from rnnxbench.engine.cache import Cache, ShippedCache, open_cache  # noqa: E402
from rnnxbench.engine.dask_backend import DaskBackend, missing_components  # noqa: E402
from rnnxbench.registry import EXPLAINERS  # noqa: E402
from rnnxbench.validate import InvalidParameterError  # noqa: E402

SMALL = {"architectures": ["shallow", "deep"], "explainers": ["sa", "lrp", "random"],
         "metrics": ["cosine", "randomization"], "progress": False}


@pytest.mark.slow
def test_a_dask_run_gives_the_local_runs_scores_and_cache(tmp_path):
    csvs, caches = {}, {}
    for backend in ("local", "dask"):
        dirs = {"cache_dir": tmp_path / f"cache-{backend}",
                "results_dir": tmp_path / f"results-{backend}"}
        result = rnnxbench.run_suite("digits", "smoke", workers=2, backend=backend,
                                     **dirs, **SMALL)
        csvs[backend] = (dirs["results_dir"] / "digits" / "scores.csv").read_text()
        caches[backend] = sorted(p.relative_to(dirs["cache_dir"]).as_posix()
                                 for p in dirs["cache_dir"].rglob("*.*"))
        if backend == "dask":
            info = result.info["backend"]
            assert info["name"] == "dask" and info["local_cluster"]
            assert info["n_workers"] == 2
    assert csvs["dask"] == csvs["local"]
    assert caches["dask"] == caches["local"] and any(".pt" in p for p in caches["dask"])
    assert sum(p.endswith(".npz") for p in caches["dask"]) == 2  # fold 0's explorations
    assert len(result.explorations) == 2 and result.info["explore"]["errors"] == {}
    # served from the cache the driver wrote: nothing is recomputed
    again = rnnxbench.run_suite("digits", "smoke", workers=2, backend="dask",
                                cache_dir=tmp_path / "cache-dask", results_dir=None, **SMALL)
    assert again.info["models"]["trained"] == 0 and again.info["scores"]["computed"] == 0
    assert again.scores.drop(columns="cached").equals(result.scores.drop(columns="cached"))


def test_bad_backend_options_fail_before_any_compute(tmp_path):
    dirs = {"cache_dir": tmp_path / "c", "results_dir": tmp_path / "r"}
    with pytest.raises(InvalidParameterError, match="backend.*'dask'"):
        rnnxbench.run_suite("digits", "smoke", backend="dusk", **dirs, **SMALL)
    with pytest.raises(InvalidParameterError, match="scheduler.*needs backend = 'dask'"):
        rnnxbench.run_suite("digits", "smoke", scheduler="tcp://127.0.0.1:1", **dirs, **SMALL)
    with pytest.raises(InvalidParameterError, match="job_timeout is not supported"):
        rnnxbench.run_suite("digits", "smoke", backend="dask", job_timeout=5, **dirs, **SMALL)
    assert not (tmp_path / "c").exists()


def test_shipped_cache_serves_shipped_models_and_records_writes(tmp_path):
    import torch

    state, meta = {"w": torch.ones(2)}, {"status": "ok", "accuracy": 1.0}
    shipped = ShippedCache({"m1": (state, meta)})
    assert open_cache(shipped) is shipped and isinstance(open_cache(str(tmp_path)), Cache)
    assert shipped.load_model("m1")[1] == meta and shipped.load_model("m2") is None
    assert shipped.load_score("m1", "e", "k") is None
    shipped.save_model("m2", {"w": torch.zeros(1)}, meta)
    shipped.save_score("m1", "e", "k", {"value": 0.5})
    assert shipped.has_model("m2")
    assert [w[0] for w in shipped.writes] == ["model", "score"]


def test_workers_lacking_a_component_are_named_before_any_job(monkeypatch):
    assert missing_components([("explainer", "sa"), ("explainer", "no_such_thing"),
                               ("metric", "cosine")]) == ["explainer 'no_such_thing'"]
    with EXPLAINERS.override("only_here", EXPLAINERS.get("sa")):
        # registered in this process only: spawned dask workers do not have it
        with DaskBackend(None, 1, shared=None) as backend:
            with pytest.raises(RuntimeError, match="explainer 'only_here'.*every worker"):
                backend.check_components([("explainer", "only_here")])
            backend.check_components([("explainer", "sa")])
