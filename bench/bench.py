"""imagescraper against stock Scrapy, aria2c and curl on the same URL list, with wrk as the server's limit.

Run through `./dev bench` (README "Benchmark"). It measures and prints; it never passes or fails on
a time. Every tool gets a fresh output folder each run, and each run is checked: every image of the
list must be on disk with the right SHA-256, or the row says how many are missing (stock Scrapy's
ImagesPipeline re-encodes, so its row counts the files it wrote). The goals of issue 15 are
computed as ratios within the same run: CPU per stored image against stock FilesPipeline at 0 ms,
images/s against wrk's limit at the delay.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from bench import corpus, profile, stock

REPO = Path(__file__).resolve().parent.parent
SCRAPY = str(Path(sys.executable).with_name("scrapy"))
CONCURRENCY = 16
TOOLS = ("imagescraper", "stock-files", "stock-images", "aria2c", "curl", "wget")
# Issue 15's goals: CPU per stored image at 0 ms at most this times stock FilesPipeline's...
CPU_GOAL = 1.3
# ...and at a delay at least this share of the images/s wrk gets over 16 connections.
WRK_GOAL = 0.95
ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"


@dataclass
class Measure:
    wall: float
    cpu: float
    peak_rss_mb: float
    stored_ok: int
    expected: int
    requests: int = 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    """nginx serving the corpus on two loopback ports: as is, and with every response delayed."""

    def __init__(self, root: Path, work: Path, delay_ms: int = 50):
        self.root, self.work, self.delay_ms = root, work, delay_ms
        self.ports = {0: free_port(), delay_ms: free_port()}
        self.access_log = work / "access.log"

    def __enter__(self) -> Nginx:
        self.work.mkdir(parents=True, exist_ok=True)
        conf = self.work / "nginx.conf"
        conf.write_text(f"""
