"""The store check in-process: every kind of damage, found and repaired, nothing followed or deleted."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from imagescraper.identity import canonical_url
from imagescraper.manifest import ImageEntry, image_line
from imagescraper.store import ImageStore
from imagescraper.storecheck import StoreCheck

BODIES = {f"h/{name}.jpg": f"image {name} ".encode() * 50 for name in ("a", "b", "c", "d")}


def _url(path: str) -> str:
    return f"http://h.example/{path.rsplit('/', 1)[1]}"


@pytest.fixture
def root(tmp_path) -> Path:
    root = tmp_path / "store"
    store = ImageStore(root, durable=False)
    store.open()
    for path, body in BODIES.items():
        url = _url(path)
        entry = ImageEntry(canonical_url(url), url, path, len(body), hashlib.sha256(body).hexdigest())
        store.add(entry, body, image_line(entry, {})[0])
    store.close()
    return root


def _check(root: Path, repair: bool = False, progress=None):
    store = ImageStore(root, durable=False)
    store.open(create=False)
    try:
        return StoreCheck(store, repair=repair, progress=progress).run(), store
    finally:
        store.close()


def _problems(summary) -> list[tuple[str, str, str]]:
    return [(p["kind"], p["path"], p["detail"]) for p in summary.problems]


def _still_listed(root: Path, path: str) -> bool:
    store = ImageStore(root, durable=False)
    store.open()
    try:
        return store.lookup(canonical_url(_url(path))) is not None
    finally:
        store.close()


def _quarantined(root: Path) -> dict[str, Path]:
    """Everything under the quarantine folders, by path relative to its run's folder."""
    found = {}
    for run in (root / ".imagescraper" / "quarantine").glob("*"):
        for path in run.rglob("*"):
            if path.is_symlink() or path.is_file():
                found[path.relative_to(run).as_posix()] = path
    return found


def test_a_whole_store_has_nothing_to_report(root):
    shown = []
    summary, _ = _check(root, progress=lambda text, final=False: shown.append((text, final)))

    assert (summary.listed, summary.whole, summary.found, summary.exit_status) == (4, 4, 0, 0)
    assert summary.lines()[-1] == "  exit status:     0 (the store is whole)"
    assert shown[-1] == ("checked 4/4 listed files | problems 0", True)


def test_a_cut_file_is_found_and_repair_moves_it_aside_and_forgets_it(root, caplog):
    cut = root / "h/a.jpg"
    cut.write_bytes(BODIES["h/a.jpg"][:100])

    summary, _ = _check(root)
    assert _problems(summary) == [("cut", "h/a.jpg", f"100 of {len(BODIES['h/a.jpg'])} bytes")]
    assert summary.exit_status == 1
    assert f"Cut h/a.jpg (http://h.example/a.jpg): 100 of {len(BODIES['h/a.jpg'])} bytes" in caplog.text
    assert cut.exists() and _still_listed(root, "h/a.jpg") is False  # the crawl's own size check agrees

    repaired, _ = _check(root, repair=True)
    assert repaired.dropped == 1 and repaired.quarantined == 1
    assert not cut.exists()
    assert _quarantined(root)["h/a.jpg"].read_bytes() == BODIES["h/a.jpg"][:100]
    assert json.loads((root / ".imagescraper/manifest.jsonl").read_bytes().splitlines()[-1])["dropped"] == "cut"
    again, _ = _check(root)
    assert (again.listed, again.found) == (3, 0)


def test_a_changed_byte_is_found_by_its_sha256(root):
    changed = bytearray(BODIES["h/b.jpg"])
    changed[10] ^= 0x01
    (root / "h/b.jpg").write_bytes(bytes(changed))

    summary, _ = _check(root)
    assert _problems(summary) == [("altered", "h/b.jpg", "the SHA-256 differs from the stored one")]
    # Same size: a crawl would count it as present. Only the repair makes it fetched again.
    assert _still_listed(root, "h/b.jpg")
    _check(root, repair=True)
    assert not _still_listed(root, "h/b.jpg")
    assert _quarantined(root)["h/b.jpg"].read_bytes() == bytes(changed)


def test_a_deleted_file_is_missing_and_repair_drops_its_entry_for_good(root):
    (root / "h/c.jpg").unlink()

    summary, _ = _check(root, repair=True)
    assert _problems(summary) == [("missing", "h/c.jpg", "no file at this path")]
    assert summary.dropped == 1 and summary.quarantined == 0
    (root / ".imagescraper/index.sqlite").unlink()  # a rebuild from the manifest keeps it dropped
    again, _ = _check(root)
    assert (again.listed, again.found) == (3, 0)


