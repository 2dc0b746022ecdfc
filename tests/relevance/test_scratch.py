"""The scratch pool of the relevance loops (rnnxbench.relevance.scratch) reuses memory
between calls without letting it leak into results, and the in-place and ``out=``
stabilisers give the bits of ``stabilize``."""

from __future__ import annotations

import threading

import pytest
import torch

import rnnxbench
from rnnxbench.registry import ARCHITECTURES
from rnnxbench.relevance import scratch
from rnnxbench.relevance.ops import stabilize, stabilize_
from rnnxbench.tasks.base import InputSpec

SPEC = InputSpec(n_steps=5, step_dim=6, step_shape=(6,), n_classes=3)
SPECIAL = [-2.0, -0.0, 0.0, 1e-30, -1e-30, 3.0, float("inf"), float("-inf")]


@pytest.fixture(autouse=True)
def _empty_pool():
    scratch.release()
    yield
    scratch.release()


def test_buffers_return_to_the_pool_when_their_scope_ends():
    like = torch.zeros(1)
    with scratch.scope():
        a = scratch.empty((3, 4), like)
        b = scratch.empty((3, 4), like)
        assert a.data_ptr() != b.data_ptr()  # two live buffers never share memory
    with scratch.scope():
        again = {scratch.empty((3, 4), like).data_ptr() for _ in range(2)}
        other_shape = scratch.empty((4, 3), like)
    assert again == {a.data_ptr(), b.data_ptr()}
    assert other_shape.data_ptr() not in again


def test_nested_scopes_do_not_hand_out_a_buffer_in_use():
    like = torch.zeros(1)
    with scratch.scope():
        outer = scratch.empty((5,), like)
        with scratch.scope():
            inner = scratch.empty((5,), like)
            assert inner.data_ptr() != outer.data_ptr()
        with scratch.scope():  # the inner one is free again, the outer one is not
            assert scratch.empty((5,), like).data_ptr() == inner.data_ptr()
            assert scratch.empty((5,), like).data_ptr() != outer.data_ptr()


def test_outside_a_scope_buffers_are_new_and_never_pooled():
    like = torch.zeros(1, dtype=torch.float64)
    a = scratch.empty((2, 2), like)
    assert a.dtype == torch.float64
    with scratch.scope():
        assert scratch.empty((2, 2), like).data_ptr() != a.data_ptr()


def test_the_pool_keeps_no_more_than_its_limit(monkeypatch):
    monkeypatch.setattr(scratch, "LIMIT_BYTES", 100)
    like = torch.zeros(1)
    with scratch.scope():
        small = scratch.empty((10,), like)  # 40 bytes: kept
        big = scratch.empty((50,), like)  # 200 bytes: over the limit, dropped
    assert scratch.pooled_bytes() == 40
    with scratch.scope():
        assert scratch.empty((10,), like).data_ptr() == small.data_ptr()
        assert scratch.empty((50,), like).data_ptr() != big.data_ptr()
    scratch.release()
    assert scratch.pooled_bytes() == 0


def test_each_thread_has_its_own_pool():
    like = torch.zeros(1)
    with scratch.scope():
        mine = scratch.empty((7,), like)
    seen = []

    def other():
        with scratch.scope():
            seen.append(scratch.empty((7,), like).data_ptr())

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen and seen[0] != mine.data_ptr()


@pytest.mark.parametrize("arch, method", [
    (arch, method) for arch in ("shallow", "deep", "gru", "lstm")
    for method in ("lrp", "lrp_eps", "dtd") if arch in ("shallow", "deep") or method != "dtd"])
def test_results_do_not_alias_pooled_memory(arch, method):
    """A second call with other inputs (reusing the pool) leaves the first call's result
    as it was, and equals a call with an empty pool (step forms, per-call rules and the
    fused directions all take scratch)."""
    torch.manual_seed(0)
    model = ARCHITECTURES.get(arch)(SPEC).eval()
    x1, x2 = torch.rand(4, 5, 6) * 2 - 1, torch.rand(4, 5, 6) * 2 - 1
    target = torch.tensor([0, 1, 2, 0])
    kw = {"epsilon": 1e-3} if method == "lrp_eps" else {}
    first = rnnxbench.explain(model, x1, target, method=method, **kw)
    kept = first.clone()
    second = rnnxbench.explain(model, x2, target, method=method, **kw)
    assert torch.equal(first, kept)
    scratch.release()
    assert torch.equal(rnnxbench.explain(model, x2, target, method=method, **kw), second)
    assert torch.equal(rnnxbench.explain(model, x1, target, method=method, **kw), first)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stabilisers_in_place_and_into_a_buffer_give_the_same_bits(dtype):
    z = torch.tensor(SPECIAL, dtype=dtype).repeat(3, 50_000)  # slices of its first axis
    want = stabilize(z, 0.25)
    assert want[0, :4].tolist() == [-2.25, 0.25, 0.25, 0.25]  # sign(-0) = sign(0) = +1
    for got in (stabilize_(z.clone(), 0.25), stabilize(z, 0.25, out=torch.empty_like(z)),
                stabilize_(z.clone()[:, ::2], 0.25)):  # strided too
        expect = want if got.shape == want.shape else want[:, ::2]
        assert torch.equal(got, expect)
        assert torch.equal(torch.signbit(got), torch.signbit(expect))


def test_stabilize_in_place_stays_differentiable():
    z = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    out = stabilize_(z * 1.0, 0.5)
    out.sum().backward()
    assert out.tolist() == [-1.5, 0.5, 2.5]
    assert z.grad.tolist() == [1.0, 1.0, 1.0]


def test_only_cpu_memory_is_pooled():
    like = torch.zeros(1, device="meta")  # stands for any non-CPU device
    with scratch.scope():
        buf = scratch.empty((4,), like)
    assert buf.device.type == "meta"
    assert scratch.pooled_bytes() == 0  # nothing kept