load_module {ECHO_MODULE};
worker_processes 1;
pid {self.work}/nginx.pid;
error_log {self.work}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {self.access_log} combined buffer=256k flush=1s;
    sendfile on; tcp_nopush on; keepalive_requests 1000000;
    types {{ image/jpeg jpg; image/png png; image/gif gif; }}
    server {{ listen 127.0.0.1:{self.ports[0]}; root {self.root}; }}
    server {{
        listen 127.0.0.1:{self.ports[self.delay_ms]}; root {self.root};
        location / {{ echo_sleep {self.delay_ms / 1000}; echo_exec @file; }}
        location @file {{ }}
    }}
}}
""")
        subprocess.run(["nginx", "-t", "-q", "-c", str(conf), "-p", str(self.work)], check=True)
        subprocess.run(["nginx", "-c", str(conf), "-p", str(self.work)], check=True)
        return self

    def base(self, latency: int) -> str:
        return f"http://127.0.0.1:{self.ports[latency]}"

    def requests_so_far(self) -> int:
        time.sleep(1.2)  # the access log buffer flushes every second
        try:
            with open(self.access_log, "rb") as log:
                return sum(1 for _ in log)
        except FileNotFoundError:
            return 0

    def __exit__(self, *exc):
        pid = (self.work / "nginx.pid").read_text().strip()
        subprocess.run(["kill", pid], check=False)


def run_measured(argv: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds (user + system) and peak RSS in MB of one command, measured by GNU
    time so that the fork of this Python process does not count in the tool's peak RSS."""
    stats = cwd.parent / f"{cwd.name}.time"
    with open(cwd / "output.log", "wb") as out:
        code = subprocess.run(
            ["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(stats), *argv],
            cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False,
        ).returncode  # fmt: skip
    wall, user, system, rss_kb = stats.read_text().split()[-4:]
    return float(wall), float(user) + float(system), int(rss_kb) / 1024, code


def stored_hashes(folder: Path) -> Counter:
    found: Counter = Counter()
    for path in folder.rglob("*"):
        if path.is_file() and ".imagescraper" not in path.parts and path.name != "output.log":
            found[hashlib.sha256(path.read_bytes()).hexdigest()] += 1
    return found


def commands(tool: str, urls: Path, out: Path, nginx_hostport: str) -> tuple[list[str], dict | None]:
    if tool == "imagescraper":
        settings = {
            "IMAGES_STORE": str(out),
            "CONCURRENT_REQUESTS": CONCURRENCY,
            "CONCURRENT_REQUESTS_PER_DOMAIN": CONCURRENCY,
            "IMAGESCRAPER_ALLOW_HOSTS": nginx_hostport,
            "LOG_LEVEL": "WARNING",
        }
        argv = [SCRAPY, "crawl", "urlfile", "-a", f"path={urls}"]
        for key, value in settings.items():
            argv += ["-s", f"{key}={value}"]
        return argv, {**os.environ, "SCRAPY_SETTINGS_MODULE": "imagescraper.settings"}
    if tool.startswith("stock-"):
        pipelines, store, field = stock.PIPELINES[tool.removeprefix("stock-")]
        argv = [SCRAPY, "crawl", "stock", "-a", f"path={urls}", "-a", f"field={field}",
                "-s", f"{store}={out}", "-s", f"ITEM_PIPELINES={json.dumps(pipelines)}"]  # fmt: skip
        return argv, {**os.environ, "SCRAPY_SETTINGS_MODULE": "bench.stock", "PYTHONPATH": str(REPO)}
    if tool == "aria2c":
        return [
            "aria2c", f"-j{CONCURRENCY}", "-x1", "-i", str(urls), "-d", str(out), "--quiet=true",
            "--auto-file-renaming=false", "--allow-overwrite=true", "--file-allocation=none",
            "--max-connection-per-server=1", "--check-certificate=false",
        ], None  # fmt: skip
    if tool == "wget":
        return ["wget", "-q", "-x", "-nH", "-i", str(urls), "-P", str(out)], None
    if tool == "curl":
        config = out.parent / f"{out.name}.curl"
        lines = []
        for url in urls.read_text().split():
            lines += [f'url = "{url}"', f'output = "{out}/{url.split("/", 3)[3]}"']
        config.write_text("\n".join(lines) + "\n")
        return [
            "curl",
            "-s",
            "--parallel",
            "--parallel-max",
            str(CONCURRENCY),
            "--create-dirs",
            "-K",
            str(config),
        ], None
    raise ValueError(tool)


def run_tool(tool: str, urls: Path, expected: Counter, nginx: Nginx, latency: int, work: Path) -> Measure:
    out = work / f"out-{tool}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    hostport = nginx.base(latency).removeprefix("http://")
    argv, env = commands(tool, urls, out, hostport)
    before = nginx.requests_so_far()
    wall, cpu, rss, code = run_measured(argv, out, env)
    requests = nginx.requests_so_far() - before
    found = stored_hashes(out)
    if tool == "stock-images":  # re-encoded to JPEG: no file can match, count what was written
        ok = min(sum(found.values()), sum(expected.values()))
    else:
        ok = sum(min(found[h], n) for h, n in expected.items())
    if code != 0 and ok != sum(expected.values()):
        print(f"  {tool} exited {code}; see {out / 'output.log'}", file=sys.stderr)
    return Measure(wall, cpu, rss, ok, sum(expected.values()), requests)


def wrk_limit(nginx: Nginx, latency: int, names: list[str], work: Path, seconds: int = 8) -> float:
    """Requests per second nginx serves over 16 connections, cycling through the same paths."""
    script = work / "paths.lua"
    paths = ",".join(f'"/{n}"' for n in names)
    script.write_text(
        f"local paths = {{{paths}}}\nlocal i = 0\n"
        "request = function()\n  i = i % #paths + 1\n  return wrk.format('GET', paths[i])\nend\n"
    )
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONCURRENCY}", f"-d{seconds}s", "-s", str(script), nginx.base(latency)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError(out)


