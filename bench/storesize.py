"""The store-size case of the benchmark: a store whose index lists a million images.

The urlfile job's store only grows, so what a run costs must not grow with it. The store is made
of SIZE synthetic manifest lines (images whose files do not exist: only the index's size
matters) plus STORED real images fetched from nginx, and then measured:

- rebuilding the index from the manifest (what the first run after an upgrade, or after the
  index is lost, pays once) and opening the store afterwards (median of 5, in a fresh process),
  with the cost of one lookup;
- a rerun over the STORED URLs: wall, CPU, peak RSS and image requests (nginx's access log);
- a first run over STORED new URLs into the big store, next to the same into an empty store;
- CPU per stored image of the main corpus at 0 ms with ``IMAGESCRAPER_DURABLE`` on and off.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from bench.bench import commands, run_measured, small_images, stored_hashes, table

# Opens the store in a fresh process, then looks up every URL of a list: seconds to open, seconds
# per lookup, images found, peak RSS in MB.
_OPEN_AND_LOOK_UP = """
import resource, sys, time
from imagescraper.identity import canonical_url
from imagescraper.store import ImageStore
started = time.perf_counter()
store = ImageStore(sys.argv[1])
store.open()
opened = time.perf_counter() - started
keys = [canonical_url(line.strip()) for line in open(sys.argv[2]) if line.strip()]
started = time.perf_counter()
found = sum(store.lookup(key) is not None for key in keys)
per_lookup = (time.perf_counter() - started) / max(len(keys), 1)
store.close()
print(opened, per_lookup, found, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def _write_synthetic_manifest(store: Path, size: int) -> None:
    meta = store / ".imagescraper"
    meta.mkdir(parents=True)
    with open(meta / "manifest.jsonl", "w", encoding="utf-8") as manifest:
        for start in range(0, size, 10_000):
            manifest.write(
                "".join(
                    f'{{"url":"http://synthetic.invalid/img/{i:07d}.jpg","path":"synthetic/{i // 1000:04d}/'
                    f'{i:07d}-{i:016x}.jpg","sha256":"{i:064x}","bytes":{60_000 + i % 5000},"width":800,'
                    f'"height":600,"format":"JPEG","frames":1,"title":"synthetic","stored_at":"2026-01-01T00:00:00+00:00"}}\n'
                    for i in range(start, min(start + 10_000, size))
                )
            )


def _open_store(store: Path, urls: Path) -> tuple[float, float, int, float]:
    out = subprocess.run(
        [sys.executable, "-c", _OPEN_AND_LOOK_UP, str(store), str(urls)], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), float(out[1]), int(out[2]), float(out[3])


def _crawl(urls: Path, out: Path, nginx, *, fresh: bool, durable: bool = True) -> tuple[float, float, float, int]:
    if fresh:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
    argv, env = commands("imagescraper", urls, out, nginx.base(0).removeprefix("http://"))
    return run_measured([*argv, "-s", f"IMAGESCRAPER_DURABLE={durable}"], out, env)


def _url_list(path: Path, base: str, names: list[str], query: str = "") -> Path:
    path.write_text("".join(f"{base}/{name}{query}\n" for name in names))
    return path


def store_size_section(files, nginx, work: Path, *, size: int, stored: int, runs: int) -> str:
    names = small_images(nginx, work, stored)
    base = nginx.base(0)
    stored_urls = _url_list(work / "urls-store-stored.txt", base, names)
    big = work / "store-big"
    shutil.rmtree(big, ignore_errors=True)
    print(f"  store size: writing {size:,} synthetic manifest lines", file=sys.stderr, flush=True)
    _write_synthetic_manifest(big, size)
    rebuild = _open_store(big, stored_urls)
    print(f"  store size: index rebuilt in {rebuild[0]:.1f} s; fetching {stored:,} images", file=sys.stderr, flush=True)
    fill = _crawl(stored_urls, big, nginx, fresh=False)
    opens = [_open_store(big, stored_urls) for _ in range(5)]
    before = nginx.requests_so_far()
    rerun = _crawl(stored_urls, big, nginx, fresh=False)
    rerun_requests = nginx.requests_so_far() - before

    into_big, into_empty = [], []
    for run in range(runs):
        new_urls = _url_list(work / f"urls-store-new-{run}.txt", base, names, f"?new={run}")
        into_big.append(_crawl(new_urls, big, nginx, fresh=False))
        into_empty.append(_crawl(new_urls, work / "store-empty", nginx, fresh=True))
        print(f"  store size run {run + 1}: {stored:,} new URLs into the big store {into_big[-1][0]:.1f} s,"
              f" into an empty one {into_empty[-1][0]:.1f} s", file=sys.stderr, flush=True)  # fmt: skip

    def row(what, measures, requests="-"):
        return (what, f"{statistics.median(m[0] for m in measures):.2f}",
                f"{statistics.median(m[1] for m in measures):.2f}",
                f"{statistics.median(m[2] for m in measures):.0f}", requests)  # fmt: skip

    open_row = (
        "opening the store (fresh process, median of 5)",
        f"{statistics.median(o[0] for o in opens):.3f}",
        "-",
        f"{statistics.median(o[3] for o in opens):.0f}",
        "-",
    )
    rows = [
        ("rebuilding the index from the manifest (once)", f"{rebuild[0]:.1f}", "-", f"{rebuild[3]:.0f}", "-"),
        open_row,
        row(f"first run over {stored:,} URLs while the store fills", [fill]),
        row(f"rerun over {stored:,} stored URLs", [rerun], str(rerun_requests)),
        row(f"first run over {stored:,} new URLs into the big store (median of {runs})", into_big),
        row(f"first run over {stored:,} new URLs into an empty store (median of {runs})", into_empty),
    ]
    lookup_us = statistics.median(o[1] for o in opens) * 1e6
    found = opens[0][2]
    text = f"\n### A store whose index lists {size + stored:,} images ({stored:,} of them real files), 0 ms\n\n"
    text += table(rows, ("", "wall s", "CPU s", "peak RSS MB", "image requests"))
    text += f"\n\nOne lookup (an indexed query and a stat) took {lookup_us:.1f} µs; {found:,}/{stored:,} were found."
    return text + "\n" + durable_section(files, nginx, work, runs)


def durable_section(files, nginx, work: Path, runs: int) -> str:
    """CPU per stored image of the main corpus at 0 ms, with durable writes on and off."""
    urls = _url_list(work / "urls-durable.txt", nginx.base(0), [f["name"] for f in files])
    expected = len(files)
    results: dict[bool, list] = {True: [], False: []}
    for _ in range(runs):
        for durable in (True, False):
            out = work / f"out-durable-{durable}"
            measure = _crawl(urls, out, nginx, fresh=True, durable=durable)
            results[durable].append((*measure[:3], sum(stored_hashes(out).values())))
    rows = []
    for durable, measures in results.items():
        wall = statistics.median(m[0] for m in measures)
        cpu = statistics.median(m[1] for m in measures)
        rows.append((str(durable), f"{wall:.2f}", f"{cpu / expected * 1000:.2f}",
                     f"{statistics.median(m[2] for m in measures):.0f}",
                     f"{min(m[3] for m in measures)}/{expected}"))  # fmt: skip
    return f"\n### Durable writes: {expected} images at 0 ms, median of {runs} runs\n\n" + table(
        rows, ("IMAGESCRAPER_DURABLE", "wall s", "CPU ms/image", "peak RSS MB", "stored (worst run)")
    )
