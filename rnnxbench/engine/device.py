"""Device selection: ``auto | cpu | cuda | cuda:K``; one device per worker."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

DEVICE_CHOICES = "auto, cpu, cuda, cuda:K"


def resolve_devices(device: str = "auto") -> list[str]:
    """The devices jobs are spread over (``cuda`` means every visible GPU)."""
    device = device.strip().lower()
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return ["cpu"]
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available; "
                             f"valid choices here: auto, cpu")
        if device == "cuda":
            return [f"cuda:{k}" for k in range(torch.cuda.device_count())]
        k = int(device.split(":", 1)[1])
        if not 0 <= k < torch.cuda.device_count():
            raise ValueError(f"no GPU {k}; this machine has {torch.cuda.device_count()}")
        return [device]
    raise ValueError(f"unknown device {device!r}; valid choices: {DEVICE_CHOICES}")


@contextmanager
def denormals_flushed() -> Iterator[bool]:
    """Flush denormal floats to zero on the CPU inside the block (x86 FTZ/DAZ; yields False
    where torch cannot). A last-state RNN over a long series otherwise spends most of its
    backward pass on vanishing, denormal gradients: 0.39 -> 0.05 s per epoch for an LSTM over
    ArrowHead's 251 steps. Values below ~1e-38 become 0. On exit flushing is switched off
    again (a new process's default; torch cannot read the previous setting)."""
    flushed = torch.set_flush_denormal(True)
    try:
        yield flushed
    finally:
        if flushed:
            torch.set_flush_denormal(False)
