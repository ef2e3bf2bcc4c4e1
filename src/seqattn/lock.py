"""An advisory lock on an output folder: one writer at a time.

``folder_lock(path)`` creates ``path/.seqattn.lock`` with O_CREAT|O_EXCL holding the pid, host,
command and start time, and removes it on exit (normal or exception). A second writer gets a
``FolderLockedError`` naming the holder; a lock left by a dead pid on this host is reclaimed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["LOCK_NAME", "FolderLockedError", "file_lock", "folder_lock"]

LOCK_NAME = ".seqattn.lock"
log = logging.getLogger(__name__)


class FolderLockedError(OSError):
    """The folder is locked by another live process."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(lock: Path) -> dict:
    try:
        return json.loads(lock.read_text())
    except (OSError, ValueError):
        return {}


def _try_create(lock: Path, info: dict) -> bool:
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)
    return True


def file_lock(path: str | os.PathLike) -> contextlib.AbstractContextManager[Path]:
    """Hold ``.NAME.seqattn.lock`` beside the output file ``path`` (``train vectors``): one
    writer per file; other files of its folder stay free."""
    path = Path(path)
    return _locked(path.parent, path.parent / f".{path.name}{LOCK_NAME}", path)


def folder_lock(folder: str | os.PathLike) -> contextlib.AbstractContextManager[Path]:
    """Hold ``folder/.seqattn.lock`` for the ``with`` block; raise FolderLockedError if held."""
    folder = Path(folder)
    return _locked(folder, folder / LOCK_NAME, folder)


@contextlib.contextmanager
def _locked(folder: Path, lock: Path, target: Path) -> Iterator[Path]:
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "command": " ".join(sys.argv), "started": time.time()}  # fmt: skip
    for _ in range(3):
        if _try_create(lock, info):
            break
        held = _holder(lock)
        pid = held.get("pid")
        same_host = held.get("host") == info["host"]
        if isinstance(pid, int) and same_host and not _alive(pid):
            log.warning("reclaiming stale lock %s of dead pid %d", lock, pid)
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
            continue
        raise FolderLockedError(
            f"expected no other writer of {target}, got pid {pid} on {held.get('host')} "
            f"running {held.get('command')!r} (lock {lock})"
        )
    else:
        raise FolderLockedError(f"expected to take the lock {lock}, got a race; retry")
    try:
        yield lock
    finally:
        if _holder(lock).get("pid") == info["pid"]:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
        if created:  # a folder made only for the lock goes with it (a failed first run)
            with contextlib.suppress(OSError):
                folder.rmdir()
