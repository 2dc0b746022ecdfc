"""Device selection: ``auto | cpu | cuda | cuda:K``; one device per worker."""

from __future__ import annotations

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
