"""Making writes survive a power cut: file syncs, and directory syncs shared between threads.

A file renamed into place is only durable once its data and the directory entry naming it are
on disk: ``fsync`` the file before the rename, and its directory after. Each directory sync
costs a file-system journal commit; the worker threads that store images at the same moment
share one, so at high rates a run pays for far fewer syncs than it stores images.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def sync_file(fd: int) -> None:
    os.fsync(fd)


def sync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DirectorySyncs:
    """Group commit for directory syncs.

    :meth:`sync` returns once *path* has been synced after the call began. While one thread
    syncs, the others add their directories to the next round and wait; whichever of them
    wakes first syncs the whole round for everyone.
    """

    def __init__(self, sync=sync_directory):
        self._sync = sync
        self._changed = threading.Condition()
        self._waiting: set[Path] = set()
        self._requested = 0  # rounds asked for so far
        self._finished = 0  # rounds whose directories are all synced
        self._busy = False
        self.syncs = 0  # directory syncs made, for the benchmark and the tests

    def wait_for_callers(self, count: int, timeout: float) -> bool:
        """Wait until *count* calls have been made in all (for tests)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._requested >= count, timeout)

    def sync(self, path: Path) -> None:
        with self._changed:
            self._waiting.add(path)
            self._requested += 1
            ticket = self._requested
            self._changed.notify_all()  # lets a watcher (the tests) see who is waiting
            while self._finished < ticket:
                if self._busy:
                    self._changed.wait()
                    continue
                self._busy = True
                batch, self._waiting = self._waiting, set()
                covers = self._requested
                self._changed.release()
                failed = True
                try:
                    for directory in batch:
                        self._sync(directory)
                        self.syncs += 1
                    failed = False
                finally:
                    self._changed.acquire()
                    self._busy = False
                    if failed:  # put the round back: the next waiter tries again, this caller hears why
                        self._waiting |= batch
                    else:
                        self._finished = covers
                    self._changed.notify_all()
