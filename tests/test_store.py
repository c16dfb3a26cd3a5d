from __future__ import annotations

import json
import multiprocessing
import os

import pytest

from imagescraper.errors import StoreBusyError
from imagescraper.store import ImageStore, StoredImage


def _add(store: ImageStore, url: str, path: str, body: bytes):
    image = StoredImage(path, len(body), "0" * 64)
    store.add(url, image, body, {"path": path, "sha256": image.sha256, "bytes": image.size})
    store.remember(url, image)
    return image


def test_add_writes_file_and_manifest_line(tmp_path):
    store = ImageStore(tmp_path)
    store.open()
    _add(store, "http://h/a.jpg", "h/a-1.jpg", b"bytes")

    assert (tmp_path / "h" / "a-1.jpg").read_bytes() == b"bytes"
    assert oct((tmp_path / "h" / "a-1.jpg").stat().st_mode & 0o777) == oct(0o644 & ~_umask())
    [line] = (tmp_path / ".imagescraper" / "manifest.jsonl").read_text().splitlines()
    assert json.loads(line)["url"] == "http://h/a.jpg"
    assert list(store.incoming.iterdir()) == []
    store.close()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_lookup_checks_the_file_on_disk(tmp_path):
    store = ImageStore(tmp_path)
    store.open()
    image = _add(store, "http://h/a.jpg", "h/a-1.jpg", b"12345")
    assert store.lookup("http://h/a.jpg") == image
    (tmp_path / "h" / "a-1.jpg").write_bytes(b"123")
    assert store.lookup("http://h/a.jpg") is None
    (tmp_path / "h" / "a-1.jpg").unlink()
    assert store.lookup("http://h/a.jpg") is None
    assert store.lookup("http://h/other.jpg") is None
    store.close()


def test_manifest_survives_a_cut_last_line_and_reloads(tmp_path):
    store = ImageStore(tmp_path)
    store.open()
    _add(store, "http://h/a.jpg", "h/a-1.jpg", b"aaaa")
    store.close()
    with open(tmp_path / ".imagescraper" / "manifest.jsonl", "ab") as manifest:
        manifest.write(b'{"url": "http://h/b.jpg", "pa')

    reopened = ImageStore(tmp_path)
    reopened.open()
    assert reopened.lookup("http://h/a.jpg").path == "h/a-1.jpg"
    assert reopened.lookup("http://h/b.jpg") is None
    reopened.close()


def test_open_clears_leftovers_of_a_killed_run(tmp_path):
    incoming = tmp_path / ".imagescraper" / "incoming"
    incoming.mkdir(parents=True)
    (incoming / "dead.part").write_bytes(b"half")
    store = ImageStore(tmp_path)
    store.open()
    assert list(incoming.iterdir()) == []
    store.close()


def _try_lock(root, queue):
    try:
        ImageStore(root).open()
        queue.put("locked")
    except StoreBusyError as exc:
        queue.put(str(exc))


def test_a_second_process_cannot_open_a_locked_store(tmp_path):
    store = ImageStore(tmp_path)
    store.open()
    queue = multiprocessing.get_context("fork").Queue()
    process = multiprocessing.get_context("fork").Process(target=_try_lock, args=(tmp_path, queue))
    process.start()
    process.join(30)
    message = queue.get(timeout=5)
    assert "is in use by another run" in message and f"pid {os.getpid()}" in message
    store.close()
    process = multiprocessing.get_context("fork").Process(target=_try_lock, args=(tmp_path, queue))
    process.start()
    process.join(30)
    assert queue.get(timeout=5) == "locked"


def test_unwritable_store_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(Exception, match="cannot be created"):
        ImageStore(blocker / "store").open()
