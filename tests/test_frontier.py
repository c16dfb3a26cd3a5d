"""The shared frontier against a real redis-server on a free loopback port: the reliable queue,
leases, acknowledgements, replace rounds, and the URL setting's rules."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest
import redis.asyncio

from imagescraper.commands.frontier import status_lines
from imagescraper.frontier import Entry, Frontier, parse_frontier_url
from imagescraper.startup_errors import InputError
from tests.redisserver import RedisServer, missing

pytestmark = pytest.mark.skipif(missing() is not None, reason=missing() or "")
PASSWORD = f"pw-{secrets.token_hex(8)}"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    with RedisServer(tmp_path_factory.mktemp("redis"), password=PASSWORD) as server:
        yield server


@pytest.fixture
def fleet(redis_server):
    """run(scenario): scenario(make) gets make(worker) -> Frontier on a list of its own."""
    name = f"t{secrets.token_hex(4)}"
    address = parse_frontier_url(redis_server.url)

    def run(scenario, lease: float = 60):
        async def main():
            clients = []

            def make(worker: str) -> Frontier:
                client = redis.asyncio.Redis(**address.client_options())
                clients.append(client)
                return Frontier(client, name=name, worker=worker, lease=lease)

            try:
                return await scenario(make)
            finally:
                for client in clients:
                    await client.aclose()

        return asyncio.run(main())

    return run


def pairs(count: int, start: int = 0) -> list[tuple[str, str]]:
    return [(f"{n:016x}", f"http://img.example/{n}.jpg") for n in range(start, start + count)]


# -- the setting -------------------------------------------------------------------------------------


def test_frontier_url_rules():
    assert parse_frontier_url("") is None
    local = parse_frontier_url("redis://127.0.0.1:6390/2")
    assert (local.host, local.port, local.db, local.password) == ("127.0.0.1", 6390, 2, None)
    assert parse_frontier_url("redis://localhost").port == 6379
    remote = parse_frontier_url("redis://:s3cret%2F@10.0.0.5:6379/0")
    assert remote.password == "s3cret/" and str(remote) == "redis://:***@10.0.0.5:6379/0"
    assert "s3cret" not in repr(remote)
    assert str(parse_frontier_url("rediss://app:pw@[fd00::5]:7000/1")) == "rediss://app:***@[fd00::5]:7000/1"
    with pytest.raises(InputError, match="has no password: a frontier reached over the network needs one"):
        parse_frontier_url("redis://10.0.0.5:6379/0")
    for bad in ("http://:topsecret@10.0.0.5/0", "redis://:topsecret@10.0.0.5:99999/0", "redis://:topsecret@h/x"):
        with pytest.raises(InputError) as error:
            parse_frontier_url(bad)
        assert "topsecret" not in str(error.value) and "IMAGESCRAPER_FRONTIER" in str(error.value)


def test_entry_round_trip():
    entry = Entry("00000000000000ff", "http://a.example/x y.jpg", refetch=True)
    assert Entry.parse(str(entry).encode()) == entry
    assert Entry.parse("garbage") is None


# -- the reliable queue --------------------------------------------------------------------------------


def test_lines_are_queued_once_and_no_url_goes_to_two_workers(fleet):
    async def scenario(make):
        a, b = make("a"), make("b")
        assert await a.add(pairs(30)) == 30
        assert await b.add(pairs(40)) == 10  # the same file on a second server: only what is new
        got_a, got_b = await a.take(25), await b.take(100)
        counts = await a.counts()
        return got_a, got_b, counts

    got_a, got_b, counts = fleet(scenario)
    urls_a, urls_b = {e.url for e in got_a}, {e.url for e in got_b}
    assert len(got_a) == 25 and len(got_b) == 15 and not urls_a & urls_b
    assert urls_a | urls_b == {url for _, url in pairs(40)}
    assert (counts.queued, counts.in_progress, counts.done) == (0, 40, 0)


def test_settling_acknowledges_once_and_stored_urls_are_never_taken_again(fleet):
    async def scenario(make):
        a, b = make("a"), make("b")
        await a.add(pairs(3))
        first, second, third = await a.take(3)
        assert await a.settle(first, stored=True)
        assert await a.settle(first, stored=True) is False  # no longer held: nothing counted twice
        assert await a.settle(second, stored=False, reason="http-404")
        await a.release()  # a clean stop: the third goes back
        await b.client.rpush(b.key("queue"), str(first))  # a stale copy of a stored URL
        taken = await b.take(10)
        return taken, third, await b.counts(), await b.is_stored(first.fingerprint)

    taken, third, counts, owner = fleet(scenario)
    assert taken == [third] and owner == "a"
    assert (counts.done, counts.failed, counts.queued, counts.in_progress) == (1, 1, 0, 1)
    worker_a = next(w for w in counts.workers if w.name == "a")
    assert (worker_a.stored, worker_a.failed, worker_a.alive) == (1, 1, False)


def test_a_dead_workers_urls_go_back_after_its_lease_and_a_restart_finds_its_own(fleet):
    async def scenario(make):
        a, b = make("a"), make("b")
        await a.heartbeat()
        await b.heartbeat()
        await a.add(pairs(6))
        held = await a.take(4)
        restarted = make("a")  # the same store after a kill -9: it finds what it held
        assert [e.url for e in await restarted.held()] == [e.url for e in held]
        assert await b.heartbeat() == 0  # a's lease still runs: nothing is taken from it
        await b.client.delete(b.key("alive:a"))  # a's lease ran out (it was killed)
        assert await b.heartbeat() == 4
        late = await a.settle(held[0], stored=True)  # a comes back after all: counted, flagged
        return late, await b.take(10), await b.counts()

    late, taken, counts = fleet(scenario)
    assert late is False
    assert len(taken) == 5  # 3 given back (one was stored meanwhile, and dropped) + the 2 never taken
    assert counts.done == 1 and counts.queued == 0 and [w.name for w in counts.workers if w.alive] == ["b"]


def test_failures_are_retried_by_a_later_run_once(fleet):
    async def scenario(make):
        a, b = make("a"), make("b")
        await a.add(pairs(2))
        for entry in await a.take(2):
            await a.settle(entry, stored=False, reason="timeout")
        before = await a.counts()
        now = time.time() + 1
        requeued = [await a.retry_failed(now), await b.retry_failed(now)]
        again = await b.take(5)
        await b.settle(again[0], stored=True)
        return before, requeued, await b.counts()

    before, requeued, after = fleet(scenario)
    assert before.failed == 2 and requeued == [2, 0]
    assert (after.failed, after.done, after.in_progress) == (0, 1, 1)


def test_replace_round_is_queued_once_and_goes_to_the_server_holding_the_image(fleet):
    async def scenario(make):
        a, b = make("a"), make("b")
        await a.add(pairs(4))
        for entry in await a.take(2):
            await a.settle(entry, stored=True)
        for entry in await b.take(2):
            await b.settle(entry, stored=True)
        rounds = [await a.start_replace_round("f1"), await b.start_replace_round("f1")]
        assert await a.add(pairs(4), refetch=True) == 4
        mine_b = await b.take(10)
        mine_a = await a.take(10)
        for entry in mine_a:
            await a.settle(entry, stored=True)
        for entry in mine_b:
            await b.settle(entry, stored=True)
        drained = await a.end_replace_rounds_if_drained()
        return rounds, mine_a, mine_b, drained, await a.start_replace_round("f1"), await a.counts()

    rounds, mine_a, mine_b, drained, next_round, counts = fleet(scenario)
    assert rounds == [True, False]
    assert len(mine_a) == len(mine_b) == 2 and all(e.refetch for e in mine_a + mine_b)
    assert {e.url for e in mine_a} == {url for _, url in pairs(2)}  # what a stored, a fetches again
    assert drained and next_round  # the round is over: a later replace=true starts a new one
    assert counts.done == 4 and {w.name: w.stored for w in counts.workers} == {"a": 2, "b": 2}


def test_an_empty_queue_waits_only_while_a_live_worker_adds_a_file(fleet):
    async def scenario(make):
        a, b = make("a"), make("b")
        await a.heartbeat()
        await a.begin_adding()
        waiting = await b.adding_elsewhere()
        await b.client.delete(b.key("alive:a"))  # a died while adding
        after_death = await b.adding_elsewhere()
        await b.add(pairs(1))
        return waiting, after_death, await b.wait_for_one(0.5)

    waiting, after_death, entry = fleet(scenario)
    assert waiting and not after_death and entry.url == pairs(1)[0][1]


def test_status_lines_show_the_fleet(fleet, redis_server):
    async def scenario(make):
        a = make("img1-abc")
        await a.heartbeat()
        await a.add(pairs(3))
        await a.settle((await a.take(1))[0], stored=True)
        await a.take(1)
        await a.settle((await a.take(1))[0], stored=False, reason="http-404")
        return await a.counts(), await a.failures(10)

    counts, failures = fleet(scenario)
    assert failures == [("http://img.example/2.jpg", "http-404")]
    lines = status_lines(parse_frontier_url(redis_server.url), "urls-main", counts, failures)
    assert lines[0].startswith("frontier redis://:***@127.0.0.1:") and PASSWORD not in "\n".join(lines)
    assert lines[1:5] == ["  queued:      0", "  in progress: 1", "  done:        1", "  failed:      1"]
    assert lines[6].split() == ["img1-abc", "running", "in", "progress", "1,", "done", "1,", "failed", "1"]
    assert lines[7:] == [
        "  latest failures (of 1; they are retried by the next run):",
        "    http://img.example/2.jpg: http-404",
    ]


def test_forgetting_a_server_gone_for_good_queues_its_images_again(fleet):
    async def scenario(make):
        a, b = make("a"), make("b")
        await a.heartbeat()
        await a.add(pairs(4))
        await a.mark_file_added("f1")
        for entry in await a.take(2):
            await a.settle(entry, stored=True)
        for entry in await b.take(1):
            await b.settle(entry, stored=True)
        held = await a.take(1)
        with pytest.raises(ValueError, match="is running"):
            await b.forget("a")
        await b.client.delete(b.key("alive:a"))  # a is gone
        forgotten = await b.forget("a")
        # The next run of a server re-reads its file (no longer marked added): a's URLs are new again.
        readded = await b.add(pairs(4)) if not await b.file_added("f1") else -1
        return held, forgotten, readded, await b.counts()

    held, forgotten, readded, counts = fleet(scenario)
    assert forgotten == 2 and readded == 2
    assert counts.done == 1 and counts.queued == 3  # the one a held, and the two it had stored
    assert [w.name for w in counts.workers] == ["b"] and held
