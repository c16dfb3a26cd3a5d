"""The lines of ``manifest.jsonl``: how they are built from a stored image and read back.

The manifest is the store's human-readable, append-only record and the source the index is
rebuilt from. Two kinds of line:

- an image line: ``url``, ``path``, ``sha256``, ``bytes``, ``width``, ``height``, ``format``,
  ``frames``, ``title``, ``stored_at``, then whatever the spider supplied (post URL, tags...);
- a drop line, written by ``scrapy checkstore --repair``: ``url``, ``path``, ``dropped`` (why)
  and ``dropped_at``; the URL is no longer stored, so the next run fetches it again.

For one URL the last line wins. Spider-supplied fields sit beside the core ones, so that
``jq .post_url`` works, but can never replace them: a spider field named like a core field is
left out of the line (and the run says so once per field name).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from imagescraper.identity import canonical_url

# Fields the store owns. "dropped" and "dropped_at" mark drop lines, so no spider may send them either.
CORE_FIELDS = frozenset(
    {"url", "path", "sha256", "bytes", "width", "height", "format", "frames", "title", "stored_at"}
    | {"dropped", "dropped_at"}
)


@dataclass(frozen=True)
class ImageEntry:
    """One stored image as the manifest and the index know it."""

    key: str  # the canonical URL
    url: str
    path: str
    bytes: int
    sha256: str
    format: str | None = None
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    title: str | None = None
    stored_at: str | None = None
    extra: str | None = None  # the spider's fields, as JSON text


@dataclass(frozen=True)
class DropEntry:
    key: str
    url: str
    path: str
    reason: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def image_line(entry: ImageEntry, extra: dict | None) -> tuple[bytes, list[str]]:
    """The manifest line of *entry*, and the spider fields left out because they collide.

    Values the spider supplies that JSON cannot hold (a datetime, say) are written as text:
    the line is built before the image is written, and can never fail after.
    """
    record = {
        "url": entry.url,
        "path": entry.path,
        "sha256": entry.sha256,
        "bytes": entry.bytes,
        "width": entry.width,
        "height": entry.height,
        "format": entry.format,
        "frames": entry.frames,
        "title": entry.title,
        "stored_at": entry.stored_at or _now(),
    }
    ignored = sorted(name for name in (extra or {}) if name in CORE_FIELDS)
    spider_fields = {name: value for name, value in (extra or {}).items() if name not in CORE_FIELDS}
    record.update(spider_fields)
    return _encode(record), ignored


def spider_fields_json(extra: dict | None) -> str | None:
    """The spider's own fields as the index stores them (core names left out), or None."""
    kept = {name: value for name, value in (extra or {}).items() if name not in CORE_FIELDS}
    return json.dumps(kept, ensure_ascii=False, separators=(",", ":"), default=str) if kept else None


def drop_line(url: str, path: str, reason: str) -> bytes:
    return _encode({"url": url, "path": path, "dropped": reason, "dropped_at": _now()})


def _encode(record: dict) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode("utf-8")


def parse_line(line: bytes) -> ImageEntry | DropEntry | None:
    """The entry a manifest line holds, or None for a line cut by a crash or edited by hand."""
    try:
        record = json.loads(line)
        url = record["url"]
        path = record["path"]
        if not isinstance(url, str) or not isinstance(path, str):
            return None
        if "dropped" in record:
            return DropEntry(canonical_url(url), url, path, str(record["dropped"]))
        size, sha256 = int(record["bytes"]), record["sha256"]
        if not isinstance(sha256, str):
            return None
        extra = {name: value for name, value in record.items() if name not in CORE_FIELDS}
        return ImageEntry(
            key=canonical_url(url),
            url=url,
            path=path,
            bytes=size,
            sha256=sha256,
            format=record.get("format"),
            width=record.get("width"),
            height=record.get("height"),
            frames=record.get("frames"),
            title=record.get("title"),
            stored_at=record.get("stored_at"),
            extra=json.dumps(extra, ensure_ascii=False, separators=(",", ":")) if extra else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def read_from(path, offset: int) -> Iterator[tuple[ImageEntry | DropEntry | None, int]]:
    """Each complete line of the manifest at *path* from byte *offset* on, parsed, with the
    offset just past it. A last line without its newline (cut by a crash) is not yielded."""
    with open(path, "rb") as manifest:
        manifest.seek(offset)
        end = offset
        for line in manifest:
            if not line.endswith(b"\n"):
                return
            end += len(line)
            yield parse_line(line), end
