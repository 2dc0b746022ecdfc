"""The thesis' conv stacks and its TF-SAME average pool (rnnxbench/models/conv.py), on their
own and inside ConvDeep / Conv+Deep (the layers themselves are in test_layers.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnxbench.models import ConvDeep, ConvPlusDeep, ThesisAvgPool
from rnnxbench.models.conv import channels_last
from rnnxbench.relevance import Proportional
from rnnxbench.tasks.base import InputSpec

MAJ = InputSpec(n_steps=12, step_dim=196, step_shape=(1, 28, 7), n_classes=10)


def maj_model(cls: type[ConvDeep]) -> ConvDeep:
    """``cls`` on MAJ steps with the thesis' filters (24, 32) and small dense layers."""
    torch.manual_seed(0)
    return cls(MAJ, in_units=12, cell_units=10, rec_units=8, head_units=6, filters=(24, 32))


def test_tf_same_average_pool_by_hand():
    """3x3 -> 2x2: windows of 4, 2, 2 and 1 valid cells (pad bottom/right), times 2."""
    x = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    out = ThesisAvgPool()(x)
    expected = 2 * torch.tensor([[(1 + 2 + 4 + 5) / 4, (3 + 6) / 2], [(7 + 8) / 2, 9.0]])
    torch.testing.assert_close(out[0, 0], expected)
    assert ThesisAvgPool()(torch.zeros(5, 24, 28, 7)).shape == (5, 24, 14, 4)
    assert ThesisAvgPool()(torch.zeros(5, 32, 14, 4)).shape == (5, 32, 7, 2)


def test_pool_relevance_rules():
    torch.manual_seed(0)  # unseeded, the lost share was below 0.1 in about 1 run of 6
    pool = ThesisAvgPool()
    op = pool.relevance_op()
    x = torch.rand(2, 3, 5, 7, dtype=torch.float64)
    x[0, 0, :2, :2] = 0.0  # one all-zero window
    R = torch.rand(2, 3, 3, 4, dtype=torch.float64)
    assert Proportional()(op, x, R).sum() < R.sum() - 0.1  # R of the zero window is lost
    R_bf = Proportional(bias_factor=1.0)(op, x, R)  # absorbed share spread: conserves
    torch.testing.assert_close(R_bf.sum(), R.sum(), rtol=1e-12, atol=0)
    assert (R_bf[0, 0, :2, :2] == R[0, 0, 0, 0] / 4).all()


def test_conv_stack_runs_all_steps_in_one_call():
    model = maj_model(ConvDeep).eval()
    calls = []
    model.convs.conv1.register_forward_hook(lambda m, a, out: calls.append(a[0].shape))
    x = torch.rand(3, 5, 196) * 2 - 1
    with torch.no_grad():
        model(x)
        batched = model.convs.forward_sequence(x)
        per_step = torch.stack([model.convs(x[:, t].reshape(3, 1, 28, 7)) for t in range(5)], 1)
    assert calls[0] == (15, 1, 28, 7)  # (N * T) steps in one batched call
    assert batched.shape == (3, 5, 448)
    torch.testing.assert_close(batched, per_step, rtol=1e-6, atol=1e-6)


def test_conv_stack_flattens_in_hwc_order():
    model = maj_model(ConvDeep)
    x = torch.rand(2, 196)
    with torch.no_grad():
        stack = model.convs
        m = stack.pool2(stack.act2(stack.conv2(stack.pool1(stack.act1(stack.conv1(
            channels_last(x.reshape(2, 1, 28, 7))))))))
        feats = stack(x.reshape(2, 1, 28, 7))
    assert m.shape == (2, 32, 7, 2)
    assert torch.equal(feats.reshape(2, 7, 2, 32), m.permute(0, 2, 3, 1))


