"""The README's first command: the offline demo stores every sample image, twice in a row."""

from __future__ import annotations

import subprocess
import sys

from tests import images
from tests.crawling import REPO, stored_files
from tests.demo import DEMO_IMAGES


def test_demo_stores_every_sample_and_reruns_clean(tmp_path):
    command = [sys.executable, "-m", "tests.demo", "--output", str(tmp_path)]
    first = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr
    stored = stored_files(tmp_path / "images")
    assert {images.sha256(body) for body in stored.values()} == {images.sha256(b) for b in DEMO_IMAGES.values()}
    assert "uses the file: scheme" in first.stderr

    second = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0
    assert "already present: 10" in second.stderr
    assert stored_files(tmp_path / "images") == stored