def table(rows: list[tuple], headers: tuple) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    line = lambda r: "| " + " | ".join(str(x).rjust(w) for x, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def speed_section(files, nginx, latencies, tools, runs, work, mix: str = "jpeg") -> str:
    names = [f"{mix}/{f['name']}" for f in files]
    expected = Counter(f["sha256"] for f in files)
    megabytes = sum(f["size"] for f in files) / 1e6
    kinds = Counter(n.rsplit(".", 1)[1] for n in names)
    shares = ", ".join(f"{kinds[k] * 100 / len(names):.0f}% {k.upper()}" for k in ("jpg", "png", "gif"))
    out, goals = [], []
    for latency in latencies:
        urls = work / f"urls-{mix}-{latency}ms.txt"
        urls.write_text("".join(f"{nginx.base(latency)}/{n}\n" for n in names))
        results: dict[str, list[Measure]] = {}
        for run in range(runs):
            for tool in tools:
                measure = run_tool(tool, urls, expected, nginx, latency, work)
                results.setdefault(tool, []).append(measure)
                print(f"  {mix} {latency} ms run {run + 1}: {tool:12s} {measure.wall:7.2f} s, "
                      f"{measure.cpu:6.2f} CPU s, {measure.stored_ok}/{measure.expected} stored",
                      file=sys.stderr, flush=True)  # fmt: skip
        limit = statistics.median(wrk_limit(nginx, latency, names, work) for _ in range(runs))
        aria = statistics.median(m.wall for m in results["aria2c"]) if "aria2c" in results else None
        rows = []
        for tool, measures in results.items():
            wall = statistics.median(m.wall for m in measures)
            rate = len(names) / wall
            rows.append((
                tool, f"{wall:.2f}", f"{rate:.0f}", f"{megabytes / wall:.1f}", f"{cpu_per_image(measures):.2f}",
                f"{statistics.median(m.peak_rss_mb for m in measures):.0f}",
                f"{aria / wall:.2f}x" if aria else "-",
                f"{rate / limit:.2f}",
                f"{min(m.stored_ok for m in measures)}/{len(names)}",
            ))  # fmt: skip
        rows.append(("wrk (server limit)", "-", f"{limit:.0f}", "-", "-", "-",
                     f"{limit * aria / len(names):.2f}x" if aria else "-", "1.00", "-"))  # fmt: skip
        out.append(f"\n### {mix} mix ({shares}): {len(names)} images ({megabytes:.0f} MB), {latency} ms per "
                   f"response, concurrency {CONCURRENCY}, median of {runs} runs\n")  # fmt: skip
        out.append(table(rows, ("tool", "wall s", "images/s", "MB/s", "CPU ms/stored img", "peak RSS MB",
                                "vs aria2c", "vs wrk", "stored (worst run)")))  # fmt: skip
        if "imagescraper" in results:
            wall = statistics.median(m.wall for m in results["imagescraper"])
            fixed = fixed_cost(files[0], mix, nginx, latency, runs, work)
            out.append(ceiling_note(fixed, latency, len(names), wall, aria))
            goals.append(goal_line(mix, latency, results, len(names), limit, fixed))
            if latency == 0 and "stock-files" in results:
                check = check_cost(work / "corpus" / mix, files)
                goals.append(cpu_floor_line(mix, results, check))
            elif latency and "stock-files" in results:
                starts = {
                    t: first_response(t, files[0], mix, nginx, runs, work) for t in ("stock-files", "imagescraper")
                }
                goals.append(start_floor_line(mix, latency, len(names), limit, starts))
    if goals:
        out.append("\nGoals (issue 15), as ratios within this run:\n\n" + "\n".join(f"- {g}" for g in goals))
    return "\n".join(out)


def cpu_per_image(measures: list[Measure]) -> float:
    """Median CPU milliseconds per image stored (user + system of the whole process, start-up included)."""
    return statistics.median(m.cpu / max(m.stored_ok, 1) * 1000 for m in measures)


def goal_line(mix: str, latency: int, results: dict[str, list[Measure]], count: int, limit: float, fixed: float) -> str:
    ours = results["imagescraper"]
    if latency == 0:
        if "stock-files" not in results:
            return f"{mix}, 0 ms: CPU per stored image needs the stock-files tool in --tools"
        ratio = cpu_per_image(ours) / cpu_per_image(results["stock-files"])
        verdict = "met" if ratio <= CPU_GOAL else "not met"
        return (f"{mix}, 0 ms: CPU per stored image {cpu_per_image(ours):.2f} ms, stock FilesPipeline "
                f"{cpu_per_image(results['stock-files']):.2f} ms: {ratio:.2f}x (goal at most {CPU_GOAL}x): "
                f"**{verdict}**")  # fmt: skip
    wall = statistics.median(m.wall for m in ours)
    rate = count / wall
    # wrk measures a server already warm; a run also starts a process. Both ratios are given: the
    # whole run's, and the one after the fixed cost (process start, one image, exit).
    per_second = CONCURRENCY * 1000 / latency
    best = count / (fixed + count / per_second)
    verdict = "met" if rate / limit >= WRK_GOAL else "not met"
    text = (f"{mix}, {latency} ms: {rate:.0f} images/s, wrk's limit {limit:.0f}/s: {rate / limit:.2f} "
            f"(goal at least {WRK_GOAL}): **{verdict}** for the whole run, where {fixed:.2f} s of fixed cost "
            f"caps any run at {best / limit:.2f} (every later image at the {per_second:.0f}/s that "
            f"{CONCURRENCY} connections allow at {latency} ms)")  # fmt: skip
    if wall - fixed < 0.9 * count / per_second:  # less than physics allows: the fixed cost was mismeasured
        return text + "; the run is too short to tell its rate after the fixed cost (use a larger --n)"
    steady = (count - 1) / (wall - fixed)
    steady_verdict = "met" if steady / limit >= WRK_GOAL else "not met"
    return text + f"; after that fixed cost {steady:.0f} images/s, {steady / limit:.2f}: **{steady_verdict}**"


def cpu_floor_line(mix: str, results: dict[str, list[Measure]], check: float) -> str:
    """What 1.3x leaves over stock FilesPipeline, against what the check alone costs per image."""
    stock_cpu = cpu_per_image(results["stock-files"])
    room = (CPU_GOAL - 1) * stock_cpu
    floor = (stock_cpu + check) / stock_cpu
    return (f"{mix}, 0 ms, the arithmetic: {CPU_GOAL}x leaves {room:.2f} ms per image over stock FilesPipeline; "
            f"imagescraper's check alone (Pillow's header read and the strict JPEG/PNG/GIF checks, measured "
            f"in-process on this corpus) costs {check:.2f} ms per image, so even with a request path, store "
            f"and syncs that cost no more than stock Scrapy's the ratio is at least {floor:.2f}x")  # fmt: skip


def start_floor_line(mix: str, latency: int, count: int, limit: float, starts: dict[str, float]) -> str:
    """The best whole-run ratio any Scrapy process could reach at this delay: its start-up to the
    first response, then every image at the server's pace (wrk's), the exit taken as free."""
    parts = []
    for tool, seconds in starts.items():
        if seconds is None:
            parts.append(f"{tool} not measured (it fetched nothing)")
            continue
        best = count / (seconds + count / limit)
        parts.append(f"{tool} {seconds:.2f} s, so at best {best / limit:.3f}")
    needed = count / (WRK_GOAL * limit) - count / limit
    return (f"{mix}, {latency} ms, the arithmetic: at wrk's pace a whole run of {count} images reaches {WRK_GOAL} "
            f"only if its first response comes within {needed:.3f} s of exec; from exec to the first response "
            f"(0 ms) {'; '.join(parts)} of wrk's rate")  # fmt: skip


def fixed_cost(first, mix, nginx, latency, runs, work) -> float:
    """Wall seconds imagescraper takes for a list of one image: process start, one image, exit."""
    urls = work / f"urls-one-{latency}ms.txt"
    urls.write_text(f"{nginx.base(latency)}/{mix}/{first['name']}\n")
    expected = Counter([first["sha256"]])
    return statistics.median(run_tool("imagescraper", urls, expected, nginx, latency, work).wall for _ in range(runs))


def first_response(tool: str, first, mix, nginx, runs, work) -> float | None:
    """Seconds from a tool's exec to its first response at 0 ms (median): what a process start costs
    before any image, for imagescraper and for stock Scrapy alike (stock Scrapy's one-image run
    cannot tell it: it idles up to 5 s before it exits). Read from the tool's own log timestamps."""
    urls = work / "urls-first-0ms.txt"
    urls.write_text(f"{nginx.base(0)}/{mix}/{first['name']}\n")
    out = work / f"out-first-{tool}"
    seconds = []
    for _ in range(runs):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        argv, env = commands(tool, urls, out, nginx.base(0).removeprefix("http://"))
        argv += ["-s", "LOG_LEVEL=DEBUG", "-s", "LOG_FORMAT=%(created).3f %(message)s"]
        started = time.time()
        log = subprocess.run(argv, cwd=out, env=env, capture_output=True, text=True, check=False).stderr
        crawled = [line for line in log.splitlines() if "Crawled (200)" in line]
        if not crawled:
            print(f"  {tool} fetched nothing from {urls}; its start-up is left out:\n{log[-2000:]}", file=sys.stderr)
            return None
        seconds.append(float(crawled[0].split()[0]) - started)
    return statistics.median(seconds)


def check_cost(folder: Path, files: list[dict]) -> float:
    """CPU milliseconds per image of imagescraper's check alone (inspect_image) on this corpus, in
    this process: best of 3 passes over every file, the bytes already in memory."""
    from imagescraper import settings
    from imagescraper.validation import inspect_image

    bodies = [(folder / f["name"]).read_bytes() for f in files]
    best = float("inf")
    for _ in range(3):
        started = time.thread_time()
        for body in bodies:
            inspect_image(body, max_decoded_bytes=settings.IMAGESCRAPER_MAX_DECODED_BYTES)
        best = min(best, time.thread_time() - started)
    return best / len(bodies) * 1000


def ceiling_note(fixed, latency, count, wall, aria) -> str:
    """What imagescraper costs before and after its images (process start, one image, exit), what
    that leaves per image, and at a delay the best images/s it could reach if each image cost
    nothing more than the server's delay."""
    text = (
        f"\nimagescraper's fixed cost (process start, one image, exit): {fixed:.2f} s; beyond it,"
        f" {(wall - fixed) / count * 1000:.2f} ms per image."
    )
    if aria:
        budget = (aria - fixed) / count * 1000
        if budget > 0:
            text += f" Level with aria2c would allow {budget:.2f} ms per image."
        else:
            text += f" aria2c took {aria:.2f} s in all, less than that fixed cost."
    if latency:
        per_second = CONCURRENCY * 1000 / latency
        best = count / (fixed + count / per_second)
        text += (
            f" {CONCURRENCY} connections at {latency} ms serve at most {per_second:.0f} images/s, so with no cost"
            f" per image the best imagescraper can do here is {count} / ({fixed:.2f} + {count} / {per_second:.0f})"
            f" = {best:.0f} images/s"
        )
        text += f", {best * aria / count:.2f}x aria2c." if aria else "."
    return text


def memory_section(files, nginx, line_counts, work, mix: str = "jpeg") -> str:
    """Peak RSS of imagescraper over long lists that point at the corpus again and again: the list
    length grows, the number of distinct images does not."""
    names = [f"{mix}/{f['name']}" for f in files]
    rows = []
    for count in line_counts:
        urls = work / f"urls-{count}-lines.txt"
        with open(urls, "w") as handle:
            for i in range(count):
                handle.write(f"{nginx.base(0)}/{names[i % len(names)]}\n")
        out = work / "out-memory"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        argv, env = commands("imagescraper", urls, out, nginx.base(0).removeprefix("http://"))
        wall, cpu, rss, code = run_measured(argv, out, env)
        stored = sum(stored_hashes(out).values())
        rows.append((f"{count:,}", f"{min(count, len(names)):,}", f"{wall:.1f}", f"{cpu:.1f}", f"{rss:.0f}",
                     str(stored), str(code)))  # fmt: skip
        print(f"  memory {count} lines: {rss:.0f} MB, {wall:.1f} s", file=sys.stderr, flush=True)
    return "\n### imagescraper's memory against the list's length (0 ms)\n\n" + table(
        rows, ("lines", "distinct images", "wall s", "CPU s", "peak RSS MB", "stored", "exit")
    )


def rerun_section(nginx, work, count: int = 10_000) -> str:
    """A second run over COUNT stored URLs: it should read the manifest, not the network."""
    small = work / "small"
    files = small_images(nginx, work, count)
    urls = work / "urls-rerun.txt"
    urls.write_text("".join(f"{nginx.base(0)}/{n}\n" for n in files))
    shutil.rmtree(small, ignore_errors=True)
    small.mkdir()
    argv, env = commands("imagescraper", urls, small, nginx.base(0).removeprefix("http://"))
    first = run_measured(argv, small, env)
    before = nginx.requests_so_far()
    second = run_measured(argv, small, env)
    requests = nginx.requests_so_far() - before
    rows = [("first run", f"{first[0]:.1f}", f"{first[1]:.1f}", f"{first[2]:.0f}", "-"),
            ("second run", f"{second[0]:.2f}", f"{second[1]:.2f}", f"{second[2]:.0f}", str(requests))]  # fmt: skip
    return f"\n### A second run over {count:,} stored URLs\n\n" + table(
        rows, ("run", "wall s", "CPU s", "peak RSS MB", "image requests")
    )


def small_images(nginx, work: Path, count: int) -> list[str]:
    """COUNT tiny, distinct GIFs served by nginx under /small/ (the rerun case uses the same ones)."""
    names = []
    for i in range(count):
        name = f"small/{i // 1000:02d}/s-{i:05d}.gif"
        path = work / "corpus-small" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_tiny_gif(i))
        names.append(name)
    link = nginx.root / "small"
    if not link.exists():
        link.symlink_to(work / "corpus-small" / "small")
    return names


