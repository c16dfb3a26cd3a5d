"""`python -m demo.fakelofter`: the fake LOFTER started by hand, and the command it prints, run as printed."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys

import pytest

from demo.crawling import REPO, stored_files


@pytest.fixture
def fake_lofter():
    process = subprocess.Popen(
        [sys.executable, "-m", "demo.fakelofter", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def _printed_command(process) -> list[str]:
    for line in process.stdout:  # the command comes within the first lines
        if line.strip().startswith("scrapy crawl lofter"):
            return shlex.split(line)
    raise AssertionError("python -m demo.fakelofter printed no scrapy crawl command")


@pytest.mark.slow
def test_the_printed_command_crawls_the_fake_blog_and_ctrl_c_stops_it(fake_lofter, tmp_path):
    words = _printed_command(fake_lofter)
    assert words[:5] == ["scrapy", "crawl", "lofter", "-a", "domain=ceshi"]
    fast = json.dumps({"lofter-pages": {"concurrency": 1, "delay": 0}})
    extra = ["-s", f"IMAGES_STORE={tmp_path / 'store'}", "-s", f"DOWNLOAD_SLOTS={fast}"]
    crawl = subprocess.run(
        [sys.executable, "-m", *words, *extra], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert crawl.returncode == 0, crawl.stderr[-3000:]
    folders = {path.split("/")[0] for path in stored_files(tmp_path / "store")}
    assert folders == {"ceshi"}
    fake_lofter.send_signal(signal.SIGINT)
    out, _ = fake_lofter.communicate(timeout=30)
    assert fake_lofter.returncode == 0 and "Fake LOFTER stopped." in out and "Traceback" not in out


def test_a_busy_port_is_one_line_and_exit_status_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "demo.fakelofter", "--port", str(port)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"cannot listen on 127.0.0.1:{port} (Address already in use): pass another --port"
    ]
