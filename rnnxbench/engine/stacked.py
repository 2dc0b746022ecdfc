"""Stacked training: K models of one architecture trained together as one batched model.

:func:`train_stacked` stacks the models' parameters (``torch.func.stack_module_state``) and
runs one forward/backward per step for all K (``vmap`` of ``functional_call`` on a copy of
the first model). Each model keeps what ``train_model`` gives it alone: its data order (the
per-epoch ``randperm`` of ``torch.Generator().manual_seed(seed)``), its batches (padded to
the step's largest and masked out of its loss, the mean over its real samples; a smaller
fold sits out the last steps of an epoch), its Adam (:class:`BatchedAdam`: Adam's elementwise
update with a step count and lr schedule per model -- one plain Adam over the stacked
parameters equals K Adams only while all K step) and its dropout masks: rnnxbench's dropout
modules (ordinary, stationary) are fed masks drawn from a per-model
``torch.Generator(device).manual_seed(seed)`` with the unpadded shapes, order and formula of
:mod:`rnnxbench.models.dropout`, i.e. the masks ``torch.manual_seed(seed)`` gives the model
alone. So runs are deterministic and a model's result does not depend on its stack-mates (up
to rounding). The global RNG is left alone. torch's ``nn.RNN`` / ``GRU`` / ``LSTM`` have no
vmap batching rule; the stacked copy runs them as an unrolled loop of torch's CPU cells.

Measured vs one-by-one ``train_model`` (every registered architecture at tiny sizes, CPU,
2 epochs, folds of 50/49/47, with dropout, constant and onecycle lr; tests/engine/
test_stacked.py checks 12 of them): float64 parameters agree to 3e-14, losses to 7e-16;
float32 parameters to 9e-6 (a GRU weight whose first Adam step saw a near-zero gradient;
the others <= 5e-7), losses to 2.4e-7. Not bit-equal: batched kernels round differently
(two identical models in one stack can differ by an ulp); ``BatchedAdam`` alone is bit-equal
to ``torch.optim.Adam``. CUDA is untested (there torch's RNNs run cuDNN, and the masks come
from a CUDA generator seeded like ``torch.manual_seed`` seeds the default one).
Not stackable (:func:`can_stack` says why): torch's own dropout modules (global RNG), RNNs
with ``proj_size`` or inter-layer dropout, masks whose first dim is not the batch, stationary
dropout not reset per forward, ops vmap cannot batch, other random ops (``randomness=
"error"``). Buffers changed in training (batch norm) are not handled. Speed vs one-by-one,
CPU, one thread, K=7, default sizes, 12 steps, batch 50 (a loaded machine; a process's first
call adds ~1.3 s of vmap warm-up): GRU 1.5x, LSTM 0.9-1.0x, Deep 1.15-1.3x, R-LSTM 1.1-1.2x.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from rnnxbench.engine.device import denormals_flushed
from rnnxbench.engine.train import lr_scheduler
from rnnxbench.models.dropout import Dropout, StationaryDropout
from rnnxbench.models.loss import thesis_loss
from rnnxbench.registry import ARCHITECTURES

TORCH_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
                  nn.FeatureAlphaDropout)
BETAS, EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults, as train_model uses them


def arch_name(model: nn.Module) -> str:
    """The registered name of ``model``'s class (else the class name)."""
    names = [n for n, cls in ARCHITECTURES.items() if cls is type(model)]
    return names[0] if names else type(model).__name__


def _static_reason(model: nn.Module) -> str | None:
    if next(model.parameters(), None) is None:
        return "it has no parameters"
    for name, m in model.named_modules():
        if isinstance(m, nn.RNNBase) and (m.mode not in ("RNN_TANH", "RNN_RELU", "GRU", "LSTM")
                                          or m.proj_size or m.dropout and m.num_layers > 1):
            return f"{name}: {type(m).__name__} with proj_size or inter-layer dropout"
        if type(m) not in (Dropout, StationaryDropout) and isinstance(m, TORCH_DROPOUTS) \
                and m.p > 0:
            return f"{name}: {type(m).__name__} draws its masks from the global RNG"
    return None


def can_stack(model: nn.Module) -> str | None:
    """None if ``model`` can be trained by :func:`train_stacked`, else why not. A model with
    a ``spec`` (an :class:`~rnnxbench.models.base.Architecture`) is also tried on a copy: a
    stacked training-mode forward on two zero sequences."""
    reason, spec = _static_reason(model), getattr(model, "spec", None)
    if reason is None and spec is not None:
        first = next(model.parameters())
        x = first.new_zeros((1, 2, spec.n_steps, spec.step_dim))
        try:
            with torch.no_grad():
                _Stack([copy.deepcopy(model)], [0], str(first.device)).losses(
                    x, x[..., 0, 0].long(), torch.ones_like(x[..., 0, 0]), [2])
        except ValueError as e:
            return str(e)
    return None if reason is None else f"cannot stack {arch_name(model)}: {reason}"


