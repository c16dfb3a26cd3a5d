"""One process at a time: an exclusive flock on a file that names its holder's pid.

The store (one run writing it) and the gallery (one build at a time) both use it; the lock
goes with the process, so a killed holder never leaves a stale lock behind.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path


class LockHeld(Exception):
    def __init__(self, holder: str):
        super().__init__(f"held by pid {holder}")
        self.holder = holder


def take_lock(path: Path) -> int:
    """Lock *path* (created if needed) and write our pid in it; the lock lasts until the fd is closed.

    Raises :class:`LockHeld` with the holder's pid when another process has it.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise LockHeld(holder) from None
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd
