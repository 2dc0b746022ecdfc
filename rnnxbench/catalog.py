"""What fits together: which architectures take a task's input, and their sizes."""

from __future__ import annotations

from dataclasses import dataclass

from rnnxbench.config import load_config, suite_names
from rnnxbench.registry import ARCHITECTURES, TASKS, UnknownNameError, describe
from rnnxbench.tasks.base import InputSpec, build_task


@dataclass(frozen=True)
class ArchitectureFit:
    """One architecture against one task input: its size, or why it does not fit."""

    name: str
    description: str
    n_parameters: int | None
    reason: str | None


def task_spec(task: str, source: str | None = None, data_dir: str | None = None) -> InputSpec:
    """The input spec of a task: a registered task name (with ``source``, default mnist) or
    a task id of a packaged suite (e.g. ``digits-maj``). Builds a tiny sample of the data."""
    if task in TASKS.names():
        entry_task, entry_source, options = task, source or "mnist", {}
    else:
        entries = {t.id: t for s in suite_names() for t in load_config(s).tasks}
        if task not in entries:
            raise UnknownNameError("task", task, TASKS.names() + sorted(entries))
        e = entries[task]
        entry_task, entry_source, options = e.task, source or e.source, e.options
    # a tiny sample in two folds (a task that builds each fold's data needs some)
    data = build_task(TASKS.get(entry_task)(**options), entry_source, data_dir, max_images=20,
                      n_folds=2)
    return data.spec


def architectures_for(spec: InputSpec) -> list[ArchitectureFit]:
    """Every registered architecture with its parameter count on ``spec`` inputs."""
    fits = []
    for name, cls in ARCHITECTURES.items():
        check = getattr(cls, "check_input", None)
        reason = check(spec) if callable(check) else None
        n_params = None
        if reason is None:
            try:
                model = cls(spec)
                n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                reason = f"{type(exc).__name__}: {exc}"
        fits.append(ArchitectureFit(name, describe(cls), n_params, reason))
    return fits