class _FedDropout(StationaryDropout):
    """rnnxbench's dropout (``stationary``: one mask until reset) with masks from the stack;
    ``stale`` until the architecture resets it (only stationary ones are checked)."""

    def __init__(self, p: float, stack: _Stack, stationary: bool):
        super().__init__(p)
        self.stack, self.stationary, self.stale, self.key = stack, stationary, False, None

    def reset(self) -> None:
        self.mask, self.stale = None, False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        if not self.stationary:
            return x * self.stack.take(tuple(x.shape), x, self.p)
        if self.stale:
            raise ValueError(f"cannot stack {self.stack.name}: it does not reset its "
                             f"stationary dropout masks in each forward pass")
        key = (x.shape[0], x.shape[-1])
        if self.mask is None or self.key != key:
            self.mask, self.key = self.stack.take(key, x, self.p), key
        return x * self.mask.view(key[0], *([1] * (x.dim() - 2)), key[1])


class _UnrolledRNN(nn.Module):
    """torch's nn.RNN / GRU / LSTM from the zero state as a loop of its CPU cells' ops, with
    the same parameters under the same names; vmap can batch it."""

    def __init__(self, rnn: nn.RNNBase):
        super().__init__()
        self.mode, self.layers, self.hidden = rnn.mode, rnn.num_layers, rnn.hidden_size
        self.batch_first, self.dirs = rnn.batch_first, 2 if rnn.bidirectional else 1
        for name, param in rnn.named_parameters(recurse=False):
            self.register_parameter(name, param)

    def _cell(self, gi, h, c, w_hh, b_hh):
        hh = F.linear(h, w_hh, b_hh)
        if self.mode == "GRU":
            (ir, iz, i_n), (hr, hz, hn) = gi.chunk(3, 1), hh.chunk(3, 1)
            r, z = torch.sigmoid(hr + ir), torch.sigmoid(hz + iz)
            n = torch.tanh(i_n + hn * r)
            return (h - n) * z + n, c
        if self.mode == "LSTM":
            i, f, g, o = (hh + gi).chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            return torch.sigmoid(o) * torch.tanh(c), c
        return (torch.tanh if self.mode == "RNN_TANH" else torch.relu)(hh + gi), c

    def forward(self, x: torch.Tensor, hx=None):
        if hx is not None:
            raise ValueError("stacked RNNs start from the zero state only")
        x, last_h, last_c = x if self.batch_first else x.transpose(0, 1), [], []
        for layer in range(self.layers):
            outs = []
            for d in range(self.dirs):
                w_ih, w_hh, b_ih, b_hh = (getattr(self, f"{n}_l{layer}{'_reverse' * d}", None)
                                          for n in ("weight_ih", "weight_hh", "bias_ih",
                                                    "bias_hh"))
                steps, h = F.linear(x, w_ih, b_ih).unbind(1), x.new_zeros(len(x), self.hidden)
                c, hs = h, []
                for gi in steps[::-1] if d else steps:
                    h, c = self._cell(gi, h, c, w_hh, b_hh)
                    hs.append(h)
                outs.append(torch.stack(hs[::-1] if d else hs, 1))
                last_h.append(h)
                last_c.append(c)
            x = torch.cat(outs, 2)
        out, h_n = x if self.batch_first else x.transpose(0, 1), torch.stack(last_h)
        return out, ((h_n, torch.stack(last_c)) if self.mode == "LSTM" else h_n)


def _signature(model: nn.Module) -> tuple:
    return (type(model), [(n, tuple(p.shape), p.dtype) for n, p in model.named_parameters()],
            [(n, tuple(b.shape)) for n, b in model.named_buffers()],
            [(n, type(m).__name__, m.p) for n, m in model.named_modules()
             if isinstance(m, nn.Dropout)], repr(getattr(model, "options", None)))


