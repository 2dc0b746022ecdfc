"""The on-disk cache: round trips, unreadable entries set aside, shareable permissions."""

import os
import stat

import pytest
import torch

from rnnxbench.engine.cache import Cache, CorruptCacheEntry

META = {"status": "ok", "accuracy": 0.5}


def test_cache_roundtrip(tmp_path):
    cache = Cache(tmp_path)
    key = Cache.key({"a": 1})
    assert key == Cache.key({"a": 1}) != Cache.key({"a": 2})
    assert not cache.has_model(key) and cache.load_model(key) is None
    cache.save_model(key, {"w": torch.ones(2)}, META)
    state, meta = cache.load_model(key)
    assert cache.has_model(key) and meta["accuracy"] == 0.5 and state["w"].sum() == 2
    assert cache.load_score(key, "e", "m") is None
    cache.save_score(key, "e", "m", {"value": 0.25})
    assert cache.load_score(key, "e", "m") == {"value": 0.25}


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
@pytest.mark.parametrize("which", ["weights", "metadata"])
def test_an_unreadable_model_is_reported_set_aside_and_missing(tmp_path, damage, which):
    cache = Cache(tmp_path)
    cache.save_model("k", {"w": torch.ones(100)}, META)
    path = cache.model_path("k") if which == "weights" else cache.model_meta_path("k")
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"\x00\xffnot a file",
                      "empty": b""}[damage])
    with pytest.warns(CorruptCacheEntry, match=str(path)):
        assert cache.load_model("k") is None
    assert not path.exists() and path.with_name(path.name + ".corrupt").exists()
    assert not cache.has_model("k")  # so the run trains it again
    cache.save_model("k", {"w": torch.zeros(1)}, META)
    assert cache.load_model("k")[0]["w"].tolist() == [0.0]


def test_metadata_of_a_failed_model_is_not_a_model(tmp_path):
    cache = Cache(tmp_path)
    cache.save_model("k", {"w": torch.ones(1)}, {"status": "failed"})
    with pytest.warns(CorruptCacheEntry):
        assert cache.load_model("k") is None


@pytest.mark.parametrize("content", [b"{\"value\": 0.2", b"\xff\xfe", b"[1, 2]"])
def test_an_unreadable_score_is_reported_set_aside_and_missing(tmp_path, content):
    cache = Cache(tmp_path)
    cache.save_score("k", "e", "m", {"value": 0.25})
    path = cache.score_path("k", "e", "m")
    path.write_bytes(content)
    with pytest.warns(CorruptCacheEntry, match="recomputing"):
        assert cache.load_score("k", "e", "m") is None
    assert not path.exists() and path.with_name(path.name + ".corrupt").exists()


def test_cache_files_are_group_readable(tmp_path):
    before = os.umask(0o022)
    try:
        cache = Cache(tmp_path)
        cache.save_model("k", {"w": torch.ones(1)}, META)
        cache.save_score("k", "e", "m", {"value": 1.0})
    finally:
        os.umask(before)
    for path in (cache.model_path("k"), cache.model_meta_path("k"),
                 cache.score_path("k", "e", "m")):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o644, (path, oct(mode))
