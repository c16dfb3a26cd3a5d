"""Directory syncs shared between threads: fewer syncs than callers, and none returns early."""

from __future__ import annotations

import threading
from pathlib import Path

from imagescraper.durable import DirectorySyncs, sync_directory


def test_threads_share_directory_syncs_and_each_waits_for_its_own():
    first_sync_started = threading.Event()
    release_first = threading.Event()
    log: list[tuple[str, Path]] = []

    def slow_sync(path: Path) -> None:
        log.append(("sync", path))
        if len(log) == 1:
            first_sync_started.set()
            release_first.wait(10)

    syncs = DirectorySyncs(sync=slow_sync)
    returned: list[Path] = []

    def caller(path: Path) -> None:
        syncs.sync(path)
        returned.append(path)

    leader = threading.Thread(target=caller, args=(Path("a"),))
    leader.start()
    first_sync_started.wait(10)
    # While the first sync runs, five more callers arrive for two folders.
    followers = [threading.Thread(target=caller, args=(Path("b" if n % 2 else "c"),)) for n in range(5)]
    for thread in followers:
        thread.start()
    assert syncs.wait_for_callers(6, timeout=10)
    assert returned == []  # nobody returns before a sync that began after its call
    release_first.set()
    for thread in [leader, *followers]:
        thread.join(10)

    assert sorted(map(str, returned)) == ["a", "b", "b", "c", "c", "c"]
    # One sync for "a", then one round for everyone who waited: each folder synced once more.
    assert log[0] == ("sync", Path("a"))
    assert sorted(str(path) for _, path in log[1:]) == ["b", "c"]
    assert syncs.syncs == 3


def test_a_failed_sync_is_reported_to_its_caller_and_retried_for_the_others(tmp_path):
    calls = []

    def flaky(path: Path) -> None:
        calls.append(path)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")

    syncs = DirectorySyncs(sync=flaky)
    try:
        syncs.sync(tmp_path)
    except OSError as exc:
        assert exc.errno == 5
    else:
        raise AssertionError("the failed sync was not reported")
    syncs.sync(tmp_path)
    assert calls == [tmp_path, tmp_path]


def test_syncing_a_real_directory(tmp_path):
    syncs = DirectorySyncs()
    syncs.sync(tmp_path)
    assert syncs.syncs == 1
    sync_directory(tmp_path)
