"""The gallery's numbers: a first build of the corpus, and an incremental build after a run added
100 images to a store of 100,000 (README "The gallery").

Stores are made of hard links to the corpus files (copies where links are not possible), with
manifest lines in the pipeline's format, so every manifest entry points at a real file. Builds
run in this process with one thumbnail thread per core; thumbnails made are counted per image.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from bench import corpus
from imagescraper.gallery import thumbs
from imagescraper.gallery.build import BuildReport, GalleryBuilder
from imagescraper.gallery.render import SiteOptions, relative_files_url

ALBUM_SIZE = 100  # images per folder, about a busy LOFTER post or a day of a URL list


@dataclass
class Timed:
    report: BuildReport
    wall: float
    cpu: float
    made: Counter


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _facts(path: Path) -> dict:
    with Image.open(path) as image:
        return {"width": image.width, "height": image.height, "format": image.format,
                "frames": getattr(image, "n_frames", 1)}  # fmt: skip


def write_store(store: Path, sources: list[tuple[Path, dict]], count: int, first: int = 0) -> None:
    """Append *count* manifest entries to *store*, cycling through *sources* (file, facts+sha)."""
    meta = store / ".imagescraper"
    meta.mkdir(parents=True, exist_ok=True)
    lines = []
    for number in range(first, first + count):
        source, facts = sources[number % len(sources)]
        path = f"album-{number // ALBUM_SIZE:05d}/img-{number:07d}{source.suffix}"
        _link(source, store / path)
        lines.append(json.dumps({"url": f"http://bench.example/{number}{source.suffix}", "path": path, **facts,
                                 "title": f"album {number // ALBUM_SIZE}",
                                 "stored_at": f"2026-11-{1 + number % 28:02d}T00:00:00+00:00"}))  # fmt: skip
    with (meta / "manifest.jsonl").open("a") as out:
        out.write("\n".join(lines) + "\n")


def timed_build(store: Path, gallery: Path, full: bool = False) -> Timed:
    made: Counter = Counter()
    real = thumbs.make_thumbnails

    def counting(original, gallery_dir, sha256, image_format):
        made[sha256] += 1
        real(original, gallery_dir, sha256, image_format)

    options = SiteOptions(title="bench", page_size=200, files_url=relative_files_url(str(store), str(gallery)))
    thumbs.make_thumbnails = counting
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    try:
        report = GalleryBuilder(store, gallery, options, workers=os.cpu_count() or 1).build(full=full)
    finally:
        thumbs.make_thumbnails = real
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Timed(report, wall, cpu, made)


def sources_of(folder: Path, files: list[dict]) -> list[tuple[Path, dict]]:
    found = []
    for entry in files:
        path = folder / entry["name"]
        found.append((path, {"sha256": entry["sha256"], "bytes": entry["size"], **_facts(path)}))
    return found


def run(corpus_dir: Path, files: list[dict], work: Path, big: int, added: int) -> list[str]:
    """The lines of the report's gallery section."""
    work = work / "gallery"
    shutil.rmtree(work, ignore_errors=True)
    sources = sources_of(corpus_dir, files)
    lines = []

    write_store(work / "store-first", sources, len(sources))
    first = timed_build(work / "store-first", work / "gallery-first")
    cores = os.cpu_count() or 1
    made = sum(first.made.values())
    lines.append(
        f"First build of {len(sources)} images ({made} thumbnail sets, two WebP sizes each, {cores} threads): "
        f"{first.wall:.1f} s wall, {first.cpu:.1f} s CPU; {made / first.wall:.0f} images/s, "
        f"{made / first.cpu:.1f} images per CPU-second (per core); {first.report.pages_written} pages."
    )

    store, gallery = work / "store-big", work / "gallery-big"
    write_store(store, sources, big)
    shutil.copytree(work / "gallery-first" / "t", gallery / "t", copy_function=os.link)
    setup = timed_build(store, gallery)
    lines.append(
        f"A store of {big:,} manifest entries ({big // ALBUM_SIZE:,} folders of {ALBUM_SIZE}, pointing at the "
        f"{len(sources)} corpus files under {big:,} names; thumbnails already there): full build "
        f"{setup.wall:.1f} s, {setup.report.pages_written:,} pages, {sum(setup.made.values())} thumbnails made."
    )

    fresh_dir = work / "new-images"
    fresh = sources_of(fresh_dir, corpus.build(fresh_dir, added, seed=20261130))
    write_store(store, fresh, added, first=big)
    update = timed_build(store, gallery)
    twice = [sha for sha, count in update.made.items() if count > 1 or sha in setup.made]
    lines.append(
        f"Then a run adds {added} new images: incremental build {update.wall:.2f} s wall, {update.cpu:.2f} s CPU, "
        f"{update.report.new_records} manifest lines read, {sum(update.made.values())} thumbnails made "
        f"({len(twice)} made twice), {update.report.pages_written} pages written, "
        f"{update.report.pages_unchanged} unchanged. Goal: under 10 s "
        f"({'met' if update.wall < 10 and not twice else 'NOT met'})."
    )
    again = timed_build(store, gallery)
    lines.append(
        f"A rebuild with nothing new: {again.wall:.2f} s, {sum(again.made.values())} thumbnails made, "
        f"{again.report.pages_written} pages written."
    )
    return lines


def tiny_check() -> None:  # pragma: no cover - a manual smoke test: python -m bench.gallery
    work = Path("/tmp/imagescraper-bench-gallery")
    files = corpus.build(work / "corpus", 20)
    print("\n".join(run(work / "corpus", files, work, big=1000, added=10)))


if __name__ == "__main__":
    tiny_check()
