"""Suites and profiles: plain TOML files -> frozen dataclasses, and the config hash.

A *suite* says what is compared (tasks, architectures, explainers, metrics); a *profile*
says how hard (epochs, learning rate, folds, data size, accuracy gates). Both ship as
package data (``rnnxbench/suites/*.toml``, ``rnnxbench/profiles/*.toml``); a user copies one,
edits it and passes the file path instead of a name. :func:`load_config` checks every key,
component, option, setting and selection against declared constraints
(:mod:`rnnxbench.validate`) before a run builds anything; the profile's own parsing is in
:mod:`rnnxbench.profile`.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from rnnxbench.profile import TRAINING_KEYS, Profile, parse_profile
from rnnxbench.registry import (
    ARCHITECTURES,
    EXPLAINERS,
    METRICS,
    TASKS,
    Registry,
    UnknownNameError,
)
from rnnxbench.validate import (
    ANY,
    InvalidParameterError,
    UnknownParameterError,
    signature_parameters,
    validate_options,
    validate_params,
)

__all__ = ["SUITE_CONSTRAINTS", "TRAINING_KEYS", "Component", "Profile", "RunConfig",
           "TaskEntry", "check_component", "load_config", "package_files", "parse_profile",
           "profile_names", "stable_hash", "suite_names"]


def package_files(folder: str) -> dict[str, Path]:
    """Packaged TOML files of ``folder`` (``suites`` or ``profiles``) by name."""
    root = Path(__file__).resolve().parent / folder
    return {p.stem: p for p in sorted(root.glob("*.toml"))}


def suite_names() -> list[str]:
    return sorted(package_files("suites"))


def profile_names() -> list[str]:
    return sorted(package_files("profiles"))


def _read(kind: str, name_or_path: str | Path) -> tuple[dict[str, Any], str]:
    """Parse a named package TOML of ``kind`` or a path to a user's file."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"{kind} file not found: {path}")
        source = str(path.resolve())
    else:
        files = package_files(f"{kind}s")
        if str(name_or_path) not in files:
            raise UnknownNameError(kind, str(name_or_path), sorted(files))
        path, source = files[str(name_or_path)], f"rnnxbench/{kind}s/{name_or_path}.toml"
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh), source
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{kind} file {path} is not valid TOML: {exc}") from exc


@dataclass(frozen=True)
class Component:
    """A registered component with options; ``id`` labels it in results."""

    id: str
    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, item: str | dict[str, Any], kind: str) -> Component:
        if isinstance(item, str):
            return cls(item, item)
        if not isinstance(item, dict) or "name" not in item:
            raise ValueError(f"a {kind} entry must be a name or a table with 'name': {item!r}")
        options = {k: v for k, v in item.items() if k not in ("name", "id")}
        return cls(str(item.get("id", item["name"])), str(item["name"]), options)


@dataclass(frozen=True)
class TaskEntry:
    """One task of a suite: a task construction over a data source, under an id."""

    id: str
    task: str
    source: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run's results (hashed into ``config_hash``)."""

    suite: str
    description: str
    tasks: tuple[TaskEntry, ...]
    architectures: tuple[Component, ...]
    explainers: tuple[Component, ...]
    metrics: tuple[Component, ...]
    profile: Profile
    baseline: str = ""
    seed: int = 0
    sources: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("sources")
        return data

    @property
    def config_hash(self) -> str:
        return stable_hash(self.to_dict())


def stable_hash(obj: Any, length: int = 12) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys), shortened."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


#: a suite file's top-level keys
SUITE_CONSTRAINTS: dict[str, list] = {
    "name": [str], "description": [str], "profile": [str], "baseline": [str],
    "architectures": [list], "explainers": [list], "metrics": [list], "tasks": [list],
}
#: the keys of a ``[[tasks]]`` table that are not task options
TASK_ENTRY_CONSTRAINTS: dict[str, list] = {"id": [str], "task": [str], "source": [str]}
#: kind -> (its registry, the positional arguments its classes are constructed with)
KINDS: dict[str, tuple[Registry, int]] = {
    "architecture": (ARCHITECTURES, 1), "explainer": (EXPLAINERS, 1), "metric": (METRICS, 0),
    "task": (TASKS, 0),
}


