"""Running the real `scrapy crawl` command in a subprocess, as a user or scrapyd would, and
reading back what it left in the image store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def crawl_command(spider: str, store: Path, args: dict, settings: dict) -> list[str]:
    command = [sys.executable, "-m", "scrapy", "crawl", spider, "-s", f"IMAGES_STORE={store}"]
    for name, value in args.items():
        command += ["-a", f"{name}={value}"]
    for name, value in settings.items():
        command += ["-s", f"{name}={value}"]
    return command


def start_crawl(spider: str, store: Path, *, args: dict, settings: dict | None = None, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        crawl_command(spider, store, args, settings or {}),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        **popen,
    )


@dataclass
class CrawlResult:
    status: int
    log: str
    store: Path

    @property
    def summary(self) -> dict:
        return json.loads((self.store / ".imagescraper" / "last-run.json").read_text("utf-8"))

    def manifest(self) -> list[dict]:
        path = self.store / ".imagescraper" / "manifest.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]

    def stored_files(self) -> dict[str, bytes]:
        return stored_files(self.store)


def stored_files(store: Path) -> dict[str, bytes]:
    """Every file a web server would serve from the store (the meta folder left out)."""
    found = {}
    for path in store.rglob("*"):
        relative = path.relative_to(store)
        if path.is_file() and relative.parts[0] != ".imagescraper":
            found[relative.as_posix()] = path.read_bytes()
    return found


def crawl(spider: str, store: Path, *, args: dict, settings: dict | None = None, timeout: float = 120) -> CrawlResult:
    process = start_crawl(spider, store, args=args, settings=settings)
    try:
        log, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        log, _ = process.communicate()
        raise AssertionError(f"crawl did not finish in {timeout} s; log:\n{log[-5000:]}") from None
    return CrawlResult(process.returncode, log, store)