class _Stack:
    """K models as stacked parameters, the batched copy and each model's mask source."""

    def __init__(self, models: list[nn.Module], seeds: list[int], device: str):
        self.name = arch_name(models[0])
        if any(_signature(m) != _signature(models[0]) for m in models[1:]):
            raise ValueError(f"cannot stack different architectures, options or parameter "
                             f"shapes: {[arch_name(m) for m in models]}")
        self.params, self.buffers = stack_module_state([m.to(device).train() for m in models])
        self.base, new = copy.deepcopy(models[0]), {}
        for parent in list(self.base.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.RNNBase):
                    new.setdefault(id(child), _UnrolledRNN(child))
                elif type(child) in (Dropout, StationaryDropout) and child.p > 0:
                    stationary = type(child) is StationaryDropout
                    new.setdefault(id(child), _FedDropout(child.p, self, stationary))
                if id(child) in new:
                    setattr(parent, name, new[id(child)])
        self.base.to("meta").train()
        self.feeds = [m for m in self.base.modules() if isinstance(m, _FedDropout)]
        self.gens = [torch.Generator(device).manual_seed(int(s)) for s in seeds]
        self.plans: dict[tuple, list] = {}
        self.record: list | None = None
        self.masks: list[torch.Tensor] = []
        self.run = vmap(self._one)

    def take(self, shape: tuple[int, ...], like: torch.Tensor, p: float) -> torch.Tensor:
        """The next mask of this forward (while recording: note its shape, return ones)."""
        if self.record is not None:
            self.record.append((shape, like.dtype, p))
            return like.new_ones(shape)
        return self.masks.pop(0)

    def _call(self, params, buffers, x, stale=False):
        for f in self.feeds:
            f.mask, f.stale = None, stale and f.stationary
        try:
            return functional_call(self.base, (params, buffers), (x,))
        finally:
            for f in self.feeds:
                f.mask, f.stale = None, False

    def _one(self, params, buffers, x, y, w, masks):
        self.masks = list(masks)
        ce = thesis_loss(self._call(params, buffers, x), y, reduction="none")
        return (ce * w).sum() / w.sum().clamp(min=1)

    def _plan(self, shape: tuple[int, ...], dtype: torch.dtype) -> list:
        """(shape, dtype, p) of every mask a forward on ``shape`` inputs draws, in order."""
        if shape not in self.plans:
            self.record = []
            try:
                with torch.no_grad():
                    self._call({k: v[0] for k, v in self.params.items()},
                               {k: v[0] for k, v in self.buffers.items()},
                               next(iter(self.params.values())).new_zeros(shape, dtype=dtype),
                               stale=True)
                self.plans[shape] = self.record
            finally:
                self.record = None
            if any(s[0] != shape[0] for s, _, _ in self.plans[shape]):
                raise ValueError(f"cannot stack {self.name}: a mask's first dim is not the "
                                 f"batch")
        return self.plans[shape]

    def _draw(self, x: torch.Tensor, counts: list[int]) -> list[torch.Tensor]:
        """Each model's masks for its ``counts[k]`` real samples, padded to ``x.shape[1]``."""
        if not self.feeds:
            return []
        plan = self._plan(tuple(x.shape[1:]), x.dtype)
        out = [torch.ones((len(counts), *s), dtype=dt, device=x.device) for s, dt, _ in plan]
        for k, n in enumerate(counts):
            own = self._plan((n, *x.shape[2:]), x.dtype) if n else []
            if n and [s[1:] for s, _, _ in own] != [s[1:] for s, _, _ in plan]:
                raise ValueError(f"cannot stack {self.name}: its masks vary with the batch")
            for u, _ in zip(out, own, strict=False):
                u[k, :n].uniform_(generator=self.gens[k])
        return [(u >= p).to(dt) / (1.0 - p) for u, (_, dt, p) in zip(out, plan, strict=True)]

    def losses(self, x, y, w, counts: list[int]) -> torch.Tensor:
        """Each model's mean loss over its real samples (``w`` 1, padding 0): shape (K,)."""
        try:
            return self.run(self.params, self.buffers, x, y, w, self._draw(x, counts))
        except RuntimeError as e:
            raise ValueError(f"cannot stack {self.name}: {e}") from e
        finally:
            self.masks = []


