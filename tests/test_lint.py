"""The code style the project agreed on (pyproject.toml [tool.ruff]) holds for every Python file."""

from __future__ import annotations

import subprocess
import sys

from tests.crawling import REPO


def test_ruff_finds_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "imagescraper", "tests", "deploy", "bench", "setup.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