def test_an_unlisted_file_is_moved_aside_never_deleted(root):
    (root / "h/stray.jpg").write_bytes(b"mine")
    (root / "notes.txt").write_text("keep me")

    summary, _ = _check(root, repair=True)
    assert sorted(_problems(summary)) == [
        ("file", "h/stray.jpg", "the index does not list it"),
        ("file", "notes.txt", "the index does not list it"),
    ]
    assert summary.quarantined == 2 and summary.dropped == 0
    moved = _quarantined(root)
    assert moved["h/stray.jpg"].read_bytes() == b"mine" and moved["notes.txt"].read_text() == "keep me"
    assert _check(root)[0].found == 0


def test_a_second_repair_never_overwrites_what_the_first_moved_aside(root):
    for text in ("first", "second"):
        (root / "notes.txt").write_text(text)
        _check(root, repair=True)
    assert sorted(path.read_text() for path in _quarantined(root).values()) == ["first", "second"]


def test_planted_symlinks_are_reported_and_never_followed(root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.jpg").write_bytes(BODIES["h/a.jpg"])  # what the link leads to is a perfect copy
    (outside / "secret.txt").write_text("not the store's")
    os.mkfifo(outside / "pipe")  # opening this would hang the check
    (root / "h/b.jpg").unlink()
    (root / "h/b.jpg").symlink_to(outside / "a.jpg")
    (root / "h/d.jpg").unlink()
    (root / "h/d.jpg").symlink_to(outside / "pipe")
    (root / "elsewhere").symlink_to(outside)

    summary, _ = _check(root)
    assert sorted(_problems(summary)) == [
        ("not-a-file", "h/b.jpg", "a symlink, not followed"),
        ("not-a-file", "h/d.jpg", "a symlink, not followed"),
        ("symlink", "elsewhere", f"points to {outside}"),
    ]

    repaired, _ = _check(root, repair=True)
    assert repaired.dropped == 2 and repaired.quarantined == 3
    moved = _quarantined(root)
    assert all(moved[name].is_symlink() for name in ("h/b.jpg", "h/d.jpg", "elsewhere"))
    assert sorted(p.name for p in outside.iterdir()) == ["a.jpg", "pipe", "secret.txt"]
    assert (outside / "secret.txt").read_text() == "not the store's"


def test_a_folder_replaced_by_a_symlink_is_not_followed(root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    for path, body in BODIES.items():
        (outside / Path(path).name).write_bytes(body)
    for path in BODIES:
        (root / path).unlink()
    (root / "h").rmdir()
    (root / "h").symlink_to(outside)

    summary, _ = _check(root, repair=True)
    kinds = sorted((p["kind"], p["path"]) for p in summary.problems)
    assert kinds == [("not-a-file", path) for path in sorted(BODIES)] + [("symlink", "h")]
    assert summary.whole == 0 and summary.dropped == 4
    assert _quarantined(root)["h"].is_symlink()
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == {Path(k).name: v for k, v in BODIES.items()}


def test_special_files_are_never_opened(root):
    (root / "h/a.jpg").unlink()
    os.mkfifo(root / "h/a.jpg")
    os.mkfifo(root / "h/pipe")

    summary, _ = _check(root)
    assert sorted(_problems(summary)) == [
        ("not-a-file", "h/a.jpg", "a special file"),
        ("special-file", "h/pipe", "a socket, pipe or device"),
    ]


def test_a_listed_path_that_leaves_the_store_is_never_touched(root, tmp_path):
    victim = tmp_path / "victim.jpg"
    victim.write_bytes(b"outside the store")
    line = json.dumps({"url": "http://h.example/evil.jpg", "path": "../victim.jpg", "bytes": 1, "sha256": "0"})
    with open(root / ".imagescraper/manifest.jsonl", "a") as manifest:
        manifest.write(line + "\n")

    summary, _ = _check(root, repair=True)
    assert _problems(summary) == [("bad-path", "../victim.jpg", "the listed path is not a plain path inside the store")]
    assert summary.dropped == 1 and summary.quarantined == 0
    assert victim.read_bytes() == b"outside the store"


def test_a_name_that_is_not_utf8_is_reported_readably(root):
    name = os.fsencode(root / "h") + b"/caf\xe9.jpg"
    with open(name, "wb") as stray:
        stray.write(b"x")

    summary, _ = _check(root, repair=True)
    assert _problems(summary) == [("file", "h/caf\\xe9.jpg", "the index does not list it")]
    assert summary.quarantined == 1


def test_a_file_the_disk_cannot_read_is_reported_not_fatal(root, monkeypatch):
    real_digest = hashlib.file_digest

    def failing_disk(handle, name):
        if os.readlink(f"/proc/self/fd/{handle.fileno()}").endswith("/h/c.jpg"):
            raise OSError(5, "Input/output error")
        return real_digest(handle, name)

    monkeypatch.setattr(hashlib, "file_digest", failing_disk)
    summary, _ = _check(root, repair=True)
    assert _problems(summary) == [("unreadable", "h/c.jpg", "cannot be read: Input/output error")]
    assert summary.whole == 3 and summary.dropped == 1 and "h/c.jpg" in _quarantined(root)