def _tiny_gif(i: int) -> bytes:
    out = io.BytesIO()
    Image.frombytes("L", (4, 4), i.to_bytes(4, "big") * 4).save(out, "GIF")  # each one different
    return out.getvalue()


def lofter_section(runs: int) -> str:
    """The lofter spider over the fake LOFTER (demo/fakelofter), page pause off: posts per second
    and CPU per post of the spider itself. The fake blog has a private post, so the run exits 1."""
    sys.path.insert(0, str(REPO))
    from demo.fakelofter import FakeLofter

    rows = []
    for source in ("html", "api"):
        measures = []
        for _ in range(runs):
            with FakeLofter() as site, tempfile.TemporaryDirectory() as tmp:
                settings = {**site.settings(), "IMAGES_STORE": tmp, "LOG_LEVEL": "WARNING",
                            "DOWNLOAD_SLOTS": "{}", "DOWNLOAD_DELAY": "0"}  # fmt: skip
                argv = [SCRAPY, "crawl", "lofter", "-a", "domain=ceshi", "-a", f"source={source}"]
                for key, value in settings.items():
                    argv += ["-s", f"{key}={value}"]
                env = {**os.environ, "SCRAPY_SETTINGS_MODULE": "imagescraper.settings"}
                wall, cpu, rss, code = run_measured(argv, Path(tmp), env)
                # Post pages fetched in html mode; posts the API listed in api mode.
                pages = {s.path for s in site.seen() if s.path.startswith("/post/")}
                posts = len(pages) if source == "html" else len(site.api_listing("ceshi"))
                measures.append((wall, cpu, rss, posts, code))
        wall = statistics.median(m[0] for m in measures)
        cpu = statistics.median(m[1] for m in measures)
        posts = measures[0][3] or 1
        rows.append((source, str(posts), f"{wall:.2f}", f"{posts / wall:.1f}", f"{cpu / posts * 1000:.0f}",
                     f"{statistics.median(m[2] for m in measures):.0f}"))  # fmt: skip
    return "\n### The lofter spider over the fake LOFTER (blog ceshi, page pause off)\n\n" + table(
        rows, ("source", "posts", "wall s", "posts/s", "CPU ms/post", "peak RSS MB")
    )


