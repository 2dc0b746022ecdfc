"""The training tests' oracle: an independent copy of the one-model training loop."""

from __future__ import annotations

import pytest
import torch

from rnnxbench.engine.train import lr_scheduler
from rnnxbench.models.loss import thesis_loss


@pytest.fixture
def reference_training():
    """:func:`train_reference`, for the tests that compare training against it."""
    return train_reference


def train_reference(model, X, y, *, epochs, lr, batch_size, seed, schedule=None,
                       dtype=torch.float32) -> list[float]:
    """Adam on shuffled mini-batches as ``train_epochs`` does, in ``dtype``; ``schedule``
    None: no scheduler at all (the loop as it was before schedules existed)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model.train()
    Xt, yt = torch.as_tensor(X, dtype=dtype), torch.as_tensor(y, dtype=torch.long)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = (None if schedule is None else
             lr_scheduler(opt, schedule, lr, epochs * -(-len(yt) // batch_size)))
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(yt), generator=gen)
        total = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = thesis_loss(model(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(order))
    model.eval()
    return losses
