"""The thesis' convolution stacks (spec §1) and its TF-SAME average pool.

Per step, on a ``(C, H, W)`` image (MAJ: one 28x7 column slice)::

    conv1 5x5, 24 filters, SAME, ReLU -> pool -> conv2 3x3, 32 filters, SAME, ReLU -> pool
    -> (h, w, c)-ordered flattening (28x7 -> 7x2x32 = 448 features)

:class:`ConvStack` is the plain stack; it is not recurrent, so it runs on all T steps of all
sequences in one batched call. :class:`LiteralConvStack` is the Conv+ models' "literal
connections" stack: conv1 sees ``[x_t | conv1_out_{t-1}]`` and conv2 sees
``[pool1_t | conv2_out_{t-1}]`` (fed-back maps post-ReLU, pre-pool, zero at t = 0), so it
loops over the steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rnnxbench.models.layers import ThesisConv2d
from rnnxbench.relevance.rules import LinearOp

Tensor = torch.Tensor


def same_out(size: int, stride: int) -> int:
    """Output size of a TF SAME window op: ``ceil(size / stride)``."""
    return -(-size // stride)


class ThesisAvgPool(nn.Module):
    """TF ``avg_pool(..., padding="SAME")`` times ``scale`` (the thesis code's x2).

    TF's SAME average pool pads ``max((out - 1) s + k - size, 0)`` cells (the odd one after,
    i.e. bottom/right) and averages only the valid (unpadded) cells of each window. The
    thesis code then multiplies the pooled value by 2; ``scale`` keeps that factor inside
    this module, so relevance propagation sees the whole map ``x -> scale * pool(x)`` as one
    linear op (:meth:`relevance_op`: relevance is split in proportion to each input's
    contribution, spec §2 'average pooling').
    With LRP-epsilon's ``bias_factor=1`` the absorbed shares are spread evenly over each
    window's valid cells (:class:`~rnnxbench.relevance.rules.Proportional`).
    """

    def __init__(self, kernel_size: int = 2, stride: int = 2, scale: float = 2.0):
        super().__init__()
        self.kernel_size, self.stride, self.scale = kernel_size, stride, float(scale)
        self._counts: dict[tuple, Tensor] = {}

    def _padding(self, h: int, w: int) -> tuple[int, int, int, int]:
        k, s = self.kernel_size, self.stride
        ph = max((same_out(h, s) - 1) * s + k - h, 0)
        pw = max((same_out(w, s) - 1) * s + k - w, 0)
        return pw // 2, pw - pw // 2, ph // 2, ph - ph // 2

    def out_hw(self, h: int, w: int) -> tuple[int, int]:
        return same_out(h, self.stride), same_out(w, self.stride)

    def _window_sum(self, x: Tensor) -> Tensor:
        pad = self._padding(x.shape[-2], x.shape[-1])
        return F.avg_pool2d(F.pad(x, pad), self.kernel_size, self.stride, divisor_override=1)

    def _scale_map(self, x: Tensor) -> Tensor:
        """``scale / (valid cells per window)``, shaped ``(out_h, out_w)``."""
        key = (x.shape[-2], x.shape[-1], x.dtype, x.device)
        if key not in self._counts:
            ones = torch.ones(1, 1, *key[:2], dtype=x.dtype, device=x.device)
            self._counts[key] = self.scale / self._window_sum(ones)[0, 0]
        return self._counts[key]

    def pool(self, x: Tensor) -> Tensor:
        """The map itself (no module call, so no hooks): ``(..., C, H, W)`` inputs."""
        left, _, top, _ = self._padding(x.shape[-2], x.shape[-1])
        if left == 0 and top == 0:
            # Padding only after: torch's ceil-mode windows are TF's SAME windows and torch
            # divides by the valid cells; one fused kernel, about 4x faster than pad + sum.
            pooled = F.avg_pool2d(x, self.kernel_size, self.stride, ceil_mode=True)
            return pooled * self.scale if self.scale != 1.0 else pooled
        return self._window_sum(x) * self._scale_map(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(x)

    def relevance_op(self) -> LinearOp:
        """This module's forward as a linear op (proportional relevance split)."""
        return LinearOp(lambda x, w: self.pool(x), None, channel_dim=1, proportional=True)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding='SAME', "
                f"scale={self.scale}")


def _stack_out(step_shape: tuple[int, ...], channels: int, n_pools: int = 2) -> int:
    _, h, w = step_shape
    for _ in range(n_pools):
        h, w = same_out(h, 2), same_out(w, 2)
    return channels * h * w


def _flatten_hwc(maps: Tensor) -> Tensor:
    """``(B, C, H, W)`` -> ``(B, H*W*C)`` in (h, w, c) order, as TF's NHWC reshape (a view
    of channels-last maps)."""
    return maps.permute(0, 2, 3, 1).flatten(1)


