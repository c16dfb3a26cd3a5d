from __future__ import annotations

import json
import logging
import multiprocessing
import os
import sqlite3

import pytest

from imagescraper import store as store_module
from imagescraper.identity import canonical_url
from imagescraper.manifest import ImageEntry, image_line
from imagescraper.startup_errors import InputError, StoreBusyError
from imagescraper.store import INDEX_BATCH, ImageStore, StoredImage
from imagescraper.storeindex import StoreIndex

FORK = multiprocessing.get_context("fork")


def _entry(url: str, path: str, body: bytes, **fields) -> ImageEntry:
    return ImageEntry(canonical_url(url), url, path, len(body), f"{len(body):064x}", format="JPEG", title="t", **fields)


def _add(store: ImageStore, url: str, path: str, body: bytes) -> StoredImage:
    entry = _entry(url, path, body)
    line, _ = image_line(entry, {})
    store.add(entry, body, line)
    return StoredImage(path, len(body), entry.sha256)


def _opened(root, durable=False) -> ImageStore:
    # Syncing costs milliseconds per file on a real disk; only the durability tests pay for it.
    store = ImageStore(root, durable=durable)
    store.open()
    return store


def _manifest(root) -> list[dict]:
    return [json.loads(line) for line in (root / ".imagescraper" / "manifest.jsonl").read_bytes().splitlines() if line]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_add_writes_the_file_its_manifest_line_and_its_index_row(tmp_path):
    store = _opened(tmp_path, durable=True)
    _add(store, "http://h/a.jpg", "h/a-1.jpg", b"bytes")

    assert (tmp_path / "h" / "a-1.jpg").read_bytes() == b"bytes"
    assert oct((tmp_path / "h" / "a-1.jpg").stat().st_mode & 0o777) == oct(0o644 & ~_umask())
    [record] = _manifest(tmp_path)
    assert (record["url"], record["path"], record["bytes"]) == ("http://h/a.jpg", "h/a-1.jpg", 5)
    assert list(store.incoming.iterdir()) == []
    store.close()
    reader = StoreIndex.open_reader(tmp_path)
    assert reader.get(canonical_url("http://h/a.jpg")).path == "h/a-1.jpg"
    reader.close()


def test_lookup_checks_the_file_on_disk(tmp_path):
    store = _opened(tmp_path)
    image = _add(store, "http://h/a.jpg", "h/a-1.jpg", b"12345")
    assert store.lookup("http://h/a.jpg") == image
    (tmp_path / "h" / "a-1.jpg").write_bytes(b"123")
    assert store.lookup("http://h/a.jpg") is None
    (tmp_path / "h" / "a-1.jpg").unlink()
    assert store.lookup("http://h/a.jpg") is None
    assert store.lookup("http://h/other.jpg") is None
    store.close()


def test_a_manifest_line_pointing_outside_the_store_never_counts_as_stored(tmp_path):
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"12345")
    root = tmp_path / "store"
    (root / ".imagescraper").mkdir(parents=True)
    for path in (str(outside), "../outside.jpg"):
        line = {"url": f"http://h/{len(path)}.jpg", "path": path, "bytes": 5, "sha256": "0" * 64}
        with (root / ".imagescraper" / "manifest.jsonl").open("a") as manifest:
            manifest.write(json.dumps(line) + "\n")
    store = _opened(root)
    assert store.lookup(canonical_url(f"http://h/{len(str(outside))}.jpg")) is None
    assert store.lookup(canonical_url("http://h/14.jpg")) is None
    store.close()


def test_lookups_after_reopening_read_the_index_not_the_manifest(tmp_path, caplog):
    store = _opened(tmp_path)
    for n in range(200):
        _add(store, f"http://h/{n}.jpg", f"h/{n}.jpg", b"x" * (n + 1))
    store.close()
    # The index alone answers: a manifest emptied behind its back would be noticed, but a
    # lookup never reads it.
    reopened = _opened(tmp_path)
    with caplog.at_level(logging.INFO):
        assert reopened.lookup("http://h/150.jpg") == StoredImage("h/150.jpg", 151, f"{151:064x}")
        assert reopened.lookup("http://h/200.jpg") is None
    assert "Store index" not in caplog.text
    reopened.close()


def test_a_missing_index_is_rebuilt_from_the_manifest_in_one_line(tmp_path, caplog):
    store = _opened(tmp_path)
    _add(store, "http://h/a.jpg", "h/a.jpg", b"aaaa")
    _add(store, "http://h/b.jpg", "h/b.jpg", b"bbbbb")
    store.close()
    (tmp_path / ".imagescraper" / "index.sqlite").unlink()

    with caplog.at_level(logging.INFO, logger="imagescraper.store"):
        reopened = _opened(tmp_path)
    assert [r.getMessage() for r in caplog.records] == [
        "Store index rebuilt from the manifest: 2 images (the index was missing)"
    ]
    assert reopened.lookup("http://h/b.jpg").size == 5
    reopened.close()


