"""Where imagescraper's time goes: one run under py-spy, summed up in a few lines.

py-spy samples only while a thread holds the GIL (``--gil``), so the samples are the time the event
loop and the check thread keep each other waiting; native frames show libjpeg and zlib by name.
Each sample is put in the first part of the code its stack reaches, read from the innermost frame
outwards, so a log call made by a middleware counts as logging, and anything under an import counts
as start-up.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# (part, path fragments), checked in this order against each frame from the innermost outwards.
PARTS = (
    ("image checks (Pillow, libjpeg, zlib)", ("imagescraper/validation.py", "imagescraper/imagedata.py", "/PIL/",
                                             "simplejpeg", "libjpeg", "libz", "zlib")),
    ("store (hash, write, manifest)", ("imagescraper/store.py", "_validate_and_store", "hashlib")),
    ("logging and stats", ("/logging/", "scrapy/statscollectors", "imagescraper/report.py")),
    ("downloader middlewares and address guard", ("scrapy/downloadermiddlewares/", "imagescraper/guard.py",
                                                  "imagescraper/retry.py", "scrapy/resolver")),
    ("HTTP client (Twisted)", ("scrapy/core/downloader/handlers", "twisted/web/", "twisted/protocols/",
                               "twisted/internet/endpoints", "twisted/internet/tcp", "idna/")),
    ("downloader and slots", ("scrapy/core/downloader/", "imagescraper/downloader.py")),
    ("media pipeline", ("scrapy/pipelines/", "imagescraper/pipelines.py")),
    ("engine, scraper and spider middlewares", ("scrapy/core/", "scrapy/spidermiddlewares/",
                                                "imagescraper/spiders/", "scrapy/utils/")),
    ("Deferreds and the event loop", ("twisted/internet/", "asyncio/", "twisted/python/")),
)  # fmt: skip
START_UP = "importlib._bootstrap"


def section(argv: list[str], env: dict, work: Path, what: str) -> str:
    """Run ARGV once under py-spy and return the README-ready headline."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return "\npy-spy is not installed (`./dev bench` installs it): no profile."
    out = work / "out-profile"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    raw = work / "profile.txt"
    record = [spy, "record", "--gil", "--native", "--rate", "250", "--format", "raw", "-o", str(raw), "--", *argv]
    with open(work / "profile.log", "wb") as log:
        code = subprocess.run(record, cwd=out, env=env, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
    if code != 0 or not raw.exists():
        return f"\npy-spy failed (exit {code}); see {work / 'profile.log'}."
    return headline(raw.read_text(), what)


def headline(collapsed: str, what: str) -> str:
    """Sum py-spy's collapsed stacks (``frame;frame;... count`` lines) into parts and hot functions."""
    parts: Counter = Counter()
    leaves: Counter = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = stack.split(";")
        total += samples
        leaves[_short(frames[-1])] += samples
        parts[_part(frames)] += samples
    if not total:
        return "\npy-spy recorded no samples."
    shares = ", ".join(f"{name} {n * 100 / total:.0f}%" for name, n in parts.most_common())
    hot = ", ".join(f"{name} {n * 100 / total:.1f}%" for name, n in leaves.most_common(6))
    return (
        f"\n### Profile: py-spy --gil --native, {total} samples of imagescraper on {what}\n\n"
        f"Time holding the GIL, by part: {shares}.\n\nHottest functions (own time): {hot}."
    )


def _part(frames: list[str]) -> str:
    if any(START_UP in frame for frame in frames):
        return "start-up (imports)"
    for frame in reversed(frames):
        for name, fragments in PARTS:
            if any(fragment in frame for fragment in fragments):
                return name
    return "other"


def _short(frame: str) -> str:
    """``func (path/to/module.py:12)`` as ``func (module.py)``."""
    function, _, where = frame.partition(" (")
    return f"{function} ({Path(where.split(':')[0]).name})" if where else function
