"""Manifest lines: the store's own fields always win over what a spider supplies."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from scrapy.utils.test import get_crawler

from demo import images
from imagescraper import manifest, settings
from imagescraper.items import ImageItem
from imagescraper.manifest import DropEntry, ImageEntry, image_line, parse_line, url_key
from imagescraper.pipelines import OriginalImagesPipeline
from imagescraper.storeindex import StoreIndex

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


def test_the_pipeline_keeps_core_fields_and_says_which_spider_fields_it_left_out(tmp_path, caplog):
    project = {name: getattr(settings, name) for name in dir(settings) if name.isupper()}
    crawler = get_crawler(settings_dict={**project, "IMAGES_STORE": str(tmp_path), "IMAGESCRAPER_DURABLE": False})
    pipeline = OriginalImagesPipeline.from_crawler(crawler)
    body = images.jpeg("fields")
    url = "http://h.example/photo.jpg"
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(2):
                item = ImageItem(image_urls=[url], post_title="My title", extra=HOSTILE)
                stored = pipeline._validate_and_store(url, url_key(url), body, item)
    finally:
        pipeline._release_store()

    records = [json.loads(line) for line in (tmp_path / ".imagescraper/manifest.jsonl").read_bytes().splitlines()]
    assert len(records) == 2
    record = records[-1]
    assert record["url"] == url and record["path"] == stored.path and not stored.path.startswith("..")
    assert (record["sha256"], record["bytes"]) == (images.sha256(body), len(body))
    assert record["title"] == "My title" and record["post_url"] == "http://blog/post/1"
    assert (tmp_path / stored.path).read_bytes() == body
    warned = [r.getMessage() for r in caplog.records if "left out of the manifest" in r.getMessage()]
    assert len(warned) == 7  # once per field name, not once per image
    assert "Spider field 'path' left out of the manifest: the store owns that name" in warned
    index = StoreIndex.open_reader(tmp_path)
    entry = index.get(url_key(url))
    index.close()
    assert (entry.path, entry.sha256) == (stored.path, images.sha256(body))
    assert json.loads(entry.extra) == {"post_url": "http://blog/post/1", "tags": ["春", "a"]}