class _Redis:
    """A throwaway redis-server on a free loopback port for the fleet section."""

    def __init__(self, work: Path):
        self.work, self.port = work, free_port()

    def __enter__(self) -> _Redis:
        self.work.mkdir(parents=True, exist_ok=True)
        argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.work),
                "--save", "", "--appendonly", "no", "--daemonize", "no"]  # fmt: skip
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in self.process.stdout:
            if "Ready to accept connections" in line:
                break
        else:
            raise RuntimeError("redis-server did not start")
        return self

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def call(self, *args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True).stdout

    def __exit__(self, *exc):
        self.process.kill()
        self.process.wait()


def _fleet_run(urls: Path, nginx: Nginx, latency: int, work: Path, workers: int, frontier: str | None) -> tuple:
    """WORKERS imagescraper processes started together on one list; wall seconds until the last
    ends, and the images stored over all their stores (by SHA-256)."""
    hostport = nginx.base(latency).removeprefix("http://")
    running = []
    start = time.monotonic()
    for index in range(workers):
        out = work / f"out-fleet-{index}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        argv, env = commands("imagescraper", urls, out, hostport)
        if frontier:
            argv += ["-s", f"IMAGESCRAPER_FRONTIER={frontier}", "-s", "IMAGESCRAPER_FRONTIER_NAME=bench"]
        with open(out / "output.log", "wb") as log:
            running.append(subprocess.Popen(argv, cwd=out, env=env, stdout=log, stderr=subprocess.STDOUT))
    codes = [process.wait() for process in running]
    wall = time.monotonic() - start
    found: Counter = Counter()
    for index in range(workers):
        found.update(stored_hashes(work / f"out-fleet-{index}"))
    return wall, found, codes


