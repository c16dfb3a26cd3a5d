"""What a person sees on a terminal, read from a real terminal emulator (tmux) after a real run."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import shlex
import shutil
import struct
import subprocess
import termios
import time

import pytest

from demo import images
from demo.crawling import REPO, crawl_command
from demo.fakelofter import FakeLofter
from demo.imageserver import ImageServer
from imagescraper.terminal import ERASE_LINE, StatusLine


def test_a_log_line_goes_above_the_progress_line():
    stream = io.StringIO()
    status = StatusLine(stream)
    status.show("stored 1")
    status.write_above("WARNING: one\n")
    status.show("stored 2")
    status.finish()
    status.write_above("summary\n")
    assert stream.getvalue() == (
        f"{ERASE_LINE}stored 1{ERASE_LINE}WARNING: one\nstored 1{ERASE_LINE}stored 2{ERASE_LINE}stored 2\nsummary\n"
    )


def test_the_progress_line_is_cut_to_the_terminal_width():
    """A line that wrapped could not be erased whole; the last one, left on screen, is kept whole."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 30, 0, 0))
    with open(terminal, "w", closefd=True) as stream:
        status = StatusLine(stream)
        status.show("stored 1 | " + "x" * 60)
        first = os.read(controller, 1000)
        status.finish()
        last = os.read(controller, 1000)
    os.close(controller)
    assert first == (ERASE_LINE + "stored 1 | " + "x" * 18).encode()
    assert last == (ERASE_LINE + "stored 1 | " + "x" * 60 + "\r\n").encode()  # the tty turns \n into \r\n


class Tmux:
    """A tmux server of our own (its own socket and config), one window of a fixed size."""

    def __init__(self, tmp_path, width=120):
        self.socket = tmp_path / "tmux.sock"
        self.config = tmp_path / "tmux.conf"
        self.config.write_text("set -g history-limit 100000\nset -g status off\n")
        self.width = width

    def tmux(self, *args, timeout=30) -> str:
        command = ["tmux", "-S", str(self.socket), "-f", str(self.config), *args]
        return subprocess.run(command, capture_output=True, text=True, check=True, timeout=timeout).stdout

    def run(self, command: list[str], raw_log, *, interrupt_when: str | None = None) -> str:
        """Run *command* in the window; return the whole screen, history included, once it ends.

        With *interrupt_when*, press Ctrl-C once that text has been written to the terminal.
        """
        tmux = shlex.join(["tmux", "-S", str(self.socket)])
        # The shell outlives a Ctrl-C (its trap is not inherited: the command gets SIGINT as usual).
        script = f"trap true INT; {tmux} wait-for go; cd {shlex.quote(str(REPO))}; "
        script += f'{shlex.join(command)}; echo "[exit $?]"; '
        script += f"{tmux} wait-for -S done; sleep 600"
        self.tmux("new-session", "-d", "-x", str(self.width), "-y", "50", "-s", "run", "sh", "-c", script)
        try:
            self.tmux("pipe-pane", "-t", "run", "-o", f"cat >> {shlex.quote(str(raw_log))}")
            self.tmux("wait-for", "-S", "go")
            if interrupt_when is not None:
                _wait_for_text(raw_log, interrupt_when)
                self.tmux("send-keys", "-t", "run", "C-c")
            self.tmux("wait-for", "done", timeout=180)
            return self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "run")
        finally:
            subprocess.run(["tmux", "-S", str(self.socket), "kill-server"], capture_output=True)


