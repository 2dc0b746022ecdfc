"""The job runner: every job in a child process; a job that dies, hangs or raises fails
alone, and the results keep the order of the jobs whatever the number of workers."""

import faulthandler
import operator
import os
import signal
import time

import numpy as np
import pytest
import torch

from rnnxbench.engine.jobs import JobFailure, n_workers, run_jobs


def test_run_jobs_keeps_order_and_uses_one_thread():
    squares = run_jobs(operator.mul, [(i, i) for i in range(5)], workers=2, desc="t",
                       progress=False)
    assert squares == [0, 1, 4, 9, 16]
    for workers in (1, 2):
        threads = run_jobs(torch.get_num_threads, [()] * 3, workers=workers, desc="t",
                           progress=False)
        assert threads == [1, 1, 1]
    assert n_workers(0, 3) >= 1 and n_workers(8, 3) == 3


def stamped(i):
    """``(i * 10, when it ran)``."""
    return i * 10, time.monotonic_ns()


def test_run_jobs_dispatches_expensive_jobs_first():
    out = run_jobs(stamped, [(i,) for i in range(4)], workers=1, desc="t", progress=False,
                   costs=[1.0, 5.0, 0.5, 3.0])
    assert [v for v, _ in out] == [0, 10, 20, 30]
    assert sorted(range(4), key=lambda i: out[i][1]) == [1, 3, 0, 2]
    assert run_jobs(operator.mul, [(i, 2) for i in range(4)], workers=2, desc="t",
                    progress=False, costs=[4, 3, 2, 1]) == [0, 2, 4, 6]


def misbehaving(how):
    """A job that returns, raises, exits, segfaults or hangs."""
    if how == "exit":
        os._exit(3)
    if how == "segfault":
        faulthandler.disable()  # pytest's handler would print the stack of the crash
        os.kill(os.getpid(), signal.SIGSEGV)
    if how == "hang":
        time.sleep(60)
    if how == "raise":
        raise RuntimeError("plugin bug")
    return how


@pytest.mark.parametrize("workers", [1, 2])
def test_a_job_that_dies_hangs_or_raises_fails_alone(workers):
    hows = ["ok", "exit", "ok", "segfault", "raise", "hang", "ok"]
    start = time.monotonic()
    out = run_jobs(misbehaving, [(h,) for h in hows], workers=workers, desc="t",
                   progress=False, timeout=2.0)
    assert time.monotonic() - start < 30  # the hung job did not hold the run
    assert [out[i] for i in (0, 2, 6)] == ["ok"] * 3
    assert all(isinstance(out[i], JobFailure) for i in (1, 3, 4, 5))
    assert "died (exit code 3)" in out[1].reason
    assert f"killed by signal {int(signal.SIGSEGV)}" in out[3].reason
    assert out[4].reason == "RuntimeError: plugin bug"
    assert "timed out after 2 s" in out[5].reason


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_shared_data_reaches_every_job(method):
    # spawned workers import job functions by name: use an importable one
    shared = {f"task{i}": np.full((3, 2), float(i)) for i in range(6)}
    out = run_jobs(operator.getitem, [(k,) for k in shared], workers=2, desc="t",
                   progress=False, shared=shared, method=method)
    assert all((a == b).all() for a, b in zip(out, shared.values(), strict=True))


def doubled_ones() -> torch.Tensor:
    """A large tensor: returning it copies its storage with torch's parallel kernels."""
    return torch.ones(2_000_000) * 2


def test_a_forked_worker_survives_a_parent_that_used_threads():
    """GNU OpenMP's thread team does not survive fork: a child that enters a parallel
    region its multi-threaded parent had opened waits forever. Workers stay on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        a = torch.rand(600, 600)
        (a @ a).sum()  # the parent opens its thread team
        torch.ones(2_000_000).clone()
        out = run_jobs(doubled_ones, [()], workers=1, desc="t", progress=False, timeout=60,
                       method="fork")
    finally:
        torch.set_num_threads(before)
    assert not isinstance(out[0], JobFailure), out[0]
    assert float(out[0].sum()) == 4_000_000


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_device_pinned_pools_keep_each_worker_on_one_device(method):
    """One pool per device: every job runs in a worker of its own device's pool, and a
    worker never serves two devices (CUDA workers also call set_device once; on the CPU
    the routing is what is checked)."""
    devices = ["dev-a", "dev-b"] * 4
    pids = run_jobs(os.getpid, [()] * len(devices), workers=1, desc="t", progress=False,
                    devices=devices, workers_per_device=2, method=method)
    by_device: dict[str, set[int]] = {}
    for pid, device in zip(pids, devices, strict=True):
        by_device.setdefault(device, set()).add(pid)
    assert not by_device["dev-a"] & by_device["dev-b"]
    assert all(1 <= len(p) <= 2 for p in by_device.values())