def fleet_section(files, nginx, worker_counts, runs, work) -> str:
    """Fleet mode (README "Fleet mode"): W worker processes share one frontier in Redis on the 50 ms
    list, each at concurrency 16, against W times one worker; and what the frontier costs per image
    at 0 ms (one worker with and without it)."""
    names = [f["name"] for f in files]
    expected = Counter(f["sha256"] for f in files)
    rows = []
    with _Redis(work / "redis") as redis:
        urls = work / "urls-fleet-50ms.txt"
        urls.write_text("".join(f"{nginx.base(50)}/{n}\n" for n in names))
        one = None
        for workers in worker_counts:
            walls, stored, twice = [], [], []
            for _ in range(runs):
                redis.call("FLUSHDB")
                wall, found, codes = _fleet_run(urls, nginx, 50, work, workers, redis.url)
                walls.append(wall)
                stored.append(sum(min(found[h], n) for h, n in expected.items()))
                twice.append(sum(n - 1 for n in found.values() if n > 1))
                print(f"  fleet {workers} worker(s): {wall:.2f} s, exits {codes}", file=sys.stderr, flush=True)
            rate = len(names) / statistics.median(walls)
            one = one or (rate if workers == 1 else None)
            ideal = f"{rate / (workers * one):.2f}" if one else "-"
            rows.append((str(workers), f"{statistics.median(walls):.2f}", f"{rate:.0f}",
                         f"{workers * one:.0f}" if one else "-", ideal,
                         f"{min(stored)}/{len(names)}", str(max(twice))))  # fmt: skip
        zero = work / "urls-fleet-0ms.txt"
        zero.write_text("".join(f"{nginx.base(0)}/{n}\n" for n in names))
        plain, shared, calls = [], [], []
        for _ in range(runs):
            plain.append(_fleet_run(zero, nginx, 0, work, 1, None)[0])
            redis.call("FLUSHDB")
            redis.call("CONFIG", "RESETSTAT")
            shared.append(_fleet_run(zero, nginx, 0, work, 1, redis.url)[0])
            stats = redis.call("INFO", "commandstats")
            scripts = sum(int(m) for m in re.findall(r"cmdstat_eval(?:sha)?:calls=(\d+)", stats))
            calls.append((scripts, sum(int(m) for m in re.findall(r"calls=(\d+)", stats))))
    cost = (statistics.median(shared) - statistics.median(plain)) / len(names) * 1000
    table_text = table(rows, ("workers", "wall s", "images/s", "W x one worker", "of ideal", "stored", "stored twice"))
    return (
        f"\n### Fleet mode: workers sharing one frontier, {len(names)} images, 50 ms per response, concurrency "
        f"{CONCURRENCY} each, median of {runs} runs\n\n{table_text}\n\nThe frontier's cost at 0 ms (one worker, "
        f"median of {runs}): {statistics.median(plain):.2f} s without it, {statistics.median(shared):.2f} s with "
        f"it, {cost:.2f} ms per image; per image {statistics.median(c[0] for c in calls) / len(names):.2f} script "
        f"calls (round trips) and {statistics.median(c[1] for c in calls) / len(names):.1f} Redis commands in all."
    )


