"""Shared set-up of the relevance tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rnnxbench.engine.jobs import single_thread


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """These tests run many small float64 ops: one intra-op thread is faster, and keeps
    OpenMP threads from spinning when the machine is busy."""
    with single_thread():
        yield