def _wait_for_text(path, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text("utf-8", "replace"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared on the terminal")


@pytest.fixture
def terminal(tmp_path):
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed: ./dev test installs it")
    return Tmux(tmp_path)


@pytest.fixture
def slow_list(tmp_path):
    """30 images served slowly, a 404 and a bad line half way: a warning arrives mid-run."""
    with ImageServer() as server:
        urls = [server.add_image(f"/p/{n}.jpg", images.jpeg(f"t{n}")) for n in range(30)]
        lines = [url.replace("/p/", "/slow/150/p/") for url in urls]
        lines[15:15] = [server.url("/status/404/missing.jpg"), "ftp://example.com/a.jpg"]
        url_file = tmp_path / "urls.txt"
        url_file.write_text("\n".join(lines) + "\n")
        settings = {
            "IMAGESCRAPER_ALLOW_HOSTS": server.allow_setting,
            "CONCURRENT_REQUESTS": 2,
            "IMAGESCRAPER_PROGRESS_INTERVAL": 0.1,
        }
        yield url_file, settings


def _screen_lines(screen: str) -> list[str]:
    return [line.rstrip() for line in screen.splitlines() if line.strip()]


@pytest.mark.slow
def test_a_person_sees_what_runs_the_progress_warnings_and_the_summary(terminal, slow_list, tmp_path):
    url_file, settings = slow_list
    raw = tmp_path / "raw.log"
    screen = terminal.run(crawl_command("urlfile", tmp_path / "store", {"path": url_file}, settings), raw)

    lines = _screen_lines(screen)
    assert lines[0] == f"Running urlfile with path={url_file}; images go to {tmp_path / 'store'}", screen
    assert lines[1] == f"WARNING: {url_file}:17: skipped, uses the ftp: scheme; only http and https URLs are fetched"
    assert lines[2].startswith("WARNING: Failed http://127.0.0.1:") and lines[2].endswith(
        "http-404 (the server answered HTTP 404)"
    )
    # The progress line was redrawn in place: one line, the last state, under the warnings.
    assert [line for line in lines if "stored " in line and " | " in line] == [lines[3]]
    assert lines[3] == "stored 30 | already present 0 | failed 1 | remaining 0"
    assert lines[4] == "imagescraper summary (urlfile, finished):"
    assert "  exit status:     1 (some images are missing)" in lines
    assert lines[-1] == "[exit 1]"
    for chatter in (
        "Scrapy 2.",
        "Versions:",
        "Enabled extensions",
        "Overridden settings",
        "Spider opened",
        "Dumping Scrapy stats",
    ):
        assert chatter not in screen
    # The 404 warning came while the progress line was on the screen, not before it was drawn.
    stream = raw.read_bytes().decode("utf-8", "replace")
    assert 0 < stream.index("stored ") < stream.index("WARNING: Failed")
    # ...was written from the start of a cleared line, and the progress line drawn again under it.
    assert re.search(r"\r\x1b\[KWARNING: Failed [^\r\n]*\r?\nstored \d+ \| already present", stream), stream


@pytest.mark.slow
def test_full_scrapy_logs_at_debug_and_still_no_shared_line(terminal, slow_list, tmp_path):
    url_file, settings = slow_list
    raw = tmp_path / "raw.log"
    command = crawl_command("urlfile", tmp_path / "store", {"path": url_file}, {**settings, "LOG_LEVEL": "DEBUG"})
    screen = terminal.run(command, raw)

    for report in ("Versions:", "Enabled extensions", "Overridden settings", "Dumping Scrapy stats", "Spider closed"):
        assert report in screen
    lines = _screen_lines(screen)
    progress = [line for line in lines if "stored " in line and " | remaining" in line]
    assert progress == ["stored 30 | already present 0 | failed 1 | remaining 0"], progress
    assert any("[imagescraper.pipelines] WARNING: Failed" in line for line in lines)
    # Every log record starts a line of its own: a date at column 0.
    records = [line for line in lines if re.search(r"\[[\w.]+\] (DEBUG|INFO|WARNING|ERROR):", line)]
    assert len(records) > 50 and all(re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[", line) for line in records)
    stream = raw.read_bytes().decode("utf-8", "replace")
    assert stream.count("stored ") > 5, "the progress line was drawn while DEBUG lines went by"


@pytest.mark.slow
def test_ctrl_c_is_answered_on_the_screen_and_nothing_is_retried_after_it(terminal, tmp_path):
    """Ctrl-C while downloads hang: the screen says so at once, the hanging downloads are given up
    after one timeout (not retried), and the summary says the run did not finish."""
    with ImageServer() as server:
        good = [server.add_image(f"/ok/{n}.jpg", images.jpeg(f"c{n}")) for n in range(3)]
        url_file = tmp_path / "urls.txt"
        url_file.write_text("\n".join(good + [server.url(f"/hang/{n}.jpg") for n in range(6)]) + "\n")
        settings = {
            "IMAGESCRAPER_ALLOW_HOSTS": server.allow_setting,
            "IMAGESCRAPER_PROGRESS_INTERVAL": 0.1,
            "DOWNLOAD_TIMEOUT": 3,
            "RETRY_TIMES": 2,
        }
        raw = tmp_path / "raw.log"
        command = crawl_command("urlfile", tmp_path / "store", {"path": url_file}, settings)
        screen = terminal.run(command, raw, interrupt_when="stored 3")
        hangs = [r for r in server.requests if r.path.startswith("/hang/")]

    lines = _screen_lines(screen)
    assert any(line.startswith("Received SIGINT, shutting down gracefully") for line in lines), screen
    assert "imagescraper summary (urlfile, shutdown):" in lines
    assert any(line.startswith("  NOT FINISHED (shutdown)") for line in lines), screen
    assert lines[-1] == "[exit 1]"
    # each hanging URL was asked once: the timeouts after Ctrl-C were not retried
    assert sorted(r.path for r in hangs) == sorted({r.path for r in hangs}) and hangs


@pytest.mark.slow
def test_a_lofter_run_on_a_big_blog_fits_on_one_screen(terminal, tmp_path):
    store = tmp_path / "store"
    with FakeLofter() as site:
        settings = {**site.settings(), "DOWNLOAD_SLOTS": '{"lofter-pages": {"concurrency": 1, "delay": 0}}'}
        command = crawl_command("lofter", store, {"domain": "many", "max_pages": "4", "replace": "true"}, settings)
        screen = terminal.run(command, tmp_path / "raw.log")

    lines = _screen_lines(screen)
    assert lines[0] == f"Running lofter on blog 'many' with max_pages=4, replace=true; images go to {store}", screen
    assert "has no images" not in screen  # 186 posts without images: counted, not listed
    assert "  skipped posts-without-images: 186" in lines
    assert [line for line in lines if " | remaining " in line] == [
        "stored 2 | already present 0 | failed 0 | remaining 0"
    ]
    assert "rejected lines" not in screen
    assert len(lines) < 20, screen
