"""The code style the project agreed on (pyproject.toml [tool.ruff]) holds for every Python file."""

from __future__ import annotations

import subprocess
import sys

import pytest

from demo.crawling import REPO

PATHS = ["imagescraper", "demo", "tests", "deploy", "bench", "setup.py"]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff_finds_nothing(command):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "--no-cache", *PATHS],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
