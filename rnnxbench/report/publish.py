"""Atomic publishing of a results folder: written beside it, then swapped in whole.

A run writes into ``.<name>.new-<pid>-*`` next to ``results/<suite>/`` and only when every
file is written renames the old folder aside and the new one into place, so a kill while
writing leaves the previous results intact (never new tables beside old ones). Leftovers of
a killed run are cleaned up, or restored, by the next one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid_of(leftover: Path) -> int | None:
    try:
        return int(leftover.name.rsplit(".new-", 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return None


def recover(target: Path) -> None:
    """Tidy what a killed publish left beside ``target``: restore the previous folder when
    the kill came between the two renames, and remove dead runs' unfinished folders."""
    parent = target.parent
    if not parent.is_dir():
        return
    olds = sorted(parent.glob(f".{target.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds and not target.exists():
        os.rename(olds.pop(), target)
    for old in olds:
        shutil.rmtree(old, ignore_errors=True)
    for new in parent.glob(f".{target.name}.new-*"):
        pid = _pid_of(new)
        if pid is None or not _alive(pid):
            shutil.rmtree(new, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def publishing(target: Path) -> Iterator[Path]:
    """Yield a new, empty folder beside ``target``; on success it replaces ``target``.

    On an error (or Ctrl-C) inside the block the new folder is removed and ``target`` is
    left as it was."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target)
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-{os.getpid()}-",
                                   dir=target.parent))
    try:
        os.chmod(folder, 0o777 & ~_umask())
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    swap_in(folder, target)


def swap_in(folder: Path, target: Path) -> None:
    """Replace ``target`` by ``folder`` (two renames; the old folder is then removed)."""
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.rmdir(old)
        os.rename(target, old)
        os.rename(folder, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(folder, target)
