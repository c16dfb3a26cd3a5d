"""The real `scrapy checkstore` command: exit statuses, one-line errors, the summary, a repair
followed by a crawl that fetches the dropped images again, progress on a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

from demo.crawling import REPO
from imagescraper.store import ImageStore
from tests.conftest import SAMPLES


def checkstore(store, *options: str, settings: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "scrapy", "checkstore", "-s", f"IMAGES_STORE={store}", *options]
    for name, value in (settings or {}).items():
        command += ["-s", f"{name}={value}"]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_a_store_that_does_not_exist_is_a_one_line_error(tmp_path):
    result = checkstore(tmp_path / "nowhere")
    assert result.returncode == 2, result.stderr
    assert f"image store '{tmp_path / 'nowhere'}' does not exist: pass the folder" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "nowhere").exists()

    plain = tmp_path / "plain"
    plain.mkdir()
    result = checkstore(plain)
    assert result.returncode == 2 and "is not an image store (it has no .imagescraper/ folder)" in result.stderr


@pytest.mark.slow
def test_bad_settings_and_arguments_exit_2(tmp_path):
    result = checkstore(tmp_path, settings={"IMAGESCRAPER_DURABLE": "maybe"})
    assert result.returncode == 2 and "IMAGESCRAPER_DURABLE='maybe' is not true or false" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "checkstore", str(tmp_path)], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 2 and "checkstore takes no arguments" in result.stderr


@pytest.mark.slow
def test_a_busy_store_exits_3(tmp_path):
    store = ImageStore(tmp_path)
    store.open()
    try:
        result = checkstore(tmp_path)
    finally:
        store.close()
    assert result.returncode == 3, result.stderr
    assert f"is in use by another run (pid {os.getpid()})" in result.stderr


@pytest.mark.slow
def test_check_repair_and_the_next_crawl_fetches_the_dropped_images_again(run_urlfile, server):
    urls = [server.url(path) for path in SAMPLES]
    first = run_urlfile(urls)
    assert first.status == 0, first.log
    store = first.store
    by_url = {record["url"]: record for record in first.manifest()}
    cut = store / by_url[server.url("/photos/271947.jpg")]["path"]
    cut.write_bytes(cut.read_bytes()[:500])
    changed = store / by_url[server.url("/photos/alpha.png")]["path"]
    body = bytearray(changed.read_bytes())
    body[-20] ^= 0xFF
    changed.write_bytes(bytes(body))
    (store / "stray.txt").write_text("someone's notes")

    found = checkstore(store)
    assert found.returncode == 1, found.stderr
    assert (
        "  listed:          4\n  whole:           2\n  bad:             2\n    cut: 1\n    altered: 1\n" in found.stderr
    )
    assert "  unlisted:        1\n    file: 1\n" in found.stderr
    assert "exit status:     1 (problems found)" in found.stderr
    report = json.loads((store / ".imagescraper" / "last-check.json").read_text())
    assert report["counts"] == {"cut": 1, "altered": 1, "file": 1} and report["exit_status"] == 1

    repaired = checkstore(store, "--repair")
    assert repaired.returncode == 1, repaired.stderr
    assert "repaired:        dropped 2 entries (the next crawl fetches them again), moved 3 to" in repaired.stderr
    assert checkstore(store).returncode == 0

    server.forget_requests()
    second = run_urlfile(urls)
    assert second.status == 0, second.log
    assert sorted(server.paths_requested()) == ["/photos/271947.jpg", "/photos/alpha.png"]
    assert cut.read_bytes() == SAMPLES["/photos/271947.jpg"]
    assert changed.read_bytes() == SAMPLES["/photos/alpha.png"]
    whole = checkstore(store)
    assert whole.returncode == 0 and "exit status:     0 (the store is whole)" in whole.stderr


@pytest.mark.slow
def test_progress_on_a_terminal(run_urlfile, server):
    result = run_urlfile([server.url(path) for path in SAMPLES])
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "scrapy", "checkstore", "-s", f"IMAGES_STORE={result.store}", "-s", "LOG_LEVEL=ERROR"],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    process.wait(60)
    os.close(controller)
    assert process.returncode == 0
    assert "\r\x1b[Kchecked 4/4 listed files | problems 0\r\n" in shown.decode()
