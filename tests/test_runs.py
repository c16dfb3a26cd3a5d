"""Whole runs as an operator sees them: kill -9, two runs at once, progress, reruns, hostile hosts."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image

from demo import images
from demo.crawling import REPO, crawl, crawl_command, start_crawl, stored_files
from demo.imageserver import ImageServer
from imagescraper.identity import canonical_url
from imagescraper.manifest import ImageEntry, image_line
from imagescraper.paths import image_file_name, item_folders, store_relpath
from imagescraper.store import ImageStore
from imagescraper.storeindex import StoreIndex
from tests.conftest import SAMPLES


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _manifest_lines(store: Path) -> int:
    manifest = store / ".imagescraper" / "manifest.jsonl"
    return len(manifest.read_bytes().splitlines()) if manifest.exists() else 0


@pytest.fixture
def slow_set(tmp_path):
    """60 distinct images of about 200 KB served with a delay, so a run lasts a few seconds."""
    originals = {f"/big/{n:03d}.jpg": images.jpeg(f"big{n}", size=(900, 700), quality=95) for n in range(60)}
    with ImageServer() as server:
        for path, body in originals.items():
            server.add_image(path, body)
        url_file = tmp_path / "urls.txt"
        url_file.write_text("\n".join(server.url(f"/slow/150{p}") for p in originals) + "\n")
        yield server, url_file, originals


def _listed_paths(store: Path) -> set[str]:
    """URL paths the manifest lists as stored (the last line for a URL wins)."""
    current: dict[str, str] = {}
    manifest = store / ".imagescraper" / "manifest.jsonl"
    for line in manifest.read_bytes().splitlines() if manifest.exists() else []:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        current[record["url"]] = record.get("dropped", "stored")
    return {urlsplit(url).path for url, state in current.items() if state == "stored"}


@pytest.mark.slow
def test_kill_9_mid_run_leaves_no_partial_file_and_the_rerun_completes(tmp_path, slow_set):
    server, url_file, originals = slow_set
    store = tmp_path / "store"
    settings = {"IMAGESCRAPER_ALLOW_HOSTS": server.allow_setting, "CONCURRENT_REQUESTS": 4}
    wanted = {images.sha256(body) for body in originals.values()}

    for round_number in range(3):
        listed_before = _listed_paths(store)
        server.forget_requests()
        running = start_crawl("urlfile", store, args={"path": url_file}, settings=settings)
        target = 8 * (round_number + 1)
        _wait_for(lambda target=target: _manifest_lines(store) >= target, 60, f"{target} stored images")
        os.kill(running.pid, signal.SIGKILL)
        running.wait()
        after_kill = stored_files(store)
        assert len(after_kill) >= target
        for relative, body in after_kill.items():
            assert images.sha256(body) in wanted, f"{relative} is not a complete original"
        assert not listed_before & set(server.paths_requested()), "an image listed before the run was fetched again"

    listed_before = _listed_paths(store)
    server.forget_requests()
    final = crawl("urlfile", store, args={"path": url_file}, settings=settings)

    assert final.status == 0, final.log
    assert not listed_before & set(server.paths_requested()), "an image listed before the rerun was fetched again"
    assert {images.sha256(body) for body in final.stored_files().values()} == wanted
    assert len(final.stored_files()) == 60
    assert list((store / ".imagescraper" / "incoming").iterdir()) == []
    paths_in_manifest = {record["path"] for record in final.manifest()}
    assert paths_in_manifest == set(final.stored_files())
    assert final.summary["stored"] + final.summary["already_present"] == 60
    # The index lists exactly what the manifest does, file for file.
    last_lines = {record["url"]: record for record in final.manifest()}
    index = StoreIndex.open_reader(store)
    indexed = {(e.url, e.path, e.sha256, e.bytes) for e in index.entries()}
    index.close()
    assert indexed == {(r["url"], r["path"], r["sha256"], r["bytes"]) for r in last_lines.values()}
    for record in last_lines.values():
        assert images.sha256((store / record["path"]).read_bytes()) == record["sha256"]


@pytest.mark.slow
def test_a_second_run_on_a_busy_store_says_so_and_exits(tmp_path, slow_set):
    server, url_file, _ = slow_set
    store = tmp_path / "store"
    settings = {"IMAGESCRAPER_ALLOW_HOSTS": server.allow_setting, "CONCURRENT_REQUESTS": 1}
    first = start_crawl("urlfile", store, args={"path": url_file}, settings=settings)
    try:
        _wait_for(lambda: _manifest_lines(store) >= 1, 60, "the first run to store an image")
        started = time.monotonic()
        second = crawl("urlfile", store, args={"path": url_file}, settings=settings, timeout=60)
        assert second.status == 3, second.log
        assert f"is in use by another run (pid {first.pid})" in second.log
        assert time.monotonic() - started < 15
        assert "Traceback" not in second.log
        assert first.poll() is None, "the first run goes on"
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(60)
    summary = json.loads((store / ".imagescraper" / "last-run.json").read_text())
    assert summary["spider"] == "urlfile" and summary["finish_reason"] == "shutdown"
    assert summary["exit_status"] == 1
    assert first.returncode == 1


@pytest.mark.slow
def test_progress_line_on_a_terminal(tmp_path, slow_set):
    server, url_file, _ = slow_set
    store = tmp_path / "store"
    controller, terminal = pty.openpty()
    command = crawl_command(
        "urlfile",
        store,
        {"path": url_file},
        {"IMAGESCRAPER_ALLOW_HOSTS": server.allow_setting, "CONCURRENT_REQUESTS": 4, "LOG_FILE": tmp_path / "log"},
    )
    process = subprocess.Popen(command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal)
    os.close(terminal)
    shown = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    process.wait(60)
    os.close(controller)
    text = shown.decode("utf-8", "replace")
    assert process.returncode == 0
    updates = [part for part in text.split("\r") if part.startswith("\x1b[Kstored ")]
    assert len(updates) >= 2, text
    assert "\x1b[Kstored 60 | already present 0 | failed 0 | remaining 0\r\n" in text  # the tty turns \n into \r\n
    # At least one update drawn while the run was still going: the progress line is live, not only the final one.
    line = re.compile(r"\x1b\[Kstored (\d+) \| already present (\d+) \| failed (\d+) \| remaining (\d+|\?)")
    mid_run = [m for m in map(line.fullmatch, updates[:-1]) if m and int(m[1]) + int(m[2]) + int(m[3]) < 60]
    assert mid_run, updates


@pytest.mark.slow
def test_progress_log_line_without_a_terminal(run_urlfile, slow_set):
    server, url_file, _ = slow_set
    lines = url_file.read_text().split()[:20]
    result = run_urlfile(
        lines,
        settings={
            "IMAGESCRAPER_ALLOW_HOSTS": server.allow_setting,
            "IMAGESCRAPER_PROGRESS_LOG_INTERVAL": 0.5,
            "CONCURRENT_REQUESTS": 2,
        },
    )
    assert result.status == 0, result.log
    assert "Progress: stored " in result.log
    assert "\x1b[K" not in result.log
    # Without a terminal (cron, scrapyd) the log keeps Scrapy's whole report for operators.
    for report in ("Versions:", "Enabled extensions", "Overridden settings", "Dumping Scrapy stats"):
        assert report in result.log
    assert "[imagescraper.report] INFO: Running urlfile with path=" in result.log


@pytest.mark.slow
def test_rerun_over_ten_thousand_stored_urls_makes_no_requests(tmp_path):
    """The store is filled as the pipeline would have filled it, then a real run checks it."""
    tiny = images.png_with_alpha("tiny", size=(8, 8))
    with ImageServer() as server:
        store = ImageStore(tmp_path / "store", durable=False)
        store.open()
        urls = [server.url(f"/tiny/{n}.png") for n in range(10_000)]
        for url in urls:
            path = store_relpath(item_folders(post_title=f"127.0.0.1:{server.port}"), image_file_name(url, ".png"))
            entry = ImageEntry(canonical_url(url), url, path, len(tiny), images.sha256(tiny))
            store.add(entry, tiny, image_line(entry, {})[0])
        store.close()
        url_file = tmp_path / "urls.txt"
        url_file.write_text("\n".join(urls) + "\n")

        started = time.monotonic()
        result = crawl(
            "urlfile",
            tmp_path / "store",
            args={"path": url_file},
            settings={"IMAGESCRAPER_ALLOW_HOSTS": server.allow_setting},
        )
        elapsed = time.monotonic() - started

        assert result.status == 0, result.log[-3000:]
        assert server.paths_requested() == []
        assert result.summary["already_present"] == 10_000
        print(f"rerun over 10,000 stored URLs: {elapsed:.1f} s")  # shown with -s; measured, not judged


@pytest.mark.slow
def test_a_hostile_list_finishes_well_inside_four_minutes_with_default_settings(run_urlfile, server):
    hostile = [server.url(f"/hang/h{n}.jpg") for n in range(4)] + [server.url(f"/drip/d{n}.jpg") for n in range(4)]
    started = time.monotonic()

    result = run_urlfile(hostile + [server.url("/photos/271947.jpg")], timeout=240)

    elapsed = time.monotonic() - started
    assert result.status == 1
    assert result.summary["failed_by_reason"] == {"timeout": 8}
    assert result.summary["stored"] == 1
    assert elapsed < 120, f"took {elapsed:.0f} s"


@pytest.mark.slow
def test_stored_images_open_in_pillow(run_urlfile, server):
    result = run_urlfile([server.url(path) for path in SAMPLES])
    assert result.status == 0, result.log
    stored = result.stored_files()
    assert sorted(stored.values()) == sorted(SAMPLES.values())
    for relative in stored:
        with Image.open(result.store / relative) as image:
            image.load()


@pytest.mark.slow
def test_closespider_timeout_stops_the_run_and_says_it_is_incomplete(tmp_path, slow_set):
    """What a five-minute schedule relies on: a bounded run ends on time and exits 1."""
    server, url_file, _ = slow_set
    started = time.monotonic()
    result = crawl(
        "urlfile",
        tmp_path / "store",
        args={"path": url_file},
        settings={"IMAGESCRAPER_ALLOW_HOSTS": server.allow_setting, "CONCURRENT_REQUESTS": 1, "CLOSESPIDER_TIMEOUT": 2},
        timeout=60,
    )
    assert result.status == 1, result.log
    summary = result.summary
    assert summary["finish_reason"] == "closespider_timeout"
    assert "NOT FINISHED (closespider_timeout)" in result.log
    # It stops reading the list at the deadline: the rest is neither fetched nor counted as failed.
    assert 0 < summary["stored"] < 60 and summary["failed"] == 0, result.log
    assert len(server.paths_requested()) < 60
    assert "ERROR" not in result.log and "AlreadyCalledError" not in result.log
    assert time.monotonic() - started < 15


def _listening_ports(pid: int) -> set[int]:
    """TCP ports the process listens on: its socket inodes matched against /proc/net/tcp{,6}."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.mark.slow
def test_a_run_opens_no_control_port_even_when_asked_to(tmp_path, slow_set):
    server, url_file, _ = slow_set
    store = tmp_path / "store"
    settings = {
        "IMAGESCRAPER_ALLOW_HOSTS": server.allow_setting,
        "CONCURRENT_REQUESTS": 1,
        "TELNETCONSOLE_ENABLED": "True",
        "REMOTE_CONTROL_ENABLED": "True",
    }
    run = start_crawl("urlfile", store, args={"path": url_file}, settings=settings)
    try:
        _wait_for(lambda: _manifest_lines(store) >= 1, 60, "the run to store an image")
        assert _listening_ports(run.pid) == set()
    finally:
        run.send_signal(signal.SIGINT)
        log, _ = run.communicate(timeout=60)
    assert "Telnet console listening" not in log and "Traceback" not in log
