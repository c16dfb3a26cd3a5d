"""Fleet mode as operators run it: real `scrapy crawl urlfile` processes sharing one real
redis-server on loopback. Two servers split a list, Redis down or lost, kill -9 with a restart or
a takeover after the lease, a replace round, and `scrapy frontier status`."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from demo import images
from demo.crawling import REPO, crawl, start_crawl, stored_files
from demo.imageserver import ImageServer
from tests.redisserver import RedisServer, missing

# Each test runs several real crawls: a few seconds each.
pytestmark = [pytest.mark.skipif(missing() is not None, reason=missing() or ""), pytest.mark.slow]
PASSWORD = f"pw-{secrets.token_hex(8)}"


@pytest.fixture
def redis_server(tmp_path):
    # appendfsync always: a Redis killed with -9 and started again has every acknowledgement.
    argv = ["--appendonly", "yes", "--appendfsync", "always"]
    with RedisServer(tmp_path / "redis", password=PASSWORD, argv=argv) as server:
        yield server


@pytest.fixture
def image_set(tmp_path):
    """make(count, delay_ms) -> (server, url file, originals): small distinct images."""
    servers = []

    def make(count: int, delay_ms: int = 0, name: str = "urls.txt", first: int = 0):
        if not servers:
            servers.append(ImageServer().__enter__())
        server = servers[0]
        originals = {}
        lines = []
        for n in range(first, first + count):
            path = f"/set/{n:04d}.jpg"
            originals[path] = images.jpeg(f"fleet{n}", size=(48, 32))
            server.add_image(path, originals[path])
            lines.append(server.url(f"/slow/{delay_ms}{path}" if delay_ms else path))
        url_file = tmp_path / name
        url_file.write_text("\n".join(lines) + "\n")
        return server, url_file, originals

    yield make
    for server in servers:
        server.__exit__(None, None, None)


def settings_for(server: ImageServer, redis: RedisServer, **extra) -> dict:
    return {
        "IMAGESCRAPER_ALLOW_HOSTS": server.allow_setting,
        "IMAGESCRAPER_FRONTIER": redis.url,
        "CONCURRENT_REQUESTS": 4,
        **extra,
    }


def requests_per_image(server: ImageServer) -> Counter:
    return Counter(path.rsplit("/", 1)[-1] for path in server.paths_requested())


def fleet_hashes(*stores: Path) -> Counter:
    """How many stores of the fleet hold each image (by SHA-256)."""
    held = Counter()
    for store in stores:
        held.update({images.sha256(body) for body in stored_files(store).values()})
    return held


def no_password_anywhere(log: str, store: Path):
    assert PASSWORD not in log
    for path in (store / ".imagescraper").glob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def wait_for(condition, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def manifest_urls(store: Path) -> list[str]:
    manifest = store / ".imagescraper" / "manifest.jsonl"
    if not manifest.exists():
        return []
    return [json.loads(line)["url"] for line in manifest.read_text().splitlines() if line.endswith("}")]


def test_two_servers_split_one_list_and_a_rerun_anywhere_fetches_nothing(tmp_path, redis_server, image_set):
    server, url_file, originals = image_set(80, delay_ms=150)
    settings = settings_for(server, redis_server)
    stores = [tmp_path / "img1", tmp_path / "img2"]
    running = [start_crawl("urlfile", store, args={"path": url_file}, settings=settings) for store in stores]
    logs = [process.communicate(timeout=120)[0] for process in running]
    assert [process.returncode for process in running] == [0, 0], logs[0][-3000:] + logs[1][-3000:]

    held = fleet_hashes(*stores)
    assert set(held) == {images.sha256(body) for body in originals.values()}
    assert set(held.values()) == {1}  # every image in exactly one store of the fleet
    assert all(stored_files(store) for store in stores), "both servers took a share"
    assert set(requests_per_image(server).values()) == {1}
    for store, log in zip(stores, logs, strict=True):
        no_password_anywhere(log, store)
        fleet = json.loads((store / ".imagescraper" / "last-run.json").read_text())["fleet"]
        assert fleet["frontier"] == f"redis://:***@127.0.0.1:{redis_server.port}/0"
        assert fleet["worker_stored"] == len(stored_files(store))
        assert "fleet:           frontier redis://:***@" in log and "whole fleet: queued 0" in log

    # A third server (or a rerun) on the same list: everything is stored somewhere, nothing is fetched.
    server.forget_requests()
    third = crawl("urlfile", tmp_path / "img3", args={"path": url_file}, settings=settings)
    assert third.status == 0 and server.paths_requested() == []
    assert third.summary["fleet"]["done"] == 80 and third.summary["stored"] == 0

    status = subprocess.run(
        [sys.executable, "-m", "scrapy", "frontier", "status"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**os.environ, "IMAGESCRAPER_FRONTIER": redis_server.url},
    )  # fmt: skip
    assert status.returncode == 0, status.stdout + status.stderr
    assert "  queued:      0\n  in progress: 0\n  done:        80\n  failed:      0" in status.stdout
    assert PASSWORD not in status.stdout and status.stdout.count(" idle ") == 2


def test_redis_down_or_refusing_at_start_exits_2_before_any_fetch(tmp_path, image_set):
    server, url_file, _ = image_set(3)
    with RedisServer(tmp_path / "redis", password=PASSWORD) as redis:
        bad_password = settings_for(server, redis, IMAGESCRAPER_FRONTIER=redis.url.replace(PASSWORD, "nope"))
        wrong = crawl("urlfile", tmp_path / "store", args={"path": url_file}, settings=bad_password)
    down = crawl("urlfile", tmp_path / "store", args={"path": url_file}, settings=settings_for(server, redis))
    assert wrong.status == 2 and "refused the password" in wrong.log
    assert down.status == 2 and PASSWORD not in down.log
    errors = [line for line in down.log.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and f"frontier redis://:***@127.0.0.1:{redis.port}/0 cannot be reached" in errors[0]
    assert server.paths_requested() == []
    status = subprocess.run(
        [sys.executable, "-m", "scrapy", "frontier", "status", "-s", f"IMAGESCRAPER_FRONTIER={redis.url}"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert status.returncode == 2 and "cannot be read" in status.stdout and PASSWORD not in status.stdout


def test_redis_lost_mid_run_stops_with_exit_1_and_nothing_half_acknowledged(tmp_path, redis_server, image_set):
    server, url_file, originals = image_set(40, delay_ms=200)
    store = tmp_path / "img1"
    settings = settings_for(server, redis_server, CONCURRENT_REQUESTS=2)
    running = start_crawl("urlfile", store, args={"path": url_file}, settings=settings)
    wait_for(lambda: len(manifest_urls(store)) >= 4, "a few stored images")
    redis_server.process.kill()
    log, _ = running.communicate(timeout=120)
    assert running.returncode == 1, log[-3000:]
    assert "Lost the frontier redis://:***@" in log and PASSWORD not in log
    summary = json.loads((store / ".imagescraper" / "last-run.json").read_text())
    assert summary["errors_by_reason"] == {"frontier-lost": 1} and summary["exit_status"] == 1

    # Redis back with what it had written: every acknowledged image is on disk, and each image
    # the run stored is either acknowledged or still held by this worker.
    with RedisServer(redis_server.workdir, password=PASSWORD, port=redis_server.port, argv=redis_server.extra):
        client = redis_server.client()
        worker = (store / ".imagescraper" / "frontier-worker").read_text().strip()
        acknowledged = client.hlen("imagescraper:urlfile:stored")
        held = client.lrange(f"imagescraper:urlfile:processing:{worker}", 0, -1)
        stored_at_loss = len(manifest_urls(store))
        assert acknowledged <= stored_at_loss <= acknowledged + len(held)
        assert int(client.hget("imagescraper:urlfile:count:stored", worker) or 0) == acknowledged

        server.forget_requests()
        again = crawl("urlfile", store, args={"path": url_file}, settings=settings)
        assert again.status == 0, again.log[-3000:]
        assert client.hlen("imagescraper:urlfile:stored") == 40 and not client.llen("imagescraper:urlfile:queue")
    assert set(fleet_hashes(store).values()) == {1} and len(stored_files(store)) == 40
    # Nothing stored is fetched again: what was stored and not acknowledged is found at the restart.
    assert sum(requests_per_image(server).values()) == 40 - stored_at_loss
    assert again.summary["already_present"] == stored_at_loss - acknowledged


def test_kill_9_then_the_next_start_acknowledges_what_was_stored(tmp_path, redis_server, image_set):
    server, url_file, originals = image_set(40, delay_ms=200)
    store = tmp_path / "img1"
    settings = settings_for(server, redis_server, CONCURRENT_REQUESTS=2)
    running = start_crawl("urlfile", store, args={"path": url_file}, settings=settings)
    wait_for(lambda: len(manifest_urls(store)) >= 5, "a few stored images")
    running.send_signal(signal.SIGKILL)
    running.communicate()
    stored_at_kill = set(manifest_urls(store))
    acknowledged = redis_server.client().hlen("imagescraper:urlfile:stored")

    server.forget_requests()
    again = crawl("urlfile", store, args={"path": url_file}, settings=settings)
    assert again.status == 0, again.log[-3000:]
    assert len(stored_files(store)) == 40 and set(fleet_hashes(store).values()) == {1}
    fetched_again = {path for path in server.paths_requested()}
    assert not {url.split(str(server.port), 1)[1] for url in stored_at_kill} & fetched_again
    assert again.summary["fleet"]["done"] == 40 and again.summary["fleet"]["in_progress"] == 0
    # What it had stored without acknowledging is found in its store at the next start.
    assert again.summary["already_present"] == len(stored_at_kill) - acknowledged
    assert {images.sha256(b) for b in stored_files(store).values()} == {images.sha256(b) for b in originals.values()}


def test_a_killed_workers_urls_are_taken_over_after_its_lease(tmp_path, redis_server, image_set):
    server, url_file, originals = image_set(40, delay_ms=200)
    lease = {"IMAGESCRAPER_FRONTIER_LEASE": 1}
    first, second = tmp_path / "img1", tmp_path / "img2"
    running = start_crawl(
        "urlfile", first, args={"path": url_file}, settings=settings_for(server, redis_server, **lease)
    )
    wait_for(lambda: len(manifest_urls(first)) >= 5, "a few stored images")
    running.send_signal(signal.SIGKILL)
    running.communicate()
    client = redis_server.client()
    worker = (first / ".imagescraper" / "frontier-worker").read_text().strip()
    wait_for(lambda: not client.exists(f"imagescraper:urlfile:alive:{worker}"), "the lease to run out", 10)
    held = len(client.lrange(f"imagescraper:urlfile:processing:{worker}", 0, -1))
    assert held > 0

    taker = crawl("urlfile", second, args={"path": url_file}, settings=settings_for(server, redis_server, **lease))
    assert taker.status == 0, taker.log[-3000:]
    assert f"{held} taken back from dead workers" in taker.log
    held_by = fleet_hashes(first, second)
    assert set(held_by) == {images.sha256(body) for body in originals.values()}
    # Only an image written in the moment between its rename and its acknowledgement can be on
    # both servers (README, "What happens on failure"); everything else is held exactly once.
    assert sum(n - 1 for n in held_by.values()) <= held


def test_replace_round_fetches_every_url_once_more_on_the_server_that_holds_it(tmp_path, redis_server, image_set):
    server, first_half, _ = image_set(6, name="half.txt")
    _, whole, originals = image_set(12, name="whole.txt")
    settings = settings_for(server, redis_server)
    one, two = tmp_path / "img1", tmp_path / "img2"
    assert crawl("urlfile", one, args={"path": first_half}, settings=settings).status == 0
    assert crawl("urlfile", two, args={"path": whole}, settings=settings).status == 0  # only the 6 new ones
    before = {store: set(stored_files(store)) for store in (one, two)}
    assert len(before[one]) == len(before[two]) == 6

    server.forget_requests()
    first = crawl("urlfile", one, args={"path": whole, "replace": "true"}, settings=settings)
    assert first.status == 0 and first.summary["stored"] == 6 and first.summary["fleet"]["queued"] == 6
    joined = crawl("urlfile", two, args={"path": whole, "replace": "true"}, settings=settings)
    assert joined.status == 0 and "already queued for the fleet: this run joins it" in joined.log
    assert joined.summary["stored"] == 6 and joined.summary["fleet"]["queued"] == 0
    assert set(requests_per_image(server).values()) == {1} and len(requests_per_image(server)) == 12
    assert {store: set(stored_files(store)) for store in (one, two)} == before
    assert set(fleet_hashes(one, two).values()) == {1} and len(originals) == 12


def test_a_run_stopped_at_its_deadline_gives_back_what_it_took(tmp_path, redis_server, image_set):
    server, url_file, originals = image_set(60, delay_ms=300)
    settings = settings_for(server, redis_server, CONCURRENT_REQUESTS=2)
    first = crawl(
        "urlfile", tmp_path / "img1", args={"path": url_file}, settings={**settings, "CLOSESPIDER_TIMEOUT": 2}
    )
    assert first.status == 1, first.log[-3000:]
    assert "NOT FINISHED (closespider_timeout)" in first.log
    client = redis_server.client()
    worker = (tmp_path / "img1" / ".imagescraper" / "frontier-worker").read_text().strip()
    assert client.llen(f"imagescraper:urlfile:processing:{worker}") == 0
    assert client.llen("imagescraper:urlfile:queue") == 60 - first.summary["stored"] > 0

    second = crawl("urlfile", tmp_path / "img2", args={"path": url_file}, settings=settings)
    assert second.status == 0 and second.summary["stored"] == 60 - first.summary["stored"]
    assert set(fleet_hashes(tmp_path / "img1", tmp_path / "img2").values()) == {1}
    assert set(requests_per_image(server).values()) == {1} and len(requests_per_image(server)) == len(originals)