def gallery_section(root: Path, files: list[dict], work: Path, big: int, added: int) -> str:
    """scrapy gallery: a first build of the corpus, then an incremental one on a big store."""
    from bench import gallery

    print(f"bench: gallery builds ({len(files)} images, then {big:,} + {added})", file=sys.stderr, flush=True)
    lines = gallery.run(root, files, work, big=big, added=added)
    return "\n### The gallery\n\n" + "\n".join(f"- {line}" for line in lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="images in the corpus (default 2000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per tool; the median is reported")
    parser.add_argument("--latency", default="0,50", help="milliseconds per response, comma-separated")
    parser.add_argument(
        "--tools",
        default="imagescraper,stock-files,stock-images,aria2c,curl",
        help=f"comma-separated, from {','.join(TOOLS)}",
    )
    parser.add_argument("--mix", default="jpeg,illustration",
                        help=f"corpus mixes, comma-separated, from {','.join(corpus.MIXES)}")  # fmt: skip
    parser.add_argument("--memory-lines", default="2000,100000,1000000", help="list lengths for the memory table")
    parser.add_argument(
        "--skip", default="", help="comma-separated: speed,profile,memory,rerun,store,lofter,gallery,fleet"
    )
    parser.add_argument("--store-size", type=int, default=1_000_000, help="synthetic images in the big store's index")
    parser.add_argument("--store-files", type=int, default=10_000, help="real images stored into the big store")
    parser.add_argument("--gallery-big", type=int, default=100_000, help="manifest entries of the big gallery store")
    parser.add_argument("--gallery-added", type=int, default=100, help="images a run adds to the big store")
    parser.add_argument("--fleet-workers", default="1,2,4", help="worker processes for the fleet table")
    parser.add_argument("--work", default=str(REPO / "bench" / ".work"))
    options = parser.parse_args(argv)
    work = Path(options.work)
    work.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, options.skip.split(",")))
    tools, mixes = options.tools.split(","), options.mix.split(",")
    unknown = sorted(set(tools) - set(TOOLS)) + sorted(set(mixes) - set(corpus.MIXES))
    if unknown:
        parser.error(f"unknown tool or mix: {', '.join(unknown)}")
    corpora = {}
    for mix in mixes:
        print(f"bench: building the {mix} corpus of {options.n} images", file=sys.stderr, flush=True)
        corpora[mix] = corpus.build(work / "corpus" / mix, options.n, mix=mix)
    report = [
        f"## Benchmark, {time.strftime('%Y-%m-%d')}: {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, {platform.platform()}, "
        f"Python {platform.python_version()}"
    ]
    first_mix, first_files = next(iter(corpora.items()))
    # The store and fleet cases use the first mix, named by their paths under nginx's root.
    served = [{**f, "name": f"{first_mix}/{f['name']}"} for f in first_files]
    with Nginx(work / "corpus", work / "nginx") as nginx:
        if "speed" not in skip:
            latencies = [int(x) for x in options.latency.split(",")]
            for mix, files in corpora.items():
                report.append(speed_section(files, nginx, latencies, tools, options.runs, work, mix))
        if "profile" not in skip:
            mix, files = next(iter(corpora.items()))
            urls = work / f"urls-{mix}-0ms.txt"
            urls.write_text("".join(f"{nginx.base(0)}/{mix}/{f['name']}\n" for f in files))
            argv, env = commands("imagescraper", urls, work / "out-profile", nginx.base(0).removeprefix("http://"))
            report.append(profile.section(argv, env, work, f"the {mix} mix at 0 ms"))
        if "memory" not in skip:
            mix, files = next(iter(corpora.items()))
            lines = [int(x) for x in options.memory_lines.split(",")]
            report.append(memory_section(files, nginx, lines, work, mix))
        if "rerun" not in skip:
            report.append(rerun_section(nginx, work))
        if "store" not in skip:
            from bench.storesize import store_size_section  # it imports this module's helpers

            store_options = {"size": options.store_size, "stored": options.store_files, "runs": options.runs}
            report.append(store_size_section(served, nginx, work, **store_options))
        if "fleet" not in skip:
            counts = [int(x) for x in options.fleet_workers.split(",")]
            report.append(fleet_section(served, nginx, counts, options.runs, work))
    if "lofter" not in skip:
        report.append(lofter_section(options.runs))
    if "gallery" not in skip:
        mix, files = next(iter(corpora.items()))
        report.append(gallery_section(work / "corpus" / mix, files, work, options.gallery_big, options.gallery_added))
    text = "\n".join(report) + "\n"
    (work / "report.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