def channels_last(x: Tensor) -> Tensor:
    """``(B, C, H, W)`` images in channels-last memory, the layout the stacks run in: oneDNN's
    convolutions take it natively, and torch's ReLU and average pool vectorise over the
    channels instead of the short rows (W = 7 for MAJ). Measured on one thread: 2.5-4x
    faster ReLU + pool, forward and backward. A single channel is re-strided, not copied
    (its strides would read as either layout, and torch then picks NCHW)."""
    if x.shape[1] == 1:
        return x.as_strided(x.shape, (x.stride(0), 1, x.stride(2), x.stride(3)),
                            x.storage_offset())
    return x.contiguous(memory_format=torch.channels_last)


class ConvStack(nn.Module):
    """conv1 -> ReLU -> pool -> conv2 -> ReLU -> pool -> (h, w, c) flattening.

    ``forward`` takes ``(B, C, H, W)`` images (any batch of steps) and returns
    ``(B, out_features)``; the maps are channels-last (:func:`channels_last`).
    """

    #: whether each conv also sees its own previous output (the Conv+ "literal connections")
    literal = False

    def __init__(self, step_shape: tuple[int, ...], bias: str = "softplus",
                 filters: tuple[int, int] = (24, 32), kernels: tuple[int, int] = (5, 3)):
        super().__init__()
        if len(step_shape) != 3:
            raise ValueError(f"conv stacks need (C, H, W) steps, got {step_shape}")
        self.step_shape = tuple(step_shape)
        self.filters = tuple(filters)
        fed_back = filters if self.literal else (0, 0)
        self.conv1 = ThesisConv2d(step_shape[0] + fed_back[0], filters[0], kernels[0], bias)
        self.act1 = nn.ReLU()
        self.pool1 = ThesisAvgPool()
        self.conv2 = ThesisConv2d(filters[0] + fed_back[1], filters[1], kernels[1], bias)
        self.act2 = nn.ReLU()
        self.pool2 = ThesisAvgPool()
        self.out_features = _stack_out(self.step_shape, filters[1])

    def forward(self, images: Tensor) -> Tensor:
        h = self.pool1(self.act1(self.conv1(channels_last(images))))
        h = self.pool2(self.act2(self.conv2(h)))
        return _flatten_hwc(h)

    def forward_sequence(self, x: Tensor) -> Tensor:
        """``(N, T, D)`` flat steps -> ``(N, T, out_features)``: all steps in one call."""
        n, n_steps, _ = x.shape
        feats = self(x.reshape(n * n_steps, *self.step_shape))
        return feats.reshape(n, n_steps, self.out_features)


def leading_conv(conv: ThesisConv2d, x: Tensor) -> Tensor:
    """``conv([x | 0])`` without the zero channels: the convolution of ``x`` with the first
    ``x.shape[1]`` input channels of ``conv``'s weight (its bias and SAME padding)."""
    left, right, top, bottom = conv.same_pad
    weight = conv.weight[:, :x.shape[1]]
    if left == right and top == bottom:
        return F.conv2d(x, weight, conv.effective_bias, padding=(top, left))
    return F.conv2d(F.pad(x, conv.same_pad), weight, conv.effective_bias)


class LiteralConvStack(ConvStack):
    """The Conv+ models' recurrent conv stack ("literal connections"), per step t::

        m1_t = ReLU(conv1([x_t | m1_{t-1}]))        (C + F1 -> F1 channels, H x W)
        p1_t = pool(m1_t)
        m2_t = ReLU(conv2([p1_t | m2_{t-1}]))       (F1 + F2 -> F2 channels)
        out_t = flatten_hwc(pool(m2_t))

    with ``m1_0 = m2_0 = 0``. ``forward_sequence`` maps ``(N, T, D)`` to
    ``(N, T, out_features)``. In training mode the first step skips the zero maps (each
    conv uses only its weight's leading channels there, :func:`leading_conv`: the same
    function, 1/12 fewer conv FLOPs for 12 steps); in eval mode, where explainers hook the
    calls, every step calls ``conv1`` and ``conv2`` on the concatenation.
    """

    literal = True

    def forward_sequence(self, x: Tensor) -> Tensor:
        n, n_steps, _ = x.shape
        c, h, w = self.step_shape
        steps = [channels_last(s) for s in x.reshape(n, n_steps, c, h, w).unbind(1)]
        if self.training:
            m1 = self.act1(leading_conv(self.conv1, steps[0]))
            m2 = self.act2(leading_conv(self.conv2, self.pool1(m1)))
            outs, first = [_flatten_hwc(self.pool2(m2))], 1
        else:
            h2, w2 = self.pool1.out_hw(h, w)
            m1 = channels_last(x.new_zeros(n, self.filters[0], h, w))
            m2 = channels_last(x.new_zeros(n, self.filters[1], h2, w2))
            outs, first = [], 0
        for t in range(first, n_steps):
            m1 = self.act1(self.conv1(torch.cat([steps[t], m1], dim=1)))
            p1 = self.pool1(m1)
            m2 = self.act2(self.conv2(torch.cat([p1, m2], dim=1)))
            outs.append(_flatten_hwc(self.pool2(m2)))
        return torch.stack(outs, dim=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_sequence(x)
