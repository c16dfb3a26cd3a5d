"""`scrapy gallery` in a subprocess, as a person, cron or the deployment's unit runs it."""

from __future__ import annotations

import http.client
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from demo.crawling import REPO
from imagescraper.gallery.build import GalleryLock
from imagescraper.gallery.serve import CONTENT_SECURITY_POLICY
from tests.gallerysite import make_store


def gallery(store: Path, out: Path, *extra: str, **settings) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "scrapy", "gallery", "-s", f"IMAGES_STORE={store}",
               "-s", f"IMAGESCRAPER_GALLERY_DIR={out}", *extra]  # fmt: skip
    for name, value in settings.items():
        command += ["-s", f"{name}={value}"]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)


def errors(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if "ERROR" in line or "Traceback" in line]


@pytest.mark.slow
def test_build_then_update_then_full(tmp_path):
    store = make_store(tmp_path / "store")
    first = gallery(tmp_path / "store", tmp_path / "site")
    assert first.returncode == 0, first.stderr[-3000:]
    assert (
        f"gallery: {tmp_path / 'site' / 'index.html'} (gallery full build: 19 manifest records read (19 new)"
        in first.stdout
    )
    assert "19 thumbnails made" in first.stdout
    again = gallery(tmp_path / "store", tmp_path / "site")
    assert (
        again.returncode == 0
        and "incremental build: 0 manifest records read (0 new), 0 thumbnails made" in again.stdout
    )
    full = gallery(tmp_path / "store", tmp_path / "site", "--full")
    assert full.returncode == 0 and "full build: 19 manifest records read (0 new), 0 thumbnails made" in full.stdout
    assert store.count == 19
    # Originals are linked relative to the gallery folder, or under a base URL when one is given.
    page = next((tmp_path / "site" / "a" / "images.example").glob("_*.html")).read_text()
    assert 'href="../../../store/images.example/' in page
    based = gallery(tmp_path / "store", tmp_path / "site", IMAGESCRAPER_GALLERY_FILES_URL="/files/job")
    assert based.returncode == 0
    page = next((tmp_path / "site" / "a" / "images.example").glob("_*.html")).read_text()
    assert 'href="/files/job/images.example/' in page


@pytest.mark.slow
def test_bad_input_is_one_line_and_exit_status_2(tmp_path):
    make_store(tmp_path / "store")
    (tmp_path / "empty").mkdir()
    cases = [
        (
            gallery(tmp_path / "nothing", tmp_path / "site"),
            f"IMAGES_STORE={str(tmp_path / 'nothing')!r} does not exist",
        ),
        (gallery(tmp_path / "empty", tmp_path / "site"), "is not an image store (no .imagescraper/ inside)"),
        (gallery(tmp_path / "store", tmp_path / "store" / "site"), "overlap: put the gallery in a folder of its own"),
        (gallery(tmp_path / "store", tmp_path / "site", IMAGESCRAPER_GALLERY_PAGE_SIZE="many"), "not a whole number"),
        (gallery(tmp_path / "store", tmp_path / "site", IMAGESCRAPER_GALLERY_PAGE_SIZE="0"), "is below 1"),
    ]
    for result, message in cases:
        assert result.returncode == 2, result.stderr[-2000:]
        assert len(errors(result)) == 1 and message in errors(result)[0], result.stderr[-2000:]
    assert not (tmp_path / "store" / "site").exists()
    unknown = gallery(tmp_path / "store", tmp_path / "site", "--foo")
    assert unknown.returncode == 2 and "scrapy gallery has no option '--foo'" in unknown.stderr, unknown.stderr
    assert not (tmp_path / "site").exists()


def on_a_terminal(*command: str) -> str:
    """What a person sees running *command* with stdout and stderr on a terminal."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal)
    os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the command ended and the terminal closed
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    assert process.wait(timeout=120) == 0, seen
    return seen.decode("utf-8", "replace")


@pytest.mark.slow
def test_on_a_terminal_the_result_is_shown_once_without_scrapys_start_up_report(tmp_path):
    make_store(tmp_path / "store")
    shown = on_a_terminal(sys.executable, "-m", "scrapy", "gallery", "-s", f"IMAGES_STORE={tmp_path / 'store'}",
                          "-s", f"IMAGESCRAPER_GALLERY_DIR={tmp_path / 'site'}")  # fmt: skip
    assert shown.count("gallery full build: 19 manifest records read") == 1, shown
    assert "Versions:" not in shown and "Scrapy" not in shown and "[imagescraper]" not in shown, shown
    checked = on_a_terminal(sys.executable, "-m", "scrapy", "checkstore", "-s", f"IMAGES_STORE={tmp_path / 'store'}")
    assert "\nimagescraper checkstore (" in checked.replace("\r", ""), checked
    assert "[imagescraper]" not in checked and "Versions:" not in checked, checked


@pytest.mark.slow
def test_a_second_build_at_the_same_time_exits_3(tmp_path):
    make_store(tmp_path / "store")
    (tmp_path / "site").mkdir()
    with GalleryLock(tmp_path / "site"):
        busy = gallery(tmp_path / "store", tmp_path / "site")
    assert busy.returncode == 3
    assert f"is being built by another process (pid {os.getpid()})" in errors(busy)[0]


@pytest.mark.slow
def test_serve_answers_on_loopback_with_the_production_headers(tmp_path):
    make_store(tmp_path / "store")
    command = [
        sys.executable,
        "-m",
        "scrapy",
        "gallery",
        "--serve",
        "--port",
        "0",
        "-s",
        f"IMAGES_STORE={tmp_path / 'store'}",
        "-s",
        f"IMAGESCRAPER_GALLERY_DIR={tmp_path / 'site'}",
    ]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    try:
        for line in process.stdout:
            found = re.search(r"open (http://127\.0\.0\.1:(\d+)(/\S*))", line)
            if found:
                break
        else:
            raise AssertionError("no address printed")
        connection = http.client.HTTPConnection("127.0.0.1", int(found.group(2)), timeout=10)
        connection.request("GET", found.group(3))
        response = connection.getresponse()
        assert response.status == 200 and "<title>All folders · store</title>" in response.read().decode()
        assert response.getheader("Content-Security-Policy") == CONTENT_SECURITY_POLICY
        listening = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True).stdout
        ours = [line for line in listening.splitlines() if f"pid={process.pid}," in line]
        assert ours and all(f"127.0.0.1:{found.group(2)}" in line for line in ours)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.slow
def test_site_index_lists_the_galleries_side_by_side(tmp_path):
    for job in ("urls-main", "lofter-ceshi"):
        make_store(tmp_path / "stores" / job)
        result = gallery(tmp_path / "stores" / job, tmp_path / "www" / job, "--site-index",
                         IMAGESCRAPER_GALLERY_FILES_URL=f"/files/{job}/")  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
    index = (tmp_path / "www" / "index.html").read_text(encoding="utf-8")
    assert index.index('href="lofter-ceshi/index.html"') < index.index('href="urls-main/index.html"')
    assert "38 images in 2 folders" in index and 'src="urls-main/t/' in index
    assert "Recently added" not in index
    assert list((tmp_path / "www" / "static").glob("gallery-*.css"))
