"""The index on its own: one transaction per batch, paging, readers."""

from __future__ import annotations

import sqlite3

import pytest

from imagescraper.manifest import DropEntry, ImageEntry
from imagescraper.storeindex import StoreIndex


def _entry(n: int, path: str | None = None) -> ImageEntry:
    return ImageEntry(f"http://h/{n}", f"http://h/{n}", path or f"p/{n:04d}", n, f"{n:064x}")


@pytest.fixture
def index(tmp_path):
    meta = tmp_path / ".imagescraper"
    meta.mkdir()
    (meta / "manifest.jsonl").write_bytes(b"")
    opened, news = StoreIndex.open_writer(meta, meta / "manifest.jsonl")
    assert news is None
    yield opened
    opened.close()


def test_a_batch_and_the_offset_it_covers_are_written_together_or_not_at_all(index):
    index.apply([_entry(1)], 100, b"x")
    broken = ImageEntry("http://h/2", "http://h/2", "p/2", None, "0")  # NOT NULL bytes: the batch fails
    with pytest.raises(sqlite3.IntegrityError):
        index.apply([_entry(3), broken], 200, b"y")
    assert index.count() == 1 and index.covers() == 100
    assert index.get("http://h/3") is None


def test_a_drop_after_its_own_image_in_one_batch_wins(index):
    index.apply([_entry(1), DropEntry("http://h/1", "http://h/1", "p/0001", "cut"), _entry(2)], 10, b"z")
    assert index.get("http://h/1") is None and index.get("http://h/2").bytes == 2


def test_entries_come_by_path_a_page_at_a_time_even_when_paths_repeat(index):
    index.apply([_entry(n) for n in range(25)] + [_entry(100, "p/0003"), _entry(101, "p/0003")], 10, b"z")
    seen = [(e.path, e.key) for e in index.entries(page=4)]
    assert len(seen) == 27 and seen == sorted(seen)
    assert index.has_path("p/0003") and not index.has_path("p/9999")


def test_a_reader_needs_an_index_to_read(tmp_path):
    with pytest.raises(FileNotFoundError, match="run a crawl"):
        StoreIndex.open_reader(tmp_path)
