"""Stacked training in a run (profile ``stack`` / ``--stack``): each model is cached under its
own hash (apart from one-by-one models), is close to its one-by-one twin, and the same command
gives the same scores.csv whatever --workers."""

import pytest
import torch

import rnnxbench
from rnnxbench.config import load_config
from rnnxbench.engine.cache import Cache
from rnnxbench.harness.plan import plan_models
from rnnxbench.registry import TASKS
from rnnxbench.tasks.base import build_task

pytestmark = pytest.mark.slow

SMALL = {"explainers": ["sa", "lrp"], "metrics": ["cosine"], "progress": False}


def run(tmp_path, name, **kwargs):
    dirs = {"cache_dir": tmp_path / f"cache-{name}", "results_dir": tmp_path / f"res-{name}"}
    result = rnnxbench.run_suite("digits", "smoke", **dirs, **SMALL, **kwargs)
    return result, dirs


def test_stacked_models_have_their_own_hashes_and_match_one_by_one(tmp_path):
    cfg = load_config("digits", "smoke")
    entry = cfg.tasks[0]
    data = {entry.id: build_task(TASKS.get(entry.task)(**entry.options), entry.source, None,
                                 cfg.profile.max_images, cfg.seed, cfg.profile.n_folds,
                                 cfg.profile.cv_seed)}
    alone = plan_models(cfg, data, ["cpu"])
    stacked = plan_models(load_config("digits", "smoke", profile_overrides={"stack": 2}),
                          data, ["cpu"])
    assert [j.stack_group for j in alone] == [None] * len(alone)
    assert len({j.stack_group for j in stacked}) == len(cfg.architectures)  # 2 folds each
    assert not {j.model_hash for j in alone} & {j.model_hash for j in stacked}

    one, one_dirs = run(tmp_path, "one", workers=1)
    two, two_dirs = run(tmp_path, "stack", workers=1, stack=2)
    a, b = Cache(one_dirs["cache_dir"]), Cache(two_dirs["cache_dir"])
    for ja, jb in zip(alone, stacked, strict=True):
        (sa, ma), (sb, mb) = a.load_model(ja.model_hash), b.load_model(jb.model_hash)
        assert mb["stacked"] == 2 and "stacked" not in ma
        for k in sa:  # float32: the batched kernels round differently (engine/stacked.py)
            torch.testing.assert_close(sb[k], sa[k], rtol=1e-4, atol=1e-4)
        assert abs(ma["accuracy"] - mb["accuracy"]) <= 0.02
    assert one.info["models"]["trained"] == two.info["models"]["trained"] == len(alone)


def test_a_stacked_run_gives_the_same_scores_whatever_the_workers(tmp_path):
    csvs = []
    for workers in (1, 2):
        _, dirs = run(tmp_path, f"w{workers}", workers=workers, stack=2)
        csvs.append((dirs["results_dir"] / "digits" / "scores.csv").read_text())
    assert csvs[0] == csvs[1]
    again, _ = run(tmp_path, "w1", workers=2, stack=2)
    assert again.info["models"]["trained"] == 0
