"""Output and input folders, checked before any compute: a run must be able to write its
results and cache, and a data folder it is given must exist."""

from __future__ import annotations

import tempfile
from pathlib import Path

from rnnxbench.engine.cache import default_cache_dir


class LocationError(ValueError):
    """A folder a run needs is unusable; the message names it and why."""


def _writable_folder(path: Path, what: str) -> None:
    """``path`` is a writable folder, or can be created as one."""
    if path.exists() and not path.is_dir():
        raise LocationError(f"{what} {path} is a file, not a folder; choose a folder")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise LocationError(f"{what} {path}: {existing} is a file, not a folder")
    try:  # a real write: permission bits alone do not tell (root, read-only mounts)
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise LocationError(f"{what} {path} is not writable ({existing}: {exc.strerror}); "
                            "choose another folder") from None


def check_locations(results_dir: str | Path | None, cache_dir: str | Path | None,
                    data_dir: str | Path | None, suite: str) -> None:
    """Raise :class:`LocationError` when the results folder (``results_dir/<suite>``) or
    the cache cannot be written, or an explicitly given ``data_dir`` is not a folder."""
    if results_dir is not None:
        _writable_folder(Path(results_dir), "results folder (--results-dir)")
        _writable_folder(Path(results_dir) / suite, "results folder (--results-dir)")
    _writable_folder(Path(cache_dir) if cache_dir is not None else default_cache_dir(),
                     "cache folder (--cache-dir or $RNNXBENCH_CACHE)")
    if data_dir is not None:
        path = Path(data_dir)
        if not path.is_dir():
            problem = "is a file, not a folder" if path.exists() else "does not exist"
            raise LocationError(f"data folder (--data-dir) {path} {problem}; give the folder "
                                "that holds the IDX files, or leave --data-dir out to use "
                                "$RNNXBENCH_DATA, ./datasets or the embedded images")
