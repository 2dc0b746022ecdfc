"""On-disk caches: trained models (by a hash of all that defines them) and fold scores.

Every file is written atomically (a temporary file renamed into place), so a killed run
never leaves half a file behind, and with the permissions a plain ``open()`` would give
(``0o666`` less the umask: group-readable with the usual umask), so a team can share one
cache. An entry that cannot be read back (truncated, garbage, from an incompatible torch) is
reported by path, moved aside as ``<name>.corrupt`` and treated as missing: the run
recomputes it instead of failing.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnxbench.config import stable_hash


class CorruptCacheEntry(RuntimeWarning):
    """A cache file could not be read; it was moved aside and will be recomputed."""


def default_cache_dir() -> Path:
    """``$RNNXBENCH_CACHE``, else ``$XDG_CACHE_HOME/rnnxbench``, else ``~/.cache/rnnxbench``."""
    if os.environ.get("RNNXBENCH_CACHE"):
        return Path(os.environ["RNNXBENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rnnxbench"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[str], Any]) -> None:
    """``write(tmp_path)`` then rename to ``path``: readers see the old file or the new one.

    The file gets the permissions of a plain ``open()`` (``0o666`` less the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _move_aside(path: Path) -> str:
    aside = path.with_name(path.name + ".corrupt")
    try:
        os.replace(path, aside)
        return f"moved aside to {aside}"
    except OSError:
        try:
            path.unlink()
            return "deleted"
        except OSError:
            return "could not be moved"


def set_aside(path: Path, reason: str, *companions: Path) -> None:
    """Report an unreadable cache file and move it (and ``companions``, the other files of
    the same entry) to ``<name>.corrupt``, or delete it."""
    where = _move_aside(path)
    for other in companions:
        _move_aside(other)
    also = f" (with {', '.join(p.name for p in companions)})" if companions else ""
    warnings.warn(f"corrupt cache entry {path} ({reason}); {where}{also}; recomputing it",
                  CorruptCacheEntry, stacklevel=3)


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

    def model_meta_path(self, model_hash: str) -> Path:
        return self.root / "models" / f"{model_hash}.json"

    def has_model(self, model_hash: str) -> bool:
        """Both files of the model exist (they may still be unreadable: see load_model)."""
        return self.model_path(model_hash).exists() and self.model_meta_path(model_hash).exists()

    def save_model(self, model_hash: str, state: dict[str, torch.Tensor],
                   meta: dict[str, Any]) -> None:
        cpu_state = {k: v.detach().cpu() for k, v in state.items()}
        atomic_write(self.model_path(model_hash), lambda p: torch.save(cpu_state, p))
        atomic_write(self.model_meta_path(model_hash),
                     lambda p: Path(p).write_text(json.dumps(meta, indent=1, default=str)))

    def load_meta(self, model_hash: str) -> dict[str, Any] | None:
        """The model's metadata, or None when missing or unreadable (then set aside)."""
        path = self.model_meta_path(model_hash)
        if not path.exists() or not self.model_path(model_hash).exists():
            return None
        meta = self._read_json(path)
        if meta is None:
            return None
        if meta.get("status") != "ok" or "accuracy" not in meta:
            set_aside(path, "metadata without status 'ok' and accuracy")
            return None
        return meta

    def load_model(self, model_hash: str
                   ) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """``(state_dict, metadata)``, or None when missing or unreadable: a corrupt entry
        is reported, both its files are set aside, and the caller recomputes it."""
        meta = self.load_meta(model_hash)
        if meta is None:
            return None
        path = self.model_path(model_hash)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or not all(
                    isinstance(v, torch.Tensor) for v in state.values()):
                raise TypeError(f"holds a {type(state).__name__}, not a state dict")
        except Exception as exc:  # noqa: BLE001 - any unreadable file is recomputed
            set_aside(path, f"{type(exc).__name__}: {exc}", self.model_meta_path(model_hash))
            return None
        return state, meta

    # scores
    def score_path(self, model_hash: str, explainer_key: str, metric_key: str) -> Path:
        return self.root / "scores" / model_hash / f"{explainer_key}--{metric_key}.json"

    def has_score(self, model_hash: str, explainer_key: str, metric_key: str) -> bool:
        return self.score_path(model_hash, explainer_key, metric_key).exists()

    def load_score(self, model_hash: str, explainer_key: str,
                   metric_key: str) -> dict[str, Any] | None:
        """A cached score record, or None when missing or unreadable (then set aside)."""
        path = self.score_path(model_hash, explainer_key, metric_key)
        if not path.exists():
            return None
        return self._read_json(path)

    def save_score(self, model_hash: str, explainer_key: str, metric_key: str,
                   record: dict[str, Any]) -> None:
        atomic_write(self.score_path(model_hash, explainer_key, metric_key),
                     lambda p: Path(p).write_text(json.dumps(record, default=str)))

    # arrays (what the explorer pages and heatmaps show of a model)
    def arrays_path(self, model_hash: str, key: str) -> Path:
        return self.root / "scores" / model_hash / f"{key}.npz"

    def save_arrays(self, model_hash: str, key: str, arrays: dict[str, np.ndarray]) -> None:
        """Named arrays as one compressed ``.npz`` (no pickles: numbers and strings only)."""
        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)

        atomic_write(self.arrays_path(model_hash, key), write)

    def load_arrays(self, model_hash: str, key: str) -> dict[str, np.ndarray] | None:
        """The named arrays, or None when missing or unreadable (then set aside)."""
        path = self.arrays_path(model_hash, key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as found:
                return {name: found[name] for name in found.files}
        except Exception as exc:  # noqa: BLE001 - any unreadable file is recomputed
            set_aside(path, f"{type(exc).__name__}: {exc}")
            return None

    @staticmethod
    def _read_json(path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            set_aside(path, f"{type(exc).__name__}: {exc}")
            return None
        if not isinstance(data, dict):
            set_aside(path, f"holds a JSON {type(data).__name__}, not an object")
            return None
        return data


class ShippedCache:
    """A job's cache on a worker without the cache folder (the dask backend): the models it
    reads were shipped with it, and what it saves is kept in :attr:`writes` for the driver
    to write into the real :class:`Cache`. Scores are never read here: the driver sends
    only the jobs whose scores it did not find."""

    def __init__(self, models: dict[str, tuple[dict[str, torch.Tensor], dict[str, Any]] | None]):
        self.models = models
        self.writes: list[tuple] = []

    def has_model(self, model_hash: str) -> bool:
        return self.models.get(model_hash) is not None

    def load_model(self, model_hash: str
                   ) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        return self.models.get(model_hash)

    def save_model(self, model_hash: str, state: dict[str, torch.Tensor],
                   meta: dict[str, Any]) -> None:
        state = {k: v.detach().cpu() for k, v in state.items()}
        self.models[model_hash] = (state, meta)
        self.writes.append(("model", model_hash, state, meta))

    def load_score(self, model_hash: str, explainer_key: str,
                   metric_key: str) -> dict[str, Any] | None:
        return None

    def save_score(self, model_hash: str, explainer_key: str, metric_key: str,
                   record: dict[str, Any]) -> None:
        self.writes.append(("score", model_hash, explainer_key, metric_key, record))

    def load_arrays(self, model_hash: str, key: str) -> dict[str, np.ndarray] | None:
        return None

    def save_arrays(self, model_hash: str, key: str, arrays: dict[str, np.ndarray]) -> None:
        self.writes.append(("arrays", model_hash, key, arrays))


#: what a job gets as its cache: the cache folder, or a cache object (ShippedCache on dask)
JobCache = str | Path | Cache | ShippedCache


def open_cache(cache: JobCache) -> Cache | ShippedCache:
    """A job's cache: a folder's :class:`Cache`, or the cache object it was given."""
    return cache if isinstance(cache, Cache | ShippedCache) else Cache(cache)
