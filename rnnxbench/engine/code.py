"""Source-code versions: the hash of a module's source, part of every cache key and figure
digest, so changed code is never served from a cache and unchanged code always is."""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import sys
from typing import Any


@functools.cache
def module_source_hash(module_name: str) -> str:
    """sha256 (12 hex digits) of a module's source; its ``__version__`` without source."""
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    try:
        return hashlib.sha256(inspect.getsource(module).encode()).hexdigest()[:12]
    except (OSError, TypeError):  # no source (e.g. compiled): fall back to the version
        return str(getattr(module, "__version__", ""))


def code_version(*objects: Any) -> list[str]:
    """Hashes of the source modules that define ``objects`` (classes or module names); a
    class depends on the rnnxbench modules of its whole inheritance chain."""
    names: list[str] = []
    for o in objects:
        names += [o] if isinstance(o, str) else [c.__module__ for c in o.__mro__
                                                  if c.__module__.startswith("rnnxbench")
                                                  or c is o]
    return [module_source_hash(n) for n in sorted(set(names))]