def test_a_new_store_says_nothing_about_its_index(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="imagescraper.store"):
        _opened(tmp_path / "new").close()
    assert caplog.records == []


def _store_then_die(root, count):
    """A run killed after writing manifest lines and before their index rows."""
    store_module.INDEX_BATCH_SECONDS = 3600  # in this forked child only: nothing is flushed by time
    store = _opened(root)
    for n in range(count):
        _add(store, f"http://h/{n}.jpg", f"h/{n}.jpg", b"z" * 10)
    os._exit(0)  # no close(): the batch of index rows is lost, as with kill -9


def test_an_index_behind_the_manifest_catches_up(tmp_path, caplog):
    store = _opened(tmp_path)
    _add(store, "http://h/first.jpg", "h/first.jpg", b"first")
    store.close()
    process = FORK.Process(target=_store_then_die, args=(tmp_path, 5))
    process.start()
    process.join(30)
    assert len(_manifest(tmp_path)) == 6
    assert StoreIndex.open_reader(tmp_path).count() == 1

    with caplog.at_level(logging.INFO, logger="imagescraper.store"):
        reopened = _opened(tmp_path)
    assert [r.getMessage() for r in caplog.records] == [
        "Store index caught up with the manifest: 5 line(s) it did not hold yet"
        " (the last run stopped before recording them)"
    ]
    assert all(reopened.lookup(f"http://h/{n}.jpg") for n in range(5))
    assert reopened.lookup("http://h/first.jpg")
    assert reopened.index.count() == 6
    reopened.close()


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["garbage", "empty-file", "half"])
def test_a_corrupt_index_is_rebuilt(tmp_path, caplog, damage):
    store = _opened(tmp_path)
    for n in range(300):
        _add(store, f"http://h/{n}.jpg", f"h/{n}.jpg", b"c" * 7)
    store.close()
    index = tmp_path / ".imagescraper" / "index.sqlite"
    if damage == "garbage":
        index.write_bytes(b"this is not a database" * 500)
    elif damage == "empty-file":
        index.write_bytes(b"")
    else:
        index.write_bytes(index.read_bytes()[:8192])

    with caplog.at_level(logging.INFO, logger="imagescraper.store"):
        reopened = _opened(tmp_path)
        found = [reopened.lookup(f"http://h/{n}.jpg") for n in range(300)]
    assert all(found)
    assert reopened.index.count() == 300
    assert len(caplog.records) >= 1
    assert caplog.records[-1].getMessage().startswith("Store index rebuilt from the manifest: 300 images (")
    reopened.close()


def test_an_index_of_another_version_is_rebuilt(tmp_path, caplog):
    store = _opened(tmp_path)
    _add(store, "http://h/a.jpg", "h/a.jpg", b"aaaa")
    store.close()
    with sqlite3.connect(tmp_path / ".imagescraper" / "index.sqlite") as db:
        db.execute("PRAGMA user_version = 99")
    with caplog.at_level(logging.INFO, logger="imagescraper.store"):
        reopened = _opened(tmp_path)
    assert "(the index was made by another version)" in caplog.text
    assert reopened.lookup("http://h/a.jpg")
    reopened.close()


def test_a_manifest_replaced_by_hand_rebuilds_the_index(tmp_path, caplog):
    store = _opened(tmp_path)
    _add(store, "http://h/a.jpg", "h/a.jpg", b"aaaa")
    _add(store, "http://h/b.jpg", "h/b.jpg", b"bbbb")
    store.close()
    manifest = tmp_path / ".imagescraper" / "manifest.jsonl"
    first_line = manifest.read_bytes().splitlines(keepends=True)[0]
    manifest.write_bytes(first_line)  # someone removed b's line

    with caplog.at_level(logging.INFO, logger="imagescraper.store"):
        reopened = _opened(tmp_path)
    assert "(the manifest no longer matches the index (replaced or cut))" in caplog.text
    assert reopened.lookup("http://h/a.jpg") and reopened.lookup("http://h/b.jpg") is None
    reopened.close()


