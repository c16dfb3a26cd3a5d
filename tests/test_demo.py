"""The README's first command: the offline demo stores every sample image, twice in a row."""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import sys

import pytest

from demo import images
from demo.crawling import REPO, stored_files
from demo.run import DEMO_IMAGES


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for each in sockets:
        each.bind(("127.0.0.1", 0))
    ports = [each.getsockname()[1] for each in sockets]
    for each in sockets:
        each.close()
    return ports


@pytest.mark.slow
def test_demo_stores_every_sample_and_reruns_clean(tmp_path):
    # Ports of its own, so that another demo on this machine cannot move the URLs between the runs.
    image_port, lofter_port = _free_ports(2)
    command = [sys.executable, "-m", "demo", "--output", str(tmp_path)]
    command += ["--image-port", str(image_port), "--lofter-port", str(lofter_port)]
    first = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr
    stored = stored_files(tmp_path / "images")
    urlfile_images = {path: body for path, body in stored.items() if not path.startswith("ceshi/")}
    lofter_images = {path: body for path, body in stored.items() if path.startswith("ceshi/")}
    assert {images.sha256(body) for body in urlfile_images.values()} == {images.sha256(b) for b in DEMO_IMAGES.values()}
    assert len(lofter_images) == 10  # every image of the blog's public posts
    assert "uses the file: scheme" in first.stderr
    # The gallery of the demo store, and how to open it.
    assert f"open the gallery in a browser: file://{tmp_path}/gallery/index.html" in first.stdout
    index_text = (tmp_path / "gallery" / "index.html").read_text(encoding="utf-8")
    assert re.search(r"\b20 images in 2 folders \(7 albums\)", index_text)
    # The printed "serve it" command names the same settings: run without --serve, it finds
    # nothing to rebuild and the gallery keeps its title.
    [hint] = [line for line in first.stdout.splitlines() if "serve it on 127.0.0.1: " in line]
    served = shlex.split(hint.split("serve it on 127.0.0.1: ", 1)[1])
    assert served[:3] == [".venv/bin/scrapy", "gallery", "--serve"]
    index_before = (tmp_path / "gallery" / "index.html").read_bytes()
    rebuild = subprocess.run([sys.executable, "-m", "scrapy", "gallery", *served[3:]], cwd=REPO,
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert rebuild.returncode == 0 and "incremental build: 0 manifest records read" in rebuild.stdout, rebuild.stdout
    assert " 0 pages written" in rebuild.stdout
    assert (tmp_path / "gallery" / "index.html").read_bytes() == index_before
    assert "<title>All folders · imagescraper demo</title>" in index_before.decode("utf-8")

    second = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0
    assert len(re.findall(r"^\s*already present: 10$", second.stderr, re.M)) == 2, second.stderr
    assert stored_files(tmp_path / "images") == stored
    assert "incremental build: 0 manifest records read (0 new)" in second.stdout
