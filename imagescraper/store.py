"""The image store on disk: atomic writes, the manifest, and the lock that keeps runs apart.

Layout::

    STORE/<folder>/.../<name>-<digest>.<ext>   the images, served as they are
    STORE/.imagescraper/lock                   held (flock) by the one run using the store
    STORE/.imagescraper/manifest.jsonl         one JSON line per stored image
    STORE/.imagescraper/incoming/              files being written; emptied at each start
    STORE/.imagescraper/last-run.json          the summary of the last finished run

An image is first written whole under ``incoming/`` and then renamed into place, so a run
killed at any moment leaves no partial file under a final name; its manifest line is
appended after the rename. A file is "already stored" only if the manifest lists its URL and
the file on disk still has the recorded size: a missing or cut file is fetched again.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from imagescraper.errors import InputError, StoreBusyError
from imagescraper.identity import canonical_url

META_DIR = ".imagescraper"


@dataclass(frozen=True)
class StoredImage:
    path: str  # relative to the store root, "/"-separated
    size: int
    sha256: str


class ImageStore:
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)
        self.meta_dir = self.root / META_DIR
        self.incoming = self.meta_dir / "incoming"
        self.manifest_path = self.meta_dir / "manifest.jsonl"
        self._lock_fd: int | None = None
        self._manifest_fd: int | None = None
        self._index: dict[str, StoredImage] = {}
        self._made_dirs: set[Path] = set()

    # -- opening and closing -----------------------------------------------------------------
    def open(self) -> None:
        """Lock the store for this run, clear leftovers of killed runs, load the manifest."""
        try:
            self.incoming.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"image store {str(self.root)!r} cannot be created: {exc.strerror}") from None
        self._lock()
        for leftover in self.incoming.iterdir():
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
        self._index = dict(self._read_manifest())
        self._manifest_fd = os.open(self.manifest_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def close(self) -> None:
        if self._manifest_fd is not None:
            os.close(self._manifest_fd)
            self._manifest_fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def _lock(self) -> None:
        lock_path = self.meta_dir / "lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise StoreBusyError(
                    f"image store {str(self.root)!r} is in use by another run (pid {holder}); "
                    "this run stops without fetching anything, try again when that one ends"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._lock_fd = fd

    # -- the manifest ------------------------------------------------------------------------
    def _read_manifest(self):
        try:
            manifest = self.manifest_path.open("rb")
        except FileNotFoundError:
            return
        with manifest:
            for line in manifest:
                try:
                    record = json.loads(line)
                    yield (
                        canonical_url(record["url"]),
                        StoredImage(record["path"], int(record["bytes"]), record["sha256"]),
                    )
                except (ValueError, KeyError, TypeError):
                    # A line cut by a crash or edited by hand: its image is simply fetched again.
                    continue

    def lookup(self, url_key: str) -> StoredImage | None:
        """The stored image for this canonical URL, if it is on disk whole."""
        stored = self._index.get(url_key)
        if stored is None:
            return None
        try:
            size = os.stat(self.root / stored.path).st_size
        except OSError:
            return None
        return stored if size == stored.size else None

    def add(self, url: str, image: StoredImage, body: bytes, record: dict) -> None:
        """Write *body* at ``image.path`` atomically, then append its manifest line.

        Safe to call from worker threads for different URLs; :meth:`remember` must then be
        called on the event-loop thread.
        """
        final = self.root / image.path
        parent = final.parent
        if parent not in self._made_dirs:
            parent.mkdir(parents=True, exist_ok=True)
            self._made_dirs.add(parent)
        temp = self.incoming / f"{secrets.token_hex(8)}.part"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(body)
            os.replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        line = json.dumps({"url": url, **record}, ensure_ascii=False, separators=(",", ":")) + "\n"
        self._append(line.encode("utf-8"))

    def remember(self, url_key: str, image: StoredImage) -> None:
        self._index[url_key] = image

    def _append(self, data: bytes) -> None:
        # One write() on an O_APPEND descriptor: concurrent appends never interleave within a line.
        if self._manifest_fd is None:
            raise RuntimeError("the image store is not open")
        written = os.write(self._manifest_fd, data)
        if written != len(data):
            raise OSError(errno.ENOSPC, f"short write to {self.manifest_path}")

    def write_meta(self, name: str, text: str) -> None:
        """Atomically replace a small file in the store's meta folder (e.g. last-run.json)."""
        temp = self.incoming / f"{secrets.token_hex(8)}.part"
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, self.meta_dir / name)
