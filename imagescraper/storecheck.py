"""Checking a store against its index, and repairing it: what ``scrapy checkstore`` does.

Two passes. The first reads every file the index lists and compares its size and SHA-256 with
what was stored; the second walks the store's folders for anything the index does not list.
Nothing is ever followed through a symlink: files are opened one path segment at a time with
``O_NOFOLLOW``, and the walk does not descend into linked folders.

With ``repair`` a bad entry is dropped (a drop line in the manifest, the row out of the index),
so the next crawl fetches its URL again; whatever sat at its path, and every unlisted file or
link, is moved under ``.imagescraper/quarantine/<time>/`` with its relative path. Nothing is
deleted.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from imagescraper.manifest import ImageEntry
from imagescraper.startup_errors import ExitStatus
from imagescraper.store import META_DIR, ImageStore

logger = logging.getLogger(__name__)

# What can be wrong with a listed file, and what can be found that nothing lists; with the
# word each log line starts with.
ENTRY_KINDS = {
    "missing": "Missing",
    "cut": "Cut",
    "altered": "Altered",
    "unreadable": "Unreadable",
    "not-a-file": "Not a file",
    "bad-path": "Bad path",
}
STRAY_KINDS = {
    "file": "Unlisted file",
    "symlink": "Planted symlink",
    "special-file": "Unlisted special file",
    "unreadable-folder": "Unreadable folder",
}
# Problems kept for last-check.json; the log has every one of them.
MAX_LISTED_PROBLEMS = 1000


@dataclass
class Problem:
    kind: str
    path: str
    url: str | None
    detail: str
    movable: bool = False  # something sits at the path, reached without a link: repair moves it aside

    def as_record(self) -> dict:
        return {"kind": self.kind, "path": _shown(self.path), "url": self.url, "detail": self.detail}


@dataclass
class CheckSummary:
    store: str
    repair: bool
    listed: int = 0
    whole: int = 0
    seen_on_disk: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    dropped: int = 0
    quarantined: int = 0
    not_repaired: int = 0
    quarantine: str | None = None
    finished: bool = True
    problems: list[dict] = field(default_factory=list)

    @property
    def found(self) -> int:
        return sum(self.counts.values())

    @property
    def exit_status(self) -> int:
        return int(ExitStatus.FAILURES if self.found or not self.finished else ExitStatus.OK)

    def lines(self) -> list[str]:
        bad_entries = sum(self.counts.get(kind, 0) for kind in ENTRY_KINDS)
        strays = sum(self.counts.get(kind, 0) for kind in STRAY_KINDS)
        out = [f"imagescraper checkstore ({self.store}):"]
        out.append(f"  listed:          {self.listed}")
        out.append(f"  whole:           {self.whole}")
        out.append(f"  bad:             {bad_entries}")
        out += [f"    {kind}: {self.counts[kind]}" for kind in ENTRY_KINDS if self.counts.get(kind)]
        out.append(f"  unlisted:        {strays}")
        out += [f"    {kind}: {self.counts[kind]}" for kind in STRAY_KINDS if self.counts.get(kind)]
        if self.repair:
            text = f"dropped {self.dropped} entries (the next crawl fetches them again)"
            text += f", moved {self.quarantined} to {self.quarantine}" if self.quarantined else ""
            text += f"; {self.not_repaired} could not be repaired (see the log)" if self.not_repaired else ""
            out.append(f"  repaired:        {text}")
        elif bad_entries or strays:
            out.append(
                f"  repaired:        nothing; --repair drops the {bad_entries} bad entries and moves"
                f" what is at their paths and the {strays} unlisted ones aside"
            )
        if not self.finished:
            out.append("  NOT FINISHED (interrupted): the store was not checked to its end")
        meaning = "the store is whole" if self.exit_status == 0 else "problems found"
        out.append(f"  exit status:     {self.exit_status} ({meaning})")
        return out


class _Unsafe(Exception):
    """An indexed path that cannot be opened without following a link or leaving the store."""


class StoreCheck:
    def __init__(self, store: ImageStore, *, repair: bool, progress: Callable[..., None] | None = None):
        self.store = store
        self.repair = repair
        # progress(text) as the check goes, progress(text, final=True) once at the end.
        self.progress = progress or (lambda text, final=False: None)
        self.summary = CheckSummary(str(store.root), repair)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.quarantine_root = store.meta_dir / "quarantine" / stamp

    def run(self) -> CheckSummary:
        root_fd = os.open(self.store.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            total = self.store.index.count()
            for entry in self.store.index.entries():
                self._check_entry(root_fd, entry)
                self._tick(f"checked {self.summary.listed}/{total} listed files")
            self.store.flush()
            self._walk(root_fd, "")
            self.progress(self._progress_text(f"checked {self.summary.listed}/{total} listed files"), final=True)
        except KeyboardInterrupt:
            self.summary.finished = False
        finally:
            os.close(root_fd)
        if self.summary.quarantined:
            self.summary.quarantine = str(self.quarantine_root.relative_to(self.store.root))
        return self.summary

    # -- pass 1: every listed file ---------------------------------------------------------------
    def _check_entry(self, root_fd: int, entry: ImageEntry) -> None:
        self.summary.listed += 1
        problem = _verify(root_fd, entry)
        if problem is None:
            self.summary.whole += 1
            return
        self._report(problem)
        if not self.repair:
            return
        if problem.movable:
            try:
                parent = _open_parent(root_fd, entry.path)
            except (OSError, _Unsafe) as exc:
                self._not_repaired(entry.path, exc)
                return
            try:
                if not self._move_aside(parent, entry.path.rsplit("/", 1)[-1], entry.path):
                    return
            finally:
                os.close(parent)
        self.store.drop(entry.url, entry.path, problem.kind)
        self.summary.dropped += 1

    # -- pass 2: everything on disk --------------------------------------------------------------
    def _walk(self, dir_fd: int, prefix: str) -> None:
        # Streamed, not sorted: a urlfile job keeps every image of a host in one folder.
        with os.scandir(dir_fd) as listing:
            for item in listing:
                self._look_at(dir_fd, prefix, item)

    def _look_at(self, dir_fd: int, prefix: str, item: os.DirEntry) -> None:
        name = item.name
        relative = prefix + name
        if not prefix and name == META_DIR:
            return
        self.summary.seen_on_disk += 1
        self._tick(f"looked at {self.summary.seen_on_disk} files on disk")
        if item.is_dir(follow_symlinks=False):
            try:
                child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
            except OSError as exc:
                self._report(Problem("unreadable-folder", relative, None, f"cannot be opened: {exc.strerror}"))
                return
            try:
                self._walk(child, relative + "/")
            finally:
                os.close(child)
            return
        if _listed(self.store, relative):
            return  # the first pass checked it
        if item.is_symlink():
            problem = Problem("symlink", relative, None, f"points to {_shown(os.readlink(name, dir_fd=dir_fd))}")
        elif item.is_file(follow_symlinks=False):
            problem = Problem("file", relative, None, "the index does not list it")
        else:
            problem = Problem("special-file", relative, None, "a socket, pipe or device")
        self._report(problem)
        if self.repair:
            self._move_aside(dir_fd, name, relative)

    # -- reporting and repairing -----------------------------------------------------------------
    def _report(self, problem: Problem) -> None:
        self.summary.counts[problem.kind] = self.summary.counts.get(problem.kind, 0) + 1
        if len(self.summary.problems) < MAX_LISTED_PROBLEMS:
            self.summary.problems.append(problem.as_record())
        source = f" ({problem.url})" if problem.url else ""
        word = ENTRY_KINDS.get(problem.kind) or STRAY_KINDS[problem.kind]
        logger.warning("%s %s%s: %s", word, _shown(problem.path), source, problem.detail)

    def _move_aside(self, dir_fd: int, name: str, relative: str) -> bool:
        """Move *name* in the folder *dir_fd* (a link as the link itself) to the quarantine folder."""
        target = self.quarantine_root / relative
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            for number in range(1, 1000):  # rename() would replace what an earlier repair put there
                if not os.path.lexists(target):
                    break
                target = target.with_name(f"{target.name}.{number}")
            os.rename(name, target, src_dir_fd=dir_fd)
        except OSError as exc:
            self._not_repaired(relative, exc)
            return False
        self.summary.quarantined += 1
        return True

    def _not_repaired(self, relative: str, exc: Exception) -> None:
        logger.error("Could not move %s aside: %s", _shown(relative), getattr(exc, "strerror", None) or exc)
        self.summary.not_repaired += 1

    def _tick(self, text: str) -> None:
        self.progress(self._progress_text(text))

    def _progress_text(self, text: str) -> str:
        return f"{text} | problems {self.summary.found}"


def _verify(root_fd: int, entry: ImageEntry) -> Problem | None:
    def problem(kind: str, detail: str, movable: bool = False) -> Problem:
        return Problem(kind, entry.path, entry.url, detail, movable)

    if not _plain_path(entry.path):
        return problem("bad-path", "the listed path is not a plain path inside the store")
    try:
        parent = _open_parent(root_fd, entry.path)
    except FileNotFoundError:
        return problem("missing", "no file at this path")
    except _Unsafe as exc:
        return problem("not-a-file", str(exc))
    try:
        fd = os.open(entry.path.rsplit("/", 1)[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=parent)
    except FileNotFoundError:
        return problem("missing", "no file at this path")
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return problem("not-a-file", "a symlink, not followed", movable=True)
        return problem("unreadable", f"cannot be opened: {exc.strerror}", movable=True)
    finally:
        os.close(parent)
    with open(fd, "rb", buffering=0) as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return problem("not-a-file", "a folder" if stat.S_ISDIR(info.st_mode) else "a special file", True)
        if info.st_size < entry.bytes:
            return problem("cut", f"{info.st_size} of {entry.bytes} bytes", movable=True)
        if info.st_size > entry.bytes:
            return problem("altered", f"{info.st_size} bytes where {entry.bytes} were stored", movable=True)
        try:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError as exc:  # a bad disk sector, say
            return problem("unreadable", f"cannot be read: {exc.strerror}", movable=True)
        if digest != entry.sha256:
            return problem("altered", "the SHA-256 differs from the stored one", movable=True)
    return None


def _open_parent(root_fd: int, relative: str) -> int:
    """The folder holding *relative*, opened one segment at a time, never through a link."""
    fd = os.dup(root_fd)
    try:
        for part in relative.split("/")[:-1]:
            try:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    raise FileNotFoundError(relative) from None
                raise _Unsafe("a folder on its path is a symlink or not a folder, not followed") from None
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _plain_path(path: str) -> bool:
    return bool(path) and all(part and not part.startswith(".") for part in path.split("/"))


def _listed(store: ImageStore, relative: str) -> bool:
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        return False  # a name that is not UTF-8 was never written by a crawl
    return store.index.has_path(relative)


def _shown(path: str) -> str:
    """A name from disk as printable text (names that are not UTF-8 keep their bytes escaped)."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