def toml_inline(value: Any) -> str:
    """``value`` written as TOML (inline tables), for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_inline(v) for v in value) + "]"
    return repr(value)


def component_class(kind: str, name: str, where: str) -> type:
    """The registered class of ``kind`` called ``name``; unknown: an error at ``where``."""
    try:
        return KINDS[kind][0].get(name)
    except UnknownNameError as exc:
        raise UnknownParameterError(kind, name, exc.choices, where=where) from None


def check_component(kind: str, comp: Component, where: str) -> None:
    """A registered name, and options valid for its class (an explainer's ``attribute``
    table: valid for its ``attribute()``)."""
    cls = component_class(kind, comp.name, where)
    options = dict(comp.options)
    if kind == "explainer" and "attribute" in options:
        extra = options.pop("attribute")
        if not isinstance(extra, dict):
            raise InvalidParameterError(f"{where}: attribute = {extra!r} must be a table of "
                                        f"options for attribute()", where=where,
                                        name="attribute", problem="type")
        signature = signature_parameters(getattr(cls, "attribute", None), skip=2)
        if signature is not None and not signature[1]:
            allowed = {n: [ANY] for n in signature[0] if n != "target"}
            validate_params(extra, allowed, where=f"{where} attribute", noun="attribute() option")
    validate_options(cls, options, where=where, positional=KINDS[kind][1])


def _parse_components(data: dict[str, Any], kind: str, source: str) -> tuple[Component, ...]:
    plural, seen, out = f"{kind}s", {}, []
    for i, item in enumerate(data.get(plural, [])):
        where = f"{source}: {plural}[{i}] {toml_inline(item)}"
        if not isinstance(item, str):
            if not isinstance(item, dict) or "name" not in item:
                raise InvalidParameterError(f"{where}: a {kind} entry must be a name or a "
                                            f"table with 'name'", where=where, problem="type")
            validate_params({k: item[k] for k in ("name", "id") if k in item},
                            {"name": [str], "id": [str]}, where=where, noun="key")
        comp = Component.parse(item, kind)
        if comp.id in seen:
            raise InvalidParameterError(
                f"{where}: {kind} id {comp.id!r} is used twice (also {plural}[{seen[comp.id]}]);"
                f" give one its own id = \"...\"", where=where, name=comp.id, problem="duplicate")
        seen[comp.id] = i
        check_component(kind, comp, where)
        out.append(comp)
    return tuple(out)


def _parse_tasks(data: dict[str, Any], source: str) -> tuple[TaskEntry, ...]:
    seen: dict[str, int] = {}
    out = []
    for i, item in enumerate(data.get("tasks", [])):
        where = f"{source}: tasks[{i}]"
        if not isinstance(item, dict) or "task" not in item or "source" not in item:
            raise InvalidParameterError(f"{where}: each [[tasks]] table needs 'task' and "
                                        f"'source', got {toml_inline(item)}", where=where)
        keys = {k: item[k] for k in TASK_ENTRY_CONSTRAINTS if k in item}
        validate_params(keys, TASK_ENTRY_CONSTRAINTS, where=where, noun="key")
        options = {k: v for k, v in item.items() if k not in TASK_ENTRY_CONSTRAINTS}
        entry = TaskEntry(str(item.get("id", f"{item['source']}-{item['task']}")),
                          item["task"], item["source"], options)
        where = f"{where} (id {entry.id!r})"
        if entry.id in seen:
            raise InvalidParameterError(f"{where}: task id {entry.id!r} is used twice (also "
                                        f"tasks[{seen[entry.id]}])", where=where,
                                        name=entry.id, problem="duplicate")
        seen[entry.id] = i
        cls = component_class("task", entry.task, where)
        choices = getattr(cls, "source_choices", None)
        choices = choices() if callable(choices) else None
        if choices is not None and entry.source not in choices:
            raise UnknownParameterError("source", entry.source,
                                        list(choices), where=where)
        validate_options(cls, options, where=where)
        out.append(entry)
    return tuple(out)


def _select(items: tuple, wanted: Sequence[str] | None, kind: str, source: str) -> tuple:
    """The components (or tasks) named in ``wanted``, in its order; names that all start
    with ``+`` add registered components to ``items`` (one already there is kept once)."""
    plural = f"{kind}s"
    where, ids = f"--{plural}", [c.id for c in items]
    registry = [] if kind == "task" else KINDS[kind][0].names()
    valid = list(dict.fromkeys(ids + registry))
    if wanted is not None and (isinstance(wanted, str) or not all(
            isinstance(n, str) for n in wanted)):
        raise InvalidParameterError(f"{where}: {plural}= must be a list of names, got "
                                    f"{wanted!r}", where=where, problem="type")
    if wanted is None:
        if not items:
            raise InvalidParameterError(f"{source}: the suite has no {plural}; valid choices: "
                                        f"{', '.join(valid)}", where=source, choices=valid)
        return items
    if not wanted:
        raise InvalidParameterError(f"{where}: empty selection: it names no {kind}; valid "
                                    f"choices: {', '.join(valid)}", where=where, choices=valid)
    plus = [n for n in wanted if n.startswith("+")]
    if plus and len(plus) < len(wanted):
        plain = [n for n in wanted if not n.startswith("+")]
        bare = [n.lstrip("+") for n in wanted]
        raise InvalidParameterError(
            f"{where}: mixes added names ({', '.join(plus)}) and plain names "
            f"({', '.join(plain)}): either list every {kind} to run ({','.join(bare)}) or "
            f"only add to the suite's list (+{',+'.join(bare)})", where=where)
    names = [n[1:] for n in plus] if plus else list(wanted)
    if plus and kind == "task":
        raise InvalidParameterError(f"{where}: '+' adds registered components; tasks are "
                                    f"chosen from the suite's [[tasks]]: {', '.join(ids)}",
                                    where=where, choices=ids)
    for i, name in enumerate(names):
        if not name:
            raise InvalidParameterError(f"{where}: an empty name in {list(wanted)}", where=where)
        if name in names[:i]:
            raise InvalidParameterError(f"{where}: {kind} {name!r} is selected twice",
                                        where=where, name=name, problem="duplicate")
    by_id = {c.id: c for c in items}
    chosen = list(items) if plus else []
    for name in names:
        if name in by_id:
            if not plus:
                chosen.append(by_id[name])
        elif name in registry:
            comp = Component(name, name)
            check_component(kind, comp, f"{where} {'+' if plus else ''}{name}")
            chosen.append(comp)
        else:
            raise UnknownParameterError(kind, name, registry if plus else valid, where=where)
    if kind == "task":  # the suite's order
        return tuple(t for t in items if t.id in names)
    return tuple(chosen)


def load_config(suite: str | Path = "maj", profile: str | Path | None = None, *,
                config: str | Path | None = None, tasks: list[str] | None = None,
                architectures: list[str] | None = None, explainers: list[str] | None = None,
                metrics: list[str] | None = None, seed: int = 0,
                profile_overrides: dict[str, Any] | None = None) -> RunConfig:
    """Resolve and validate a suite (name or file), a profile (name or file) and selections.

    Every suite key, component and its options, task entry, profile setting and selection
    is checked here (before anything is built); a selection of names that all start with
    ``+`` (``explainers=["+gxi"]``) adds to the suite's list. Errors are ValueErrors that
    name the file (or ``--<kind>s``), the entry, the problem and the valid choices."""
    data, suite_source = _read("suite", config if config is not None else suite)
    validate_params(data, SUITE_CONSTRAINTS, where=suite_source, noun="suite key")
    name = data.get("name", Path(str(suite)).stem)
    parsed = {kind: _parse_components(data, kind, suite_source)
              for kind in ("architecture", "explainer", "metric")}
    all_tasks = _parse_tasks(data, suite_source)
    arch_ids = [c.id for c in parsed["architecture"]]
    if "baseline" in data and data["baseline"] not in arch_ids:
        raise UnknownParameterError("baseline architecture", data["baseline"], arch_ids,
                                    where=suite_source)
    profile = profile or data.get("profile", "quick")
    prof_data, prof_source = _read("profile", profile)
    prof = parse_profile({**prof_data, **(profile_overrides or {})},
                         str(prof_data.pop("name", Path(str(profile)).stem)),
                         source=prof_source + (" (with profile_overrides)" if profile_overrides
                                               else ""))
    cfg = RunConfig(
        suite=name,
        description=data.get("description", ""),
        tasks=_select(all_tasks, tasks, "task", suite_source),
        architectures=_select(parsed["architecture"], architectures, "architecture",
                              suite_source),
        explainers=_select(parsed["explainer"], explainers, "explainer", suite_source),
        metrics=_select(parsed["metric"], metrics, "metric", suite_source),
        profile=prof,
        baseline=data.get("baseline", ""),
        seed=seed,
        sources={"suite": suite_source, "profile": prof_source},
    )
    if not cfg.baseline and cfg.architectures:
        cfg = replace(cfg, baseline=cfg.architectures[0].id)
    _check_scopes(prof, prof_source, set(arch_ids) | {c.id for c in cfg.architectures},
                  {t.id for t in all_tasks})
    # A profile serves several suites: only the settings of what this run trains and scores
    # define its results (and its config hash).
    archs = {c.id for c in cfg.architectures} | {c.name for c in cfg.architectures}
    task_ids = {t.id for t in cfg.tasks}
    tasks = task_ids | {t.task for t in cfg.tasks}
    training = {}
    for scope, table in prof.training.items():
        if scope in archs:
            training[scope] = table
        elif scope in tasks:
            training[scope] = {k: v for k, v in table.items() if k in TRAINING_KEYS or k in archs}
    return replace(cfg, profile=replace(
        prof, training=training,
        gates={k: v for k, v in prof.gates.items() if k in task_ids or k == "default"}))


def _check_scopes(prof: Profile, where: str, arch_ids: set[str], task_ids: set[str]) -> None:
    """A ``[training.<scope>]`` must name an architecture or a task and a ``[gates.<id>]``
    a task id (a typo names the closest valid ones); names and ids of any packaged suite
    are accepted, since one profile serves every suite."""
    archs = set(ARCHITECTURES.names()) | arch_ids
    task_ids = task_ids | _packaged_task_ids()
    tasks = set(TASKS.names()) | task_ids
    for scope, table in prof.training.items():
        if scope not in archs | tasks:
            raise UnknownParameterError("architecture or task in [training]", scope,
                                        sorted(archs | tasks), where=where)
        nested = [k for k in table if k not in TRAINING_KEYS]
        if nested and scope not in tasks:
            raise InvalidParameterError(
                f"{where} [training.{scope}]: nests tables {nested}, but only a task's "
                f"table may (e.g. [training.arith.lstm])", where=where)
        for arch in nested:
            if arch not in archs:
                raise UnknownParameterError(f"architecture in [training.{scope}]", arch,
                                            sorted(archs), where=where)
    for key in prof.gates:
        if key != "default" and key not in task_ids:
            raise UnknownParameterError("[gates] task id", key,
                                        ["default", *sorted(task_ids)], where=where)


def _packaged_task_ids() -> set[str]:
    ids = set()
    for path in package_files("suites").values():
        with open(path, "rb") as fh:
            ids |= {str(t["id"]) for t in tomllib.load(fh).get("tasks", []) if "id" in t}
    return ids
