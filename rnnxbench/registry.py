"""One registry mechanism for every kind of component, with entry-point plugins.

Built-ins and plugins register the same way: a name mapped to a class (or factory).
Plugins are discovered through the entry-point groups ``rnnxbench.<kind>``
(``rnnxbench.tasks``, ``rnnxbench.architectures``, ``rnnxbench.explainers``,
``rnnxbench.metrics``, ``rnnxbench.sources``); an entry point names the object to register
under the entry point's name.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class UnknownNameError(ValueError):
    """An unknown component name; the message lists the valid choices, closest first."""

    def __init__(self, kind: str, name: str, choices: list[str]):
        self.kind, self.name = kind, name
        self.choices = ordered_by_similarity(name, choices)
        super().__init__(
            f"unknown {kind} {name!r}; valid choices (closest first): {', '.join(self.choices)}"
        )


class PluginLoadWarning(RuntimeWarning):
    """An entry-point plugin failed to import; the other components stay usable."""


def ordered_by_similarity(name: str, choices: list[str]) -> list[str]:
    """``choices`` with the closest matches to ``name`` first, then the rest in order."""
    close = difflib.get_close_matches(name, choices, n=len(choices), cutoff=0.0)
    return close + [c for c in choices if c not in close]


def describe(obj: Any) -> str:
    """One-line description: ``obj.description`` or the first docstring line."""
    text = getattr(obj, "description", None) or (getattr(obj, "__doc__", None) or "")
    text = text.strip()
    return text.splitlines()[0].strip() if text else ""


class Registry:
    """Names -> components of one kind, built-in and plugin alike."""

    def __init__(self, kind: str, builtins: str | None = None, group: str | None = None):
        self.kind = kind
        self.builtins = builtins
        self.group = group if group is not None else f"rnnxbench.{kind}"
        self._items: dict[str, Any] = {}
        self._origin: dict[str, str] = {}
        self.plugin_errors: dict[str, str] = {}
        self._plugins_loaded = False

    def register(self, name: str, obj: Any = None, *, origin: str = "built-in") -> Any:
        """Register ``obj`` under ``name``; without ``obj``, return a class decorator."""
        if obj is None:

            def decorator(target: Any) -> Any:
                self.register(name, target, origin=origin)
                return target

            return decorator
        if name in self._items and self._items[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered ({self._origin[name]})")
        self._items[name] = obj
        self._origin[name] = origin
        return obj

    @contextmanager
    def override(self, name: str, obj: Any, *, origin: str = "override") -> Iterator[Any]:
        """Register ``obj`` under ``name`` inside the block only (replacing any component of
        that name meanwhile); the previous state is restored on exit. For tests and
        notebooks: ``with EXPLAINERS.override("mine", MyExplainer): run(...)``."""
        self.load_plugins()
        before = (self._items.get(name), self._origin.get(name))
        self._items[name], self._origin[name] = obj, origin
        try:
            yield obj
        finally:
            if before[0] is None:
                self._items.pop(name, None)
                self._origin.pop(name, None)
            else:
                self._items[name], self._origin[name] = before

    def load_plugins(self) -> None:
        """Import the built-ins, then every entry point of this kind, once.

        A plugin that fails to import is recorded in ``plugin_errors`` and warned about;
        the other components stay usable.
        """
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        if self.builtins:
            importlib.import_module(self.builtins)
        for ep in importlib.metadata.entry_points(group=self.group):
            if ep.name in self._items:
                continue
            try:
                self.register(ep.name, ep.load(), origin=f"plugin {ep.value}")
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the rest
                message = (
                    f"{self.kind} plugin {ep.name!r} ({ep.value}) failed to load: "
                    f"{type(exc).__name__}: {exc}"
                )
                self.plugin_errors[ep.name] = message
                warnings.warn(message, PluginLoadWarning, stacklevel=2)

    def get(self, name: str) -> Any:
        """The component called ``name``, or :class:`UnknownNameError`."""
        if name not in self._items:
            self.load_plugins()
        if name not in self._items:
            if name in self.plugin_errors:
                raise UnknownNameError(self.kind, name, self.names()) from RuntimeError(
                    self.plugin_errors[name]
                )
            raise UnknownNameError(self.kind, name, self.names())
        return self._items[name]

    def names(self) -> list[str]:
        self.load_plugins()
        return sorted(self._items)

    def origin(self, name: str) -> str:
        self.get(name)
        return self._origin[name]

    def items(self) -> Iterator[tuple[str, Any]]:
        for name in self.names():
            yield name, self._items[name]

    def descriptions(self) -> dict[str, str]:
        return {name: describe(obj) for name, obj in self.items()}

    def __contains__(self, name: str) -> bool:
        return name in self.names()


TASKS = Registry("tasks", "rnnxbench.tasks")
SOURCES = Registry("sources", "rnnxbench.tasks")
ARCHITECTURES = Registry("architectures", "rnnxbench.models")
EXPLAINERS = Registry("explainers", "rnnxbench.explainers")
METRICS = Registry("metrics", "rnnxbench.metrics")

REGISTRIES: dict[str, Registry] = {
    r.kind: r for r in (TASKS, SOURCES, ARCHITECTURES, EXPLAINERS, METRICS)
}

register_task: Callable[[str], Callable[[Any], Any]] = TASKS.register
register_source = SOURCES.register
register_architecture = ARCHITECTURES.register
register_explainer = EXPLAINERS.register
register_metric = METRICS.register
