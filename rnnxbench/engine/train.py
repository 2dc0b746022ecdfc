"""Training and evaluation of one model (the thesis' loss, Adam, mini-batches)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from rnnxbench.engine.device import denormals_flushed
from rnnxbench.models.loss import thesis_loss
from rnnxbench.profile import SCHEDULES

#: called after each epoch as ``on_epoch(epoch, model)`` (1-based; the model in eval mode)
EpochCallback = Callable[[int, nn.Module], None]


def train_model(model: nn.Module, X: np.ndarray, y: np.ndarray, *, epochs: int, lr: float,
                batch_size: int, seed: int, device: str = "cpu", schedule: str = "constant",
                on_epoch: EpochCallback | None = None) -> list[float]:
    """Train in place with Adam on shuffled mini-batches; returns the mean loss per epoch.

    ``schedule`` sets the learning rate per batch (:func:`lr_scheduler`); ``on_epoch`` is
    called after each epoch (e.g. to record a learning curve; it must not draw random
    numbers). Denormal floats are flushed to zero meanwhile (:func:`denormals_flushed`)."""
    with denormals_flushed():
        return train_epochs(model, X, y, epochs=epochs, lr=lr, batch_size=batch_size,
                            seed=seed, device=device, schedule=schedule, on_epoch=on_epoch)


def lr_scheduler(opt: torch.optim.Optimizer, schedule: str, lr: float,
                 total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The per-batch learning-rate schedule over ``total_steps`` batches (None: constant).

    ``constant``: ``lr`` throughout. ``onecycle``: torch's :class:`OneCycleLR` peaking at
    ``lr`` (a cosine warm-up from ``lr / 25`` over the first 30% of the batches,
    then cosine annealing to ``lr / 25e4``; Adam's betas are left alone). ``cosine``: cosine
    annealing from ``lr`` to 0, no warm-up."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total_steps,
                                                   cycle_momentum=False)
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
    return None


def train_epochs(model: nn.Module, X: np.ndarray, y: np.ndarray, *, epochs: int, lr: float,
                 batch_size: int, seed: int, device: str, schedule: str = "constant",
                 on_epoch: EpochCallback | None = None) -> list[float]:
    """:func:`train_model` without flushing denormals (the floating-point mode is left as
    it is); returns the mean loss per epoch."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout masks
    model.to(device).train()
    Xt = torch.as_tensor(X, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.long)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = lr_scheduler(opt, schedule, lr, epochs * -(-len(yt) // batch_size))
    losses = []
    for epoch in range(epochs):
        order = torch.randperm(len(yt), generator=gen)
        total = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            xb, yb = Xt[idx].to(device), yt[idx].to(device)
            opt.zero_grad(set_to_none=True)
            loss = thesis_loss(model(xb), yb)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(order))
        if on_epoch is not None:
            model.eval()
            on_epoch(epoch + 1, model)
            model.train()
    model.eval()
    return losses


@torch.no_grad()
def predict(model: nn.Module, X: np.ndarray, batch_size: int = 512,
            device: str = "cpu") -> np.ndarray:
    """Predicted class (argmax over the real logits) for every sample."""
    model.eval()
    out = []
    for start in range(0, len(X), batch_size):
        xb = torch.as_tensor(X[start:start + batch_size], dtype=torch.float32, device=device)
        out.append(model(xb).argmax(dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray, device: str = "cpu") -> float:
    return float((predict(model, X, device=device) == y).mean())
