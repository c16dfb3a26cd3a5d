"""The image store on disk: durable atomic writes, the manifest, the index, and the run lock.

Layout::

    STORE/<folder>/.../<name>-<digest>.<ext>   the images, served as they are
    STORE/.imagescraper/lock                   held (flock) by the one run using the store
    STORE/.imagescraper/manifest.jsonl         one JSON line per stored image (the record)
    STORE/.imagescraper/index.sqlite           the same, indexed by URL (rebuilt from the manifest)
    STORE/.imagescraper/incoming/              files being written; emptied at each start
    STORE/.imagescraper/quarantine/            what `scrapy checkstore --repair` moved aside
    STORE/.imagescraper/last-run.json          the summary of the last finished run

An image is written whole under ``incoming/``, synced, renamed into place, and its directory
synced; only then is its manifest line appended, and then its index row written (in batches).
So a run killed at any moment, or a power cut, leaves no partial file under a final name, and
no manifest line or index row points at data that is not on disk. A file is "already stored"
only if the index lists its URL and the file on disk still has the recorded size: a missing or
cut file is fetched again.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from imagescraper import manifest
from imagescraper.durable import DirectorySyncs, sync_file
from imagescraper.identity import canonical_url
from imagescraper.manifest import DropEntry, ImageEntry
from imagescraper.paths import checked_relpath
from imagescraper.pidlock import LockHeld, take_lock
from imagescraper.startup_errors import InputError, StoreBusyError
from imagescraper.storeindex import TAIL_BYTES, StoreIndex, index_path, remove_index_files

logger = logging.getLogger(__name__)

META_DIR = ".imagescraper"
# Index rows are written a batch at a time (at most INDEX_BATCH rows, at least once a second while
# images arrive), and always when the run ends.
INDEX_BATCH = 64
INDEX_BATCH_SECONDS = 1.0


@dataclass(frozen=True)
class StoredImage:
    path: str  # relative to the store root, "/"-separated
    size: int
    sha256: str


class ImageStore:
    def __init__(self, root: str | os.PathLike[str], *, durable: bool = True):
        self.root = Path(root)
        self.durable = durable
        self.meta_dir = self.root / META_DIR
        self.incoming = self.meta_dir / "incoming"
        self.manifest_path = self.meta_dir / "manifest.jsonl"
        self.index: StoreIndex | None = None
        self.directory_syncs = DirectorySyncs()
        self._lock_fd: int | None = None
        self._manifest_fd: int | None = None
        self._manifest_end = 0
        self._write_lock = threading.Lock()  # orders manifest appends and index batches
        self._pending: dict[str, ImageEntry | DropEntry] = {}
        self._last_flush = 0.0
        self._made_dirs: set[Path] = set()

    # -- opening and closing -----------------------------------------------------------------
    def open(self, *, create: bool = True) -> None:
        """Lock the store for this run, clear leftovers of killed runs, bring the index level."""
        if not create and not self.meta_dir.is_dir():
            what = "is not an image store (it has no .imagescraper/ folder)" if self.root.is_dir() else "does not exist"
            raise InputError(
                f"image store {str(self.root)!r} {what}: pass the folder a crawl stored into with -s IMAGES_STORE=DIR"
            )
        try:
            self.incoming.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"image store {str(self.root)!r} cannot be created: {exc.strerror}") from None
        self._lock()
        try:
            self._open_locked()
        except BaseException:
            self.close()  # a store that could not be opened is not left locked
            raise

    def _open_locked(self) -> None:
        for leftover in self.incoming.iterdir():
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
        self._manifest_fd = os.open(self.manifest_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        self.index, news = StoreIndex.open_writer(self.meta_dir, self.manifest_path)
        if news:  # a rebuild or catch-up: the last run did not end cleanly, or someone edited the store
            logger.warning("%s", news)
        self._manifest_end = os.fstat(self._manifest_fd).st_size
        self._last_flush = time.monotonic()
        if self._manifest_end and os.pread(self._manifest_fd, 1, self._manifest_end - 1) != b"\n":
            # A line cut by a crash: end it, so the next line is not glued to it and lost too.
            logger.warning("The manifest's last line was cut by a crash: it is skipped, its image fetched again")
            self._append(b"\n")
            self.index.apply([], self._manifest_end, self._manifest_tail())

    def close(self) -> None:
        if self.index is not None:
            self.flush()
            if self.durable and self._manifest_fd is not None:
                os.fsync(self._manifest_fd)
            self.index.close()
            self.index = None
        if self._manifest_fd is not None:
            os.close(self._manifest_fd)
            self._manifest_fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def _lock(self) -> None:
        try:
            self._lock_fd = take_lock(self.meta_dir / "lock")
        except LockHeld as held:
            raise StoreBusyError(
                f"image store {str(self.root)!r} is in use by another run (pid {held.holder}); "
                "this run stops without fetching anything, try again when that one ends"
            ) from None

    # -- looking up ----------------------------------------------------------------------------
    def lookup(self, url_key: str) -> StoredImage | None:
        """The stored image for this canonical URL, if it is on disk whole."""
        entry = self._pending.get(url_key)
        if entry is None:
            entry = self._indexed(url_key)
        if entry is None or isinstance(entry, DropEntry):
            return None
        try:
            # A manifest edited by hand must not make a file outside the store count as stored.
            size = os.stat(self.root / checked_relpath(entry.path)).st_size
        except (OSError, ValueError):
            return None
        return StoredImage(entry.path, entry.bytes, entry.sha256) if size == entry.bytes else None

    def _indexed(self, url_key: str) -> ImageEntry | None:
        if self.index is None:
            raise RuntimeError("the image store is not open")
        try:
            return self.index.get(url_key)
        except sqlite3.DatabaseError as exc:
            with self._write_lock:
                self._recover(exc)
            return self.index.get(url_key)

    # -- storing -------------------------------------------------------------------------------
    def add(self, entry: ImageEntry, body: bytes, line: bytes) -> None:
        """Write *body* at ``entry.path`` durably and atomically, then record *line* and *entry*.

        Safe to call from worker threads for different URLs.
        """
        final = self.root / entry.path
        self._make_folder(final.parent)
        temp = self.incoming / f"{secrets.token_hex(8)}.part"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(body)
                if self.durable:
                    out.flush()
                    sync_file(out.fileno())
            os.replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        if self.durable:
            self.directory_syncs.sync(final.parent)
        self._record(entry, line)

    def drop(self, url: str, path: str, reason: str) -> None:
        """Forget a stored URL (``checkstore --repair``): the next run fetches it again."""
        self._record(DropEntry(canonical_url(url), url, path, reason), manifest.drop_line(url, path, reason))

    def _record(self, entry: ImageEntry | DropEntry, line: bytes) -> None:
        with self._write_lock:
            self._append(line)
            self._pending[entry.key] = entry
            # Batches while images arrive quickly; an image after a quiet spell is indexed at once.
            if len(self._pending) >= INDEX_BATCH or time.monotonic() - self._last_flush >= INDEX_BATCH_SECONDS:
                self._flush()

    def flush(self) -> None:
        """Write the index rows still waiting in this run's batch."""
        with self._write_lock:
            self._flush()

    def _flush(self) -> None:
        if not self._pending or self.index is None:
            return
        try:
            self.index.apply(self._pending.values(), self._manifest_end, self._manifest_tail())
        except sqlite3.DatabaseError as exc:
            self._recover(exc)  # the rebuilt index holds the pending entries: they are in the manifest
        self._pending.clear()
        self._last_flush = time.monotonic()

    def _manifest_tail(self) -> bytes:
        return os.pread(self._manifest_fd, TAIL_BYTES, max(self._manifest_end - TAIL_BYTES, 0))

    def _recover(self, exc: Exception) -> None:
        """The index broke during a run (a disk error, a hand edit): rebuild it from the manifest."""
        logger.error("The store index failed (%s): rebuilding it from the manifest", exc)
        path = index_path(self.meta_dir)
        self.index.close()
        remove_index_files(path)
        self.index, news = StoreIndex.open_writer(self.meta_dir, self.manifest_path)
        logger.warning("%s", news)
        self._pending.clear()

    def _append(self, data: bytes) -> None:
        # One write() on an O_APPEND descriptor, under the write lock: lines never interleave,
        # and the index knows exactly how far the manifest goes.
        if self._manifest_fd is None:
            raise RuntimeError("the image store is not open")
        written = os.write(self._manifest_fd, data)
        self._manifest_end += written
        if written != len(data):
            raise OSError(errno.ENOSPC, f"short write to {self.manifest_path}")

    def _make_folder(self, folder: Path) -> None:
        """Create *folder* inside the store, refusing to go through a symlink planted in it."""
        if folder in self._made_dirs:
            return
        current = self.root
        for part in folder.relative_to(self.root).parts:
            parent, current = current, current / part
            try:
                os.mkdir(current, 0o755)
            except FileExistsError:
                if current.is_symlink() or not current.is_dir():
                    raise OSError(
                        errno.ENOTDIR, f"{current} is not a folder of the store; see scrapy checkstore --repair"
                    ) from None
                continue
            if self.durable:
                self.directory_syncs.sync(parent)
        self._made_dirs.add(folder)

    def write_meta(self, name: str, text: str) -> None:
        """Atomically replace a small file in the store's meta folder (e.g. last-run.json)."""
        temp = self.incoming / f"{secrets.token_hex(8)}.part"
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, self.meta_dir / name)
