"""Scratch memory for the relevance loops, reused from one call to the next.

The denominators a step form computes for all steps at once are large (batch x steps x
units) and live for one backward pass. Fresh memory of that size costs page faults on
every call (glibc hands large freed blocks back to the system; on a virtual machine that
is ~3 us per 4 KB page, more than the arithmetic), so the forms take it from a pool:
inside :func:`scope`, :func:`empty` gives a buffer that returns to the pool when the scope
ends. A scratch buffer must not outlive its scope (nothing returned or saved aliases it).
Outside a scope, and for memory other than the CPU's (CUDA has torch's caching allocator),
:func:`empty` is ``torch.empty``. The pool is per thread and keeps at most
:data:`LIMIT_BYTES`; :func:`release` empties it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

Tensor = torch.Tensor

#: the most memory the pool keeps between calls (per thread)
LIMIT_BYTES = 1 << 30

_local = threading.local()


def _state() -> threading.local:
    if not hasattr(_local, "free"):
        _local.free, _local.scopes = {}, []
    return _local


@contextmanager
def scope() -> Iterator[None]:
    """Buffers taken by :func:`empty` inside return to the pool on exit."""
    state = _state()
    state.scopes.append([])
    try:
        yield
    finally:
        taken = state.scopes.pop()
        kept = pooled_bytes()
        for key, buf in taken:
            if kept + buf.nbytes <= LIMIT_BYTES:
                state.free.setdefault(key, []).append(buf)
                kept += buf.nbytes


def scoped(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` run inside a :func:`scope` (for a backward pass that builds step forms)."""
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with scope():
            return fn(*args, **kwargs)
    return run


def empty(shape: Sequence[int], like: Tensor) -> Tensor:
    """An uninitialised buffer of ``shape`` with ``like``'s dtype and device: from the
    pool inside a :func:`scope`, else new."""
    state = _state()
    if not state.scopes or like.device.type != "cpu":
        return torch.empty(tuple(shape), dtype=like.dtype, device=like.device)
    key = (tuple(shape), like.dtype, like.device)
    free = state.free.get(key)
    buf = free.pop() if free else torch.empty(key[0], dtype=like.dtype, device=like.device)
    state.scopes[-1].append((key, buf))
    return buf


def pooled_bytes() -> int:
    """How much memory this thread's pool keeps between calls."""
    return sum(t.nbytes for ts in _state().free.values() for t in ts)


def release() -> None:
    """Free the pooled buffers of this thread."""
    _state().free.clear()
