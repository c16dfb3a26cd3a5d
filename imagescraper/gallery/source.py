"""What the gallery reads from the image store: the manifest lines added since the last build.

This is the only module that knows where stored images are listed. Today that is the
append-only ``manifest.jsonl``; if the store keeps an index beside it, a reader with the same
two calls (:meth:`ManifestSource.read_since` returning records and a new position) replaces
this one and nothing else changes.

A build remembers a :class:`Position`: the byte offset up to which the manifest was read, the
file's inode and a digest of the bytes just before the offset. If the file was replaced or cut
(the inode or those bytes differ, or it is shorter than the offset) the next build reads it from
the start. Only whole lines are read, so a line being appended by a running crawl is picked up
by the next build.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

MANIFEST = Path(".imagescraper") / "manifest.jsonl"
_TAIL = 64  # bytes before the offset that must be unchanged for an incremental read


@dataclass(frozen=True)
class StoredRecord:
    """One stored image as the manifest describes it (all text is untrusted)."""

    url: str
    path: str  # relative to the store, "/"-separated, already checked by safe_store_path
    sha256: str
    size: int
    width: int
    height: int
    format: str
    frames: int
    title: str
    stored_at: str
    post_url: str = ""
    post_title: str = ""
    tags: tuple[str, ...] = ()
    published: str = ""
    media: str = ""  # "video" for a video (lofter -a videos=true), "" for an image

    @property
    def is_video(self) -> bool:
        return self.media == "video"

    @property
    def folder(self) -> str:
        return self.path.rpartition("/")[0]

    @property
    def file_name(self) -> str:
        return self.path.rpartition("/")[2]

    def to_json(self) -> dict:
        data = {k: v for k, v in self.__dict__.items() if v not in ("", ())}
        data["tags"] = list(self.tags)
        return data

    @classmethod
    def from_json(cls, data: dict) -> StoredRecord:
        return cls(**{**data, "tags": tuple(data.get("tags", ()))})


@dataclass(frozen=True)
class DroppedRecord:
    """A drop line (``scrapy checkstore --repair``): the image at *path* is no longer stored."""

    path: str

    @property
    def folder(self) -> str:
        return self.path.rpartition("/")[0]


@dataclass(frozen=True)
class Position:
    offset: int = 0
    inode: int = 0
    tail: str = ""


def safe_store_path(path: object) -> str | None:
    """*path* if it names a file inside a folder of the store, else None.

    The pipeline only writes cleaned names, but the manifest is a text file anyone with access
    can edit: a line pointing outside the store, at a dotfile or at the meta folder is ignored.
    """
    if not isinstance(path, str) or "\\" in path or "\x00" in path or path.startswith("/"):
        return None
    segments = path.split("/")
    if len(segments) < 2 or any(not s or s.startswith(".") for s in segments):
        return None
    return path


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def parse_record(line: bytes) -> StoredRecord | DroppedRecord | None:
    """One manifest line as a record, or None when it is cut, edited or points outside."""
    try:
        data = json.loads(line)
        path = safe_store_path(data["path"])
        if "dropped" in data:
            return DroppedRecord(path) if path else None
        sha = data["sha256"]
        if path is None or not isinstance(sha, str) or len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha):
            return None
        tags = data.get("tags") or ()
        return StoredRecord(
            url=_text(data.get("url")),
            path=path,
            sha256=sha,
            size=int(data["bytes"]),
            width=int(data.get("width") or 0),
            height=int(data.get("height") or 0),
            format=_text(data.get("format")) or "?",
            frames=int(data.get("frames") or 1),
            title=_text(data.get("title")),
            stored_at=_text(data.get("stored_at")),
            post_url=_text(data.get("post_url")),
            post_title=_text(data.get("post_title")),
            tags=tuple(t for t in tags if isinstance(t, str) and t.strip()) if isinstance(tags, list) else (),
            published=_text(data.get("published")),
            media="video" if data.get("media") == "video" else "",
        )
    except (ValueError, KeyError, TypeError):
        return None


class ManifestSource:
    def __init__(self, store_root: str | os.PathLike[str]):
        self.store_root = Path(store_root)
        self.path = self.store_root / MANIFEST
        self.skipped_lines = 0
        self.new_records = 0

    def read_since(
        self, position: Position | None, known: Position | None = None
    ) -> tuple[list[StoredRecord | DroppedRecord], Position, bool]:
        """Records added after *position*, the position to remember, and whether the whole
        manifest was read (no position, or the file is not the one the position describes).

        ``self.new_records`` counts the records after *known* (default *position*): a full
        build reads every line but only those past the last build's position are new.
        """
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            self.new_records = 0
            return [], Position(), True
        with handle:
            stat = os.fstat(handle.fileno())
            start = self._valid_offset(handle, stat, position)
            new_from = start if known is None else self._valid_offset(handle, stat, known)
            handle.seek(start)
            data = handle.read()
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next build
        records = []
        self.new_records = 0
        line_start = start
        for line in data[:end].splitlines(keepends=True):
            at, line_start = line_start, line_start + len(line)
            if not line.strip():
                continue
            record = parse_record(line)
            if record is None:
                self.skipped_lines += 1
            else:
                records.append(record)
                self.new_records += at >= new_from
        offset = start + end
        with self.path.open("rb") as handle:
            tail = self._tail(handle, offset)
        return records, Position(offset, stat.st_ino, tail), start == 0

    def _valid_offset(self, handle, stat, position: Position | None) -> int:
        """*position*'s offset if it still describes this file, else 0."""
        if position and position.inode == stat.st_ino and position.offset <= stat.st_size:
            if self._tail(handle, position.offset) == position.tail:
                return position.offset
        return 0

    @staticmethod
    def _tail(handle, offset: int) -> str:
        begin = max(0, offset - _TAIL)
        handle.seek(begin)
        return hashlib.sha256(handle.read(offset - begin)).hexdigest()[:32]
