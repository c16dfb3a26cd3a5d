"""Manifest lines: the store's own fields always win over what a spider supplies."""

from __future__ import annotations

import json
from datetime import datetime

from imagescraper import manifest
from imagescraper.manifest import DropEntry, ImageEntry, image_line, parse_line

ENTRY = ImageEntry(
    key="http://h/a.jpg",
    url="http://h/a.jpg",
    path="t/a-1.jpg",
    bytes=1234,
    sha256="ab" * 32,
    format="JPEG",
    width=20,
    height=10,
    frames=1,
    title="t",
    stored_at="2026-11-30T01:00:00+00:00",
)
HOSTILE = {
    "url": "http://evil/x.jpg",
    "path": "../../etc/passwd",
    "sha256": "0" * 64,
    "bytes": 1,
    "width": 0,
    "stored_at": "never",
    "dropped": "yes",
    "post_url": "http://blog/post/1",
    "tags": ["春", "a"],
}


def test_spider_fields_never_replace_core_fields():
    line, ignored = image_line(ENTRY, HOSTILE)
    record = json.loads(line)

    assert ignored == ["bytes", "dropped", "path", "sha256", "stored_at", "url", "width"]
    assert record["url"] == "http://h/a.jpg" and record["path"] == "t/a-1.jpg"
    assert (record["sha256"], record["bytes"], record["width"]) == ("ab" * 32, 1234, 20)
    assert record["stored_at"] == "2026-11-30T01:00:00+00:00"
    assert "dropped" not in record
    assert record["post_url"] == "http://blog/post/1" and record["tags"] == ["春", "a"]
    assert line.endswith(b"\n") and line.count(b"\n") == 1


def test_a_line_reads_back_as_its_entry():
    line, _ = image_line(ENTRY, {"post_url": "p", "published": datetime(2026, 1, 2, 3, 4)})
    entry = parse_line(line)
    assert entry == ImageEntry(**{**ENTRY.__dict__, "extra": '{"post_url":"p","published":"2026-01-02 03:04:00"}'})
    dropped = parse_line(manifest.drop_line("http://h/a.jpg", "t/a-1.jpg", "cut"))
    assert dropped == DropEntry("http://h/a.jpg", "http://h/a.jpg", "t/a-1.jpg", "cut")


def test_cut_or_foreign_lines_read_as_nothing(tmp_path):
    for bad in (b'{"url": "http://h/b.jpg", "pa', b"[1, 2]\n", b'{"url": 5, "path": "x"}\n', b"\x00\x00\n"):
        assert parse_line(bad) is None
    path = tmp_path / "manifest.jsonl"
    whole, _ = image_line(ENTRY, {})
    path.write_bytes(whole + b"garbage\n" + whole[:30])
    assert [(type(e).__name__, end) for e, end in manifest.read_from(path, 0)] == [
        ("ImageEntry", len(whole)),
        ("NoneType", len(whole) + 8),
    ]
