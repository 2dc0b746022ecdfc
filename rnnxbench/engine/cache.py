"""On-disk caches: trained models (by a hash of all that defines them) and fold scores."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from rnnxbench.config import stable_hash


def default_cache_dir() -> Path:
    """``$RNNXBENCH_CACHE``, else ``$XDG_CACHE_HOME/rnnxbench``, else ``~/.cache/rnnxbench``."""
    if os.environ.get("RNNXBENCH_CACHE"):
        return Path(os.environ["RNNXBENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rnnxbench"


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class Cache:
    """Models under ``models/<hash>.pt`` (+ ``.json`` metadata); scores under ``scores/``."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    @staticmethod
    def key(definition: dict[str, Any]) -> str:
        return stable_hash(definition, length=16)

    # models
    def model_path(self, model_hash: str) -> Path:
        return self.root / "models" / f"{model_hash}.pt"

    def has_model(self, model_hash: str) -> bool:
        return self.model_path(model_hash).exists() and self.model_meta_path(model_hash).exists()

    def model_meta_path(self, model_hash: str) -> Path:
        return self.root / "models" / f"{model_hash}.json"

    def save_model(self, model_hash: str, state: dict[str, torch.Tensor],
                   meta: dict[str, Any]) -> None:
        cpu_state = {k: v.detach().cpu() for k, v in state.items()}
        _atomic_write(self.model_path(model_hash), lambda p: torch.save(cpu_state, p))
        _atomic_write(self.model_meta_path(model_hash),
                      lambda p: Path(p).write_text(json.dumps(meta, indent=1, default=str)))

    def load_model(self, model_hash: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        state = torch.load(self.model_path(model_hash), map_location="cpu", weights_only=True)
        meta = json.loads(self.model_meta_path(model_hash).read_text())
        return state, meta

    # scores
    def score_path(self, model_hash: str, explainer_key: str, metric_key: str) -> Path:
        return self.root / "scores" / model_hash / f"{explainer_key}--{metric_key}.json"

    def load_score(self, model_hash: str, explainer_key: str,
                   metric_key: str) -> dict[str, Any] | None:
        path = self.score_path(model_hash, explainer_key, metric_key)
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            return None

    def save_score(self, model_hash: str, explainer_key: str, metric_key: str,
                   record: dict[str, Any]) -> None:
        _atomic_write(self.score_path(model_hash, explainer_key, metric_key),
                      lambda p: Path(p).write_text(json.dumps(record, default=str)))
