"""Training and evaluation of one model (the thesis' loss, Adam, mini-batches)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rnnxbench.engine.device import denormals_flushed
from rnnxbench.models.loss import thesis_loss


def train_model(model: nn.Module, X: np.ndarray, y: np.ndarray, *, epochs: int, lr: float,
                batch_size: int, seed: int, device: str = "cpu") -> list[float]:
    """Train in place with Adam on shuffled mini-batches; returns the mean loss per epoch.

    Denormal floats are flushed to zero meanwhile (:func:`denormals_flushed`)."""
    with denormals_flushed():
        return train_epochs(model, X, y, epochs=epochs, lr=lr, batch_size=batch_size,
                            seed=seed, device=device)


def train_epochs(model: nn.Module, X: np.ndarray, y: np.ndarray, *, epochs: int, lr: float,
                 batch_size: int, seed: int, device: str) -> list[float]:
    """:func:`train_model` without flushing denormals (the floating-point mode is left as
    it is); returns the mean loss per epoch."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout masks
    model.to(device).train()
    Xt = torch.as_tensor(X, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.long)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(yt), generator=gen)
        total = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            xb, yb = Xt[idx].to(device), yt[idx].to(device)
            opt.zero_grad(set_to_none=True)
            loss = thesis_loss(model(xb), yb)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(order))
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