def test_literal_conv_stack_equals_hand_written_loop():
    model = maj_model(ConvPlusDeep).eval()
    s = model.convs
    assert s.conv1.weight.shape[1] == 25 and s.conv2.weight.shape[1] == 56
    x = torch.rand(2, 3, 196) * 2 - 1

    def conv(inp, layer, pad):
        return torch.relu(F.conv2d(inp, layer.weight, layer.effective_bias, padding=pad))

    def pool(m):  # TF SAME 2x2: pad right/bottom when odd, average valid cells, x2
        ph, pw = m.shape[-2] % 2, m.shape[-1] % 2
        return 2 * F.avg_pool2d(m, 2, 2, ceil_mode=True) if (ph or pw) else \
            2 * F.avg_pool2d(m, 2, 2)

    m1, m2, outs = torch.zeros(2, 24, 28, 7), torch.zeros(2, 32, 14, 4), []
    for t in range(3):
        m1 = conv(torch.cat([x[:, t].reshape(2, 1, 28, 7), m1], 1), s.conv1, 2)
        m2 = conv(torch.cat([pool(m1), m2], 1), s.conv2, 1)
        outs.append(pool(m2).permute(0, 2, 3, 1).reshape(2, 448))
    with torch.no_grad():
        torch.testing.assert_close(s.forward_sequence(x), torch.stack(outs, 1),
                                   rtol=1e-5, atol=1e-6)
        # a change at step 1 leaves step 0's features alone and reaches steps 1 and 2
        x2 = x.clone()
        x2[:, 1] += 0.5
        diff = (s.forward_sequence(x2) - s.forward_sequence(x)).abs().sum(dim=(0, 2))
    assert diff[0] == 0 and diff[1] > 0 and diff[2] > 0


def nchw_features(stack, x: torch.Tensor) -> torch.Tensor:
    """The stacks as first written (NCHW maps; the literal loop from zero maps at t = 0)."""
    n, n_steps, _ = x.shape
    images = x.reshape(n, n_steps, 1, 28, 7)

    def conv(inp, layer):
        return torch.relu(F.conv2d(inp, layer.weight, layer.effective_bias,
                                   padding=layer.kernel_size[0] // 2))

    def pool(m):
        return 2 * F.avg_pool2d(m, 2, 2, ceil_mode=True)

    if not stack.literal:
        m = pool(conv(pool(conv(images.reshape(n * n_steps, 1, 28, 7), stack.conv1)),
                      stack.conv2))
        return m.permute(0, 2, 3, 1).reshape(n, n_steps, -1)
    m1, m2, outs = torch.zeros(n, 24, 28, 7), torch.zeros(n, 32, 14, 4), []
    for t in range(n_steps):
        m1 = conv(torch.cat([images[:, t], m1], 1), stack.conv1)
        m2 = conv(torch.cat([pool(m1), m2], 1), stack.conv2)
        outs.append(pool(m2).permute(0, 2, 3, 1).reshape(n, -1))
    return torch.stack(outs, 1)


@pytest.mark.parametrize("cls", [ConvDeep, ConvPlusDeep])
@pytest.mark.parametrize("training", [True, False])
def test_fast_stacks_equal_the_nchw_formulation(cls, training):
    """Channels-last maps (and, for Conv+ in training, the first step without its zero
    maps) compute the same function and gradients, to float32 rounding; same parameters."""
    stack = maj_model(cls).convs.train(training)
    assert sorted(stack.state_dict()) == ["conv1.raw_bias", "conv1.weight", "conv2.raw_bias",
                                          "conv2.weight"]
    x = torch.rand(4, 12, 196) * 2 - 1
    out, ref = stack.forward_sequence(x), nchw_features(stack, x)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(ref)
    params = list(stack.parameters())
    grads = torch.autograd.grad((out * g).sum(), params)
    ref_grads = torch.autograd.grad((ref * g).sum(), params)
    for a, b in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_stacks_run_in_channels_last_without_copying_the_pixels():
    x = torch.rand(3, 5, 196)
    for cls in (ConvDeep, ConvPlusDeep):
        stack = maj_model(cls).convs.eval()
        layouts: list[bool] = []

        def hook(m, a, out, layouts=layouts):
            layouts.append(out.is_contiguous(memory_format=torch.channels_last))

        for conv in (stack.conv1, stack.conv2):
            conv.register_forward_hook(hook)
        with torch.no_grad():
            stack.forward_sequence(x)
        assert len(layouts) == 2 * (5 if stack.literal else 1) and all(layouts)
    one = x.reshape(15, 1, 28, 7)
    view = channels_last(one)
    assert view.data_ptr() == one.data_ptr() and torch.equal(view, one)
    many = torch.rand(2, 3, 4, 5)
    assert torch.equal(channels_last(many), many)
    assert channels_last(many).is_contiguous(memory_format=torch.channels_last)


def test_literal_stack_in_training_calls_the_convs_from_the_second_step():
    """Training mode skips the zero maps at t = 0 (``leading_conv``); eval mode, where
    explainers hook the calls, calls both convs at every step."""
    model = maj_model(ConvPlusDeep)
    calls = []
    model.convs.conv1.register_forward_hook(lambda m, a, out: calls.append(a[0].shape[1]))
    x = torch.rand(2, 4, 196)
    model.train()(x)
    assert calls == [25] * 3
    calls.clear()
    with torch.no_grad():
        model.eval()(x)
    assert calls == [25] * 4