def test_a_cut_last_manifest_line_is_skipped_and_does_not_swallow_the_next(tmp_path, caplog):
    store = _opened(tmp_path)
    _add(store, "http://h/a.jpg", "h/a-1.jpg", b"aaaa")
    store.close()
    with open(tmp_path / ".imagescraper" / "manifest.jsonl", "ab") as manifest:
        manifest.write(b'{"url": "http://h/b.jpg", "pa')

    with caplog.at_level(logging.INFO, logger="imagescraper.store"):
        reopened = _opened(tmp_path)
    assert "The manifest's last line was cut by a crash" in caplog.text
    assert reopened.lookup("http://h/a.jpg").path == "h/a-1.jpg"
    assert reopened.lookup("http://h/b.jpg") is None
    _add(reopened, "http://h/c.jpg", "h/c.jpg", b"cc")
    reopened.close()
    (tmp_path / ".imagescraper" / "index.sqlite").unlink()

    rebuilt = _opened(tmp_path)
    assert rebuilt.lookup("http://h/c.jpg") and rebuilt.index.count() == 2
    rebuilt.close()


def test_replace_keeps_one_current_entry_and_the_manifest_keeps_history(tmp_path):
    store = _opened(tmp_path)
    _add(store, "http://h/a.jpg", "old/a.jpg", b"old")
    _add(store, "http://h/a.jpg", "new/a.jpg", b"newer")
    assert store.lookup("http://h/a.jpg").path == "new/a.jpg"
    store.close()
    assert [r["path"] for r in _manifest(tmp_path)] == ["old/a.jpg", "new/a.jpg"]
    reader = StoreIndex.open_reader(tmp_path)
    assert reader.count() == 1 and reader.get(canonical_url("http://h/a.jpg")).path == "new/a.jpg"
    reader.close()

    (tmp_path / ".imagescraper" / "index.sqlite").unlink()
    rebuilt = _opened(tmp_path)
    assert rebuilt.lookup("http://h/a.jpg") == StoredImage("new/a.jpg", 5, f"{5:064x}")  # the last line wins
    assert rebuilt.index.count() == 1
    rebuilt.close()


def test_a_dropped_url_stays_dropped_after_a_rebuild(tmp_path):
    store = _opened(tmp_path)
    _add(store, "http://h/a.jpg", "h/a.jpg", b"aaaa")
    store.drop("http://h/a.jpg", "h/a.jpg", "altered")
    assert store.lookup("http://h/a.jpg") is None
    store.close()
    assert _manifest(tmp_path)[-1]["dropped"] == "altered"
    (tmp_path / ".imagescraper" / "index.sqlite").unlink()
    rebuilt = _opened(tmp_path)
    assert rebuilt.lookup("http://h/a.jpg") is None and rebuilt.index.count() == 0
    rebuilt.close()


def test_open_clears_leftovers_of_a_killed_run(tmp_path):
    incoming = tmp_path / ".imagescraper" / "incoming"
    incoming.mkdir(parents=True)
    (incoming / "dead.part").write_bytes(b"half")
    _opened(tmp_path).close()
    assert list(incoming.iterdir()) == []


def test_durable_writes_sync_the_file_and_its_folder(tmp_path, monkeypatch):
    synced_files = []
    monkeypatch.setattr(store_module, "sync_file", lambda fd: synced_files.append(os.readlink(f"/proc/self/fd/{fd}")))
    store = _opened(tmp_path / "durable", durable=True)
    _add(store, "http://h/a.jpg", "h/a.jpg", b"aaaa")
    assert len(synced_files) == 1 and synced_files[0].endswith(".part")
    assert store.directory_syncs.syncs == 2  # the new folder h/ in the store root, then h/ itself
    _add(store, "http://h/b.jpg", "h/b.jpg", b"bbbb")
    assert store.directory_syncs.syncs == 3
    store.close()

    synced_files.clear()
    throwaway = _opened(tmp_path / "throwaway", durable=False)
    _add(throwaway, "http://h/a.jpg", "h/a.jpg", b"aaaa")
    assert synced_files == [] and throwaway.directory_syncs.syncs == 0
    throwaway.close()


def test_a_symlink_planted_in_the_store_is_never_written_through(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "store"
    store = _opened(root)
    (root / "h").symlink_to(outside)
    with pytest.raises(OSError, match="is not a folder of the store"):
        _add(store, "http://h/a.jpg", "h/a.jpg", b"aaaa")
    assert list(outside.iterdir()) == [] and store.lookup("http://h/a.jpg") is None
    store.close()


def _try_lock(root, queue):
    try:
        ImageStore(root).open()
        queue.put("locked")
    except StoreBusyError as exc:
        queue.put(str(exc))


def test_a_second_process_cannot_open_a_locked_store(tmp_path):
    store = _opened(tmp_path)
    queue = FORK.Queue()
    process = FORK.Process(target=_try_lock, args=(tmp_path, queue))
    process.start()
    process.join(30)
    message = queue.get(timeout=5)
    assert "is in use by another run" in message and f"pid {os.getpid()}" in message
    store.close()
    process = FORK.Process(target=_try_lock, args=(tmp_path, queue))
    process.start()
    process.join(30)
    assert queue.get(timeout=5) == "locked"


def test_an_image_after_a_quiet_spell_is_indexed_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "INDEX_BATCH_SECONDS", 0.0)
    store = _opened(tmp_path)
    _add(store, "http://h/alone.jpg", "h/alone.jpg", b"alone")
    reader = StoreIndex.open_reader(tmp_path)
    assert reader.get(canonical_url("http://h/alone.jpg")).path == "h/alone.jpg"
    reader.close()
    store.close()


