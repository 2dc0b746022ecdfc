import importlib.metadata
import types

import pytest

from rnnxbench.registry import Registry, UnknownNameError, describe, ordered_by_similarity


def test_register_get_and_describe():
    reg = Registry("things", builtins=None)

    @reg.register("alpha")
    class Alpha:
        """First thing.

        More text."""

    reg.register("beta", lambda: None)
    assert reg.get("alpha") is Alpha
    assert reg.names() == ["alpha", "beta"]
    assert reg.descriptions()["alpha"] == "First thing."
    with pytest.raises(ValueError, match="already registered"):
        reg.register("alpha", object())


def test_unknown_name_lists_closest_first():
    reg = Registry("explainers", builtins=None)
    for name in ("sa", "gb", "lrp", "lrp_eps", "dtd"):
        reg.register(name, object())
    with pytest.raises(UnknownNameError) as info:
        reg.get("lrp_esp")
    assert info.value.choices[0] == "lrp_eps"
    assert set(info.value.choices) == {"sa", "gb", "lrp", "lrp_eps", "dtd"}
    assert "unknown explainers 'lrp_esp'" in str(info.value)
    assert ordered_by_similarity("dtdd", ["sa", "dtd"])[0] == "dtd"


def _fake_entry_points(monkeypatch, eps):
    def entry_points(group=None):
        return [ep for ep in eps if ep.group == group]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_plugins_load_and_broken_plugin_is_recorded(monkeypatch):
    module = types.ModuleType("fake_plugin_mod")

    class Good:
        """A good plugin."""

    module.Good = Good
    monkeypatch.setitem(__import__("sys").modules, "fake_plugin_mod", module)
    eps = [
        importlib.metadata.EntryPoint("good", "fake_plugin_mod:Good", "rnnxbench.widgets"),
        importlib.metadata.EntryPoint("bad", "no_such_module_xyz:Thing", "rnnxbench.widgets"),
    ]
    _fake_entry_points(monkeypatch, eps)
    reg = Registry("widgets", builtins=None)
    with pytest.warns(RuntimeWarning, match="'bad'.*failed to load"):
        names = reg.names()
    assert names == ["good"]
    assert reg.get("good") is Good
    assert "no_such_module_xyz" in reg.plugin_errors["bad"]
    assert reg.origin("good").startswith("plugin")
    with pytest.raises(UnknownNameError):
        reg.get("bad")


def test_builtin_registries_have_the_issue_components():
    from rnnxbench.registry import ARCHITECTURES, EXPLAINERS, METRICS, SOURCES, TASKS

    assert {"shallow", "deep"} <= set(ARCHITECTURES.names())
    assert {"sa", "gb"} <= set(EXPLAINERS.names())
    assert {"cosine", "relevance_mass"} <= set(METRICS.names())
    assert "maj" in TASKS.names()
    assert {"mnist", "fashion-mnist", "digits"} <= set(SOURCES.names())
    for reg in (ARCHITECTURES, EXPLAINERS, METRICS, TASKS, SOURCES):
        assert all(describe(obj) for _, obj in reg.items()), reg.kind
