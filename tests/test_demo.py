"""The README's first command: the offline demo stores every sample image, twice in a row."""

from __future__ import annotations

import subprocess
import sys

import pytest

from demo import images
from demo.crawling import REPO, stored_files
from demo.run import DEMO_IMAGES


@pytest.mark.slow
def test_demo_stores_every_sample_and_reruns_clean(tmp_path):
    command = [sys.executable, "-m", "demo", "--output", str(tmp_path)]
    first = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr
    stored = stored_files(tmp_path / "images")
    urlfile_images = {path: body for path, body in stored.items() if not path.startswith("ceshi/")}
    lofter_images = {path: body for path, body in stored.items() if path.startswith("ceshi/")}
    assert {images.sha256(body) for body in urlfile_images.values()} == {images.sha256(b) for b in DEMO_IMAGES.values()}
    assert len(lofter_images) == 10  # every image of the blog's public posts
    assert "uses the file: scheme" in first.stderr

    second = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0
    assert second.stderr.count("already present: 10") == 2
    assert stored_files(tmp_path / "images") == stored