class BatchedAdam:
    """``torch.optim.Adam`` (defaults, as train_model) over stacked (K, ...) parameters with
    a step count and a learning rate per model; models not ``active`` are left untouched."""

    def __init__(self, params: list[torch.Tensor]):
        self.params = params
        self.state = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
        self.steps = [0] * len(params[0])

    @torch.no_grad()
    def step(self, lrs: list[float], active: list[bool]) -> None:
        (b1, b2), idle = BETAS, [k for k, a in enumerate(active) if not a]
        self.steps = [s + a for s, a in zip(self.steps, active, strict=True)]
        t = [max(s, 1) for s in self.steps]
        size = [-lr / (1 - b1 ** s) for lr, s in zip(lrs, t, strict=True)]
        bc2 = [(1 - b2 ** s) ** 0.5 for s in t]
        for p, (m, v) in zip(self.params, self.state, strict=True):
            if p.grad is None:
                continue
            view = (-1, *([1] * (p.dim() - 1)))
            kept = [(z, z[idle].clone()) for z in (p, m, v)] if idle else []
            m.lerp_(p.grad, 1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            denom = (v.sqrt() / p.new_tensor(bc2).view(view)).add_(EPS)
            p.add_(p.new_tensor(size).view(view) * m / denom)
            for z, old in kept:
                z[idle] = old


def _rates(schedule: str, lr: float, total: int) -> list[float]:
    """The learning rate of each of ``total`` steps, as ``train_epochs`` sets them."""
    opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=lr)
    sched, rates = lr_scheduler(opt, schedule, lr, total), []
    for _ in range(total):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        _ = sched.step() if sched is not None else None
    return rates


def train_stacked(models: list[nn.Module], datasets: list[tuple[np.ndarray, np.ndarray]], *,
                  epochs: int, lr: float, batch_size: int, seeds: list[int],
                  device: str = "cpu", schedule: str = "constant") -> list[list[float]]:
    """Train K models of one architecture together, each as ``train_model(models[k],
    *datasets[k], seed=seeds[k], ...)`` would alone; returns each model's mean loss per
    epoch. The trained parameters are loaded into the models, left in eval mode on
    ``device``. Inputs are cast to the parameters' dtype. ValueError for models that cannot
    be stacked (:func:`can_stack`) or do not match each other."""
    models, seeds = list(models), [int(s) for s in seeds]
    if not models or not len(models) == len(datasets) == len(seeds):
        raise ValueError(f"need K >= 1 models, datasets and seeds, got {len(models)}, "
                         f"{len(datasets)} and {len(seeds)}")
    for m in models:
        if (reason := _static_reason(m)) is not None:
            raise ValueError(f"cannot stack {arch_name(m)}: {reason}")
    stack = _Stack(models, seeds, device)
    dtype = next(iter(stack.params.values())).dtype
    Xs = [torch.as_tensor(np.asarray(X), dtype=dtype) for X, _ in datasets]
    ys = [torch.as_tensor(np.asarray(y), dtype=torch.long) for _, y in datasets]
    K, sizes = len(models), [len(y) for y in ys]
    if any(len(X) != n or n < 1 for X, n in zip(Xs, sizes, strict=True)) \
            or len({X.shape[1:] for X in Xs}) != 1:
        raise ValueError(f"datasets need >= 1 sample, one X row per label and one sample "
                         f"shape; got {[tuple(X.shape) for X in Xs]} for {sizes} labels")
    X_all = torch.zeros((K, max(sizes), *Xs[0].shape[1:]), dtype=dtype)
    y_all = torch.zeros((K, max(sizes)), dtype=torch.long)
    for k in range(K):
        X_all[k, :sizes[k]], y_all[k, :sizes[k]] = Xs[k], ys[k]
    X_all, y_all, rows = X_all.to(device), y_all.to(device), torch.arange(K)[:, None]
    batches = [-(-n // batch_size) for n in sizes]
    rates = [_rates(schedule, lr, epochs * b) + [0.0] for b in batches]
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    adam, losses = BatchedAdam(list(stack.params.values())), [[] for _ in range(K)]
    with denormals_flushed():
        for _ in range(epochs):
            orders = [torch.randperm(n, generator=g) for n, g in zip(sizes, gens, strict=True)]
            totals = [0.0] * K
            for j in range(max(batches)):
                counts = [max(0, min(batch_size, n - j * batch_size)) for n in sizes]
                idx = torch.zeros((K, max(counts)), dtype=torch.long)
                w = torch.zeros((K, max(counts)), dtype=dtype)
                for k, c in enumerate(counts):
                    idx[k, :c], w[k, :c] = orders[k][j * batch_size:j * batch_size + c], 1
                for p in adam.params:
                    p.grad = None
                out = stack.losses(X_all[rows, idx], y_all[rows, idx], w.to(device), counts)
                out.sum().backward()
                adam.step([r[s] for r, s in zip(rates, adam.steps, strict=True)],
                          [c > 0 for c in counts])
                for k, v in enumerate(out.detach().cpu().tolist()):
                    totals[k] += v * counts[k]
            for k in range(K):
                losses[k].append(totals[k] / sizes[k])
    for k, m in enumerate(models):
        state = m.state_dict()
        state.update({n: t[k].detach() for n, t in (*stack.params.items(),
                                                     *stack.buffers.items()) if n in state})
        m.load_state_dict(state)
        m.eval()
    return losses
