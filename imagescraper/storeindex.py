"""The store's index: ``.imagescraper/index.sqlite``, one row per stored image, keyed by URL.

Opening it reads nothing in proportion to the store's size, and a lookup is one query on the
primary key, so a store of a million images starts as fast as an empty one. The manifest stays
the record: the index remembers how many bytes of ``manifest.jsonl`` it covers (and the last
bytes of that stretch), and at every open it reads only what was appended since. It is
rebuilt from the manifest, in one logged line, when it is missing, unreadable, made by another
version, or no longer matches the manifest (replaced or cut by hand).

SQLite runs in WAL mode: readers (the gallery, scripts) read a consistent snapshot while a run
writes. The run holding the store lock is the only writer.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from imagescraper import manifest
from imagescraper.identity import canonical_url
from imagescraper.manifest import DropEntry, ImageEntry
from imagescraper.startup_errors import InputError

INDEX_NAME = "index.sqlite"
# Bumped when the table changes: an index of another version is rebuilt.
SCHEMA_VERSION = 1
# The key of this URL is kept in the index: if the canonical form of URLs ever changes
# (identity.py), every key is stale and the index is rebuilt.
_KEY_PROBE = "HTTP://Example.COM:80/a%7e b/./c?b=2&a=1&a=0#part"
# Bytes of the manifest, ending at the covered offset, kept to notice a manifest replaced by hand.
TAIL_BYTES = 64
# Rows per transaction while rebuilding: a run killed mid-rebuild resumes where it stopped.
REBUILD_BATCH = 20_000

_COLUMNS = ("key", "url", "path", "bytes", "sha256", "format", "width", "height", "frames", "title", "stored_at")
_COLUMNS += ("extra",)
_SCHEMA = f"""
CREATE TABLE images (
    key TEXT PRIMARY KEY NOT NULL, url TEXT NOT NULL, path TEXT NOT NULL, bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL, format TEXT, width INTEGER, height INTEGER, frames INTEGER, title TEXT,
    stored_at TEXT, extra TEXT
) WITHOUT ROWID;
CREATE INDEX images_by_path ON images (path);
CREATE TABLE state (name TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
INSERT INTO state VALUES ('manifest_offset', 0), ('manifest_tail', x''), ('key_probe', '');
PRAGMA user_version = {SCHEMA_VERSION};
"""
_UPSERT = f"INSERT OR REPLACE INTO images ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"


def index_path(meta_dir: Path) -> Path:
    return meta_dir / INDEX_NAME


class StoreIndex:
    """One SQLite connection, shared by the threads of a run behind one lock.

    A run's writer also has a second, read-only connection for :meth:`get`: the lookups come
    from the event loop, and in WAL mode they need not wait for a batch being written.
    """

    def __init__(
        self, connection: sqlite3.Connection, *, created: str | None = None, reader: sqlite3.Connection | None = None
    ):
        self._db = connection
        self._lock = threading.Lock()
        self._created = created  # why the tables were just made, if they were
        self._reader = reader or connection
        self._read_lock = threading.Lock() if reader is not None else self._lock

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def open_reader(cls, store_root: str | os.PathLike[str]) -> StoreIndex:
        """Read-only access for scripts and the gallery; needs no lock and may run beside a run."""
        path = index_path(Path(store_root).resolve() / ".imagescraper")
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: run a crawl (or scrapy checkstore) on the store first")
        return cls(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False))

    @classmethod
    def open_writer(cls, meta_dir: Path, manifest_path: Path) -> tuple[StoreIndex, str | None]:
        """Open (creating or repairing) the index and bring it level with the manifest.

        Returns the index and, when it had to be rebuilt or caught up, the one line saying so.
        Call it only while holding the store lock.
        """
        path = index_path(meta_dir)
        new_store = not manifest_path.exists() or manifest_path.stat().st_size == 0
        why = None if path.exists() or new_store else "the index was missing"
        try:
            index = cls._connect(path)
        except sqlite3.DatabaseError as exc:
            why = f"the index was unreadable: {exc}"
            remove_index_files(path)
            try:
                index = cls._connect(path)
            except sqlite3.DatabaseError as again:
                raise InputError(
                    f"the store index {str(path)!r} cannot be created ({again}): check its folder"
                ) from None
        if why is None and index._created and not new_store:
            why = index._created
        elif why is None and index.covers() > 0 and not index._matches(manifest_path):
            why = "the manifest no longer matches the index (replaced or cut)"
        elif why is None and index.covers() > 0 and index._state("key_probe") != canonical_url(_KEY_PROBE):
            why = "URLs are compared differently since it was made"
        if why is not None:
            with index._transaction():
                index._db.execute("DELETE FROM images")
                index._set_covered(0, b"")
        with index._transaction():
            index._db.execute("UPDATE state SET value = ? WHERE name = 'key_probe'", (canonical_url(_KEY_PROBE),))
        return index, index._catch_up(manifest_path, why)

    @classmethod
    def _connect(cls, path: Path) -> StoreIndex:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL syncs at checkpoints only; a commit lost in a power cut is
            # caught up from the manifest at the next open.
            db.execute("PRAGMA synchronous = NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            created = None
            if version == 0:
                created = "the index was empty"
                db.executescript(_SCHEMA)
            elif version != SCHEMA_VERSION:
                created = "the index was made by another version"
                db.executescript("DROP TABLE IF EXISTS images; DROP TABLE IF EXISTS state;" + _SCHEMA)
            db.execute("SELECT value FROM state WHERE name = 'manifest_offset'").fetchone()
            db.execute("SELECT key FROM images LIMIT 1").fetchall()
        except sqlite3.DatabaseError:
            db.close()
            raise
        reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        reader.execute("PRAGMA query_only = ON")
        return cls(db, created=created, reader=reader)

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._reader is not self._db:
            with self._read_lock:
                self._reader.close()

    @contextmanager
    def _transaction(self):
        # The connection is in autocommit mode (isolation_level=None), where ``with connection``
        # would commit every statement on its own: rows and the covered offset must go together.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- keeping level with the manifest ---------------------------------------------------------
    def covers(self) -> int:
        """How many bytes of the manifest the index holds."""
        return int(self._state("manifest_offset"))

    def _state(self, name: str):
        with self._lock:
            row = self._db.execute("SELECT value FROM state WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def _tail(self) -> bytes:
        return bytes(self._state("manifest_tail"))

    def _matches(self, manifest_path: Path) -> bool:
        offset, tail = self.covers(), self._tail()
        try:
            with open(manifest_path, "rb") as handle:
                handle.seek(offset - len(tail))
                return len(tail) <= offset and handle.read(len(tail)) == tail
        except (OSError, ValueError):
            return False

    def _set_covered(self, offset: int, tail: bytes) -> None:
        self._db.execute("UPDATE state SET value = ? WHERE name = 'manifest_offset'", (offset,))
        self._db.execute("UPDATE state SET value = ? WHERE name = 'manifest_tail'", (tail,))

    def _catch_up(self, manifest_path: Path, why: str | None) -> str | None:
        start = self.covers()
        try:
            size = manifest_path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size <= start and why is None:
            return None
        lines = 0
        batch: list[ImageEntry | DropEntry] = []
        end = start
        for entry, end in manifest.read_from(manifest_path, start) if size > start else ():
            lines += 1
            if entry is not None:
                batch.append(entry)
            if len(batch) >= REBUILD_BATCH:
                self.apply(batch, end, _tail_of(manifest_path, end))
                batch = []
        if end > self.covers():
            self.apply(batch, end, _tail_of(manifest_path, end))
        if why is not None:
            count = self.count()
            return f"Store index rebuilt from the manifest: {count:,} image{'' if count == 1 else 's'} ({why})"
        if lines:
            return (
                f"Store index caught up with the manifest: {lines:,} line(s) it did not hold yet"
                " (the last run stopped before recording them)"
            )
        return None

    # -- writing ---------------------------------------------------------------------------------
    def apply(self, entries: Iterable[ImageEntry | DropEntry], manifest_end: int, tail: bytes) -> None:
        """Record *entries* (in manifest order) and that the manifest is covered up to *manifest_end*."""
        with self._transaction():
            rows = []
            for entry in entries:
                if isinstance(entry, DropEntry):
                    self._db.executemany(_UPSERT, rows)  # in order: a drop may follow its own image
                    rows = []
                    self._db.execute("DELETE FROM images WHERE key = ?", (entry.key,))
                else:
                    rows.append(_row(entry))
            self._db.executemany(_UPSERT, rows)
            self._set_covered(manifest_end, tail[-TAIL_BYTES:])

    # -- reading ---------------------------------------------------------------------------------
    def get(self, key: str) -> ImageEntry | None:
        with self._read_lock:
            row = self._reader.execute(f"SELECT {', '.join(_COLUMNS)} FROM images WHERE key = ?", (key,)).fetchone()
        return ImageEntry(*row) if row else None

    def has_path(self, path: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM images WHERE path = ? LIMIT 1", (path,)).fetchone() is not None

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM images").fetchone()[0]

    def entries(self, page: int = 1000) -> Iterator[ImageEntry]:
        """Every entry, by path, a page at a time: entries may be dropped between pages."""
        after = ("", "")
        while True:
            with self._lock:
                rows = self._db.execute(
                    f"SELECT {', '.join(_COLUMNS)} FROM images WHERE (path, key) > (?, ?) ORDER BY path, key LIMIT ?",
                    (*after, page),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                yield ImageEntry(*row)
            after = (rows[-1][2], rows[-1][0])


def _row(entry: ImageEntry) -> tuple:
    return tuple(getattr(entry, column) for column in _COLUMNS)


def _tail_of(manifest_path: Path, end: int) -> bytes:
    with open(manifest_path, "rb") as handle:
        handle.seek(max(end - TAIL_BYTES, 0))
        return handle.read(min(end, TAIL_BYTES))


def remove_index_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
