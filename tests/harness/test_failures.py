"""Nothing computed is lost: a dying or hanging job fails alone, a corrupt cache entry is
recomputed, and the run goes on and writes everything."""

import os
import time

import pandas as pd
import pytest
import torch

import rnnxbench
from rnnxbench.engine.cache import Cache, CorruptCacheEntry
from rnnxbench.explainers.base import Explainer
from rnnxbench.registry import EXPLAINERS

pytestmark = pytest.mark.slow


class Exits(Explainer):
    """Kills its own process, as a crashing native extension would."""

    def attribute(self, inputs, target):
        os._exit(1)


class Hangs(Explainer):
    """Never returns."""

    def attribute(self, inputs, target):
        time.sleep(600)
        return inputs


def run_digits(run_dirs, **kwargs):
    kwargs.setdefault("progress", False)
    return rnnxbench.run_suite("digits", "smoke", metrics=["cosine"], **run_dirs, **kwargs)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_dying_explainer_fails_its_rows_only(run_dirs, workers):
    with EXPLAINERS.override("exits", Exits):
        result = run_digits(run_dirs, explainers=["sa", "exits"], workers=workers)
    scores = result.scores
    died = scores[scores["explainer"] == "exits"]
    assert len(died) == 4 and (died["status"] == "failed").all()
    assert died["error"].str.contains("worker process died").all()
    assert (scores.loc[scores["explainer"] == "sa", "status"] == "ok").all()
    on_disk = pd.read_csv(run_dirs["results_dir"] / "digits" / "scores.csv")
    assert len(on_disk) == 8 and set(on_disk["status"]) == {"ok", "failed"}


def test_a_hanging_explainer_times_out_and_the_run_goes_on(run_dirs):
    start = time.monotonic()
    with EXPLAINERS.override("hangs", Hangs):
        result = run_digits(run_dirs, explainers=["hangs", "sa"], architectures=["shallow"],
                            job_timeout=8, workers=2)
    assert time.monotonic() - start < 300
    scores = result.scores
    hung = scores[scores["explainer"] == "hangs"]
    assert (hung["status"] == "failed").all()
    assert hung["error"].str.contains("timed out after 8 s").all()
    assert (scores.loc[scores["explainer"] == "sa", "status"] == "ok").all()


def test_corrupt_cache_entries_are_recomputed(run_dirs):
    first = run_digits(run_dirs, explainers=["sa"])
    cache = Cache(run_dirs["cache_dir"])
    hashes = list(dict.fromkeys(first.scores["model_hash"]))
    weights = cache.model_path(hashes[0])
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    cache.model_meta_path(hashes[1]).write_text("{garbage")
    # a score entry (not the explained-sequence record beside it; names sort by hash)
    scores = sorted(p for p in (run_dirs["cache_dir"] / "scores" / hashes[2]).glob("*.json")
                    if not p.name.startswith("explained--"))
    scores[0].write_text("")
    with pytest.warns(CorruptCacheEntry) as caught:
        again = run_digits(run_dirs, explainers=["sa"])
    named = " ".join(str(w.message) for w in caught)
    assert str(weights) in named and hashes[1] in named
    assert again.info["models"] == {"trained": 2, "from_cache": 2}
    # retrained models are the same models (same hash, same weights: see below), so their
    # cached scores stand; only the damaged score is computed again
    assert again.info["scores"]["computed"] == 1
    pd.testing.assert_frame_equal(again.scores[["value"]], first.scores[["value"]])
    assert weights.with_name(weights.name + ".corrupt").exists()


def test_weights_are_restored_identically_after_retraining(run_dirs):
    first = run_digits(run_dirs, explainers=["sa"], architectures=["shallow"])
    cache = Cache(run_dirs["cache_dir"])
    key = first.scores["model_hash"].iloc[0]
    state = cache.load_model(key)[0]
    cache.model_path(key).write_bytes(b"garbage")
    with pytest.warns(CorruptCacheEntry):
        run_digits(run_dirs, explainers=["sa"], architectures=["shallow"])
    again = cache.load_model(key)[0]
    assert all(torch.equal(state[k], again[k]) for k in state)