def _read_index(root, queue):
    reader = StoreIndex.open_reader(root)
    queue.put((reader.count(), reader.get(canonical_url("http://h/0.jpg")).path))
    reader.close()


def test_a_reader_opens_the_index_while_a_run_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "INDEX_BATCH_SECONDS", 3600)  # however slow the machine, one batch
    store = _opened(tmp_path)
    for n in range(INDEX_BATCH):  # a full batch is written to the index at once
        _add(store, f"http://h/{n}.jpg", f"h/{n}.jpg", b"r" * 3)
    queue = FORK.Queue()
    process = FORK.Process(target=_read_index, args=(tmp_path, queue))
    process.start()
    process.join(30)
    assert queue.get(timeout=5) == (INDEX_BATCH, "h/0.jpg")
    _add(store, "http://h/more.jpg", "h/more.jpg", b"more")  # the run goes on writing
    assert store.lookup("http://h/more.jpg")
    store.close()


def test_unwritable_store_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError) as error:
        ImageStore(blocker / "store").open()
    assert str(error.value) == f"image store '{blocker / 'store'}' cannot be created: Not a directory"


def test_opening_a_store_that_does_not_exist_without_creating_it(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        ImageStore(tmp_path / "nowhere").open(create=False)
    assert not (tmp_path / "nowhere").exists()


def test_an_index_whose_url_keys_are_stale_is_rebuilt(tmp_path, caplog):
    store = _opened(tmp_path)
    _add(store, "http://h/a.jpg", "h/a.jpg", b"aaaa")
    store.close()
    with sqlite3.connect(tmp_path / ".imagescraper" / "index.sqlite") as db:  # as if made by another identity.py
        db.execute("UPDATE state SET value = 'http://other/' WHERE name = 'key_probe'")
        db.execute("UPDATE images SET key = 'stale:' || key")
    with caplog.at_level(logging.INFO, logger="imagescraper.store"):
        reopened = _opened(tmp_path)
    assert "(URLs are compared differently since it was made)" in caplog.text
    assert reopened.lookup("http://h/a.jpg") and reopened.index.count() == 1
    reopened.close()


def test_an_index_that_breaks_during_a_run_is_rebuilt_from_the_manifest(tmp_path, caplog):
    store = _opened(tmp_path)
    _add(store, "http://h/a.jpg", "h/a.jpg", b"aaaa")
    store.flush()
    broken = store.index

    def disk_error(key):
        raise sqlite3.DatabaseError("database disk image is malformed")

    broken.get = disk_error
    with caplog.at_level(logging.INFO, logger="imagescraper.store"):
        assert store.lookup("http://h/a.jpg") == StoredImage("h/a.jpg", 4, f"{4:064x}")
    assert store.index is not broken
    assert "The store index failed (database disk image is malformed): rebuilding it from the manifest" in caplog.text
    assert "Store index rebuilt from the manifest: 1 image (the index was missing)" in caplog.text
    _add(store, "http://h/b.jpg", "h/b.jpg", b"bb")
    store.close()
    assert StoreIndex.open_reader(tmp_path).count() == 2


def test_a_file_reaches_the_disk_before_anything_records_it(tmp_path, monkeypatch):
    events = []
    store = _opened(tmp_path, durable=True)
    monkeypatch.setattr(store_module, "sync_file", lambda fd: events.append("sync file"))
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("rename"), real_replace(a, b))[1])
    store.directory_syncs = store_module.DirectorySyncs(sync=lambda path: events.append(f"sync {path.name}/"))
    real_append = store._append
    monkeypatch.setattr(store, "_append", lambda data: (events.append("manifest line"), real_append(data))[1])
    real_apply = store.index.apply
    monkeypatch.setattr(store.index, "apply", lambda *a: (events.append("index rows"), real_apply(*a))[1])

    _add(store, "http://h/a.jpg", "h/a.jpg", b"aaaa")
    store.close()
    assert events == [f"sync {tmp_path.name}/", "sync file", "rename", "sync h/", "manifest line", "index rows"]
