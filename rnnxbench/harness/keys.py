"""Cache keys: what defines a trained model, a relevance computation and a metric.

A key hashes everything its result depends on, including the source code of the modules
that compute it (:func:`code_version`), so changed code is never served from a stale cache
and unchanged code always is.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import Any

from rnnxbench.config import Component, RunConfig, stable_hash
from rnnxbench.engine.code import code_version
from rnnxbench.registry import EXPLAINERS, METRICS

#: bump when a change to training or scoring code invalidates cached results
CACHE_VERSION = 2

#: the code a trained model depends on besides its architecture's own modules
TRAINING_CODE = ("rnnxbench.engine.train", "rnnxbench.engine.device", "rnnxbench.models.loss",
                 "rnnxbench.models.layers", "rnnxbench.models.base")


@functools.cache
def relevance_code() -> tuple[str, ...]:
    """Every module of ``rnnxbench.relevance``: the code each relevance explainer uses."""
    package = importlib.import_module("rnnxbench.relevance")
    return ("rnnxbench.relevance", *sorted(
        f"rnnxbench.relevance.{m.name}" for m in pkgutil.iter_modules(package.__path__)))


def seed_of(*parts: Any) -> int:
    """A seed in [0, 2**31 - 1) derived from ``parts`` (stable across runs and machines)."""
    return int(stable_hash(list(parts), length=8), 16) % (2**31 - 1)


def init_options(comp: Component) -> dict[str, Any]:
    """An explainer component's constructor options (``attribute`` goes to ``attribute()``)."""
    return {k: v for k, v in comp.options.items() if k != "attribute"}


def explainer_key(comp: Component, cfg: RunConfig, samples: str) -> str:
    """Key of one explainer's relevance on the explained sequences (``samples``: their key,
    :func:`rnnxbench.harness.explained.explained_key`)."""
    cls = EXPLAINERS.get(comp.name)
    deps = getattr(cls, "code_dependencies", None)  # e.g. tsr's base explainer
    others = deps(init_options(comp)) if callable(deps) else ()
    return stable_hash([comp.name, comp.options, f"{cls.__module__}.{cls.__qualname__}",
                        samples, CACHE_VERSION, code_version(cls, *others, *relevance_code())])


def metric_key(comp: Component) -> str:
    """Key of one metric (its options and code)."""
    cls = METRICS.get(comp.name)
    return stable_hash([comp.name, comp.options, f"{cls.__module__}.{cls.__qualname__}",
                        CACHE_VERSION, code_version(cls, "rnnxbench.metrics.aggregate")])
