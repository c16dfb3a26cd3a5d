"""The README's first command: the offline demo stores every sample image, twice in a row."""

from __future__ import annotations

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
    assert "scrapy gallery --serve" in first.stdout
    assert "20 images in 7 folders" in (tmp_path / "gallery" / "index.html").read_text(encoding="utf-8")

    second = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0
    assert second.stderr.count("already present: 10") == 2
    assert stored_files(tmp_path / "images") == stored
    assert "incremental build: 0 new manifest records" in second.stdout
