"""Keeping one slow host from taking every place: lines of a busy host wait aside, in order.

A URL list is handed to the pipeline a bounded number of items at a time. If the next lines
all name one host that never answers (or answers slowly), those items would fill every place
while the downloader lets that host have only ``CONCURRENT_REQUESTS_PER_DOMAIN`` requests at
once, and the other hosts' images would wait behind them. So an item whose host already has its
share of places is parked here, the list is read on, and parked items go out as soon as their
host has room again. Within one host the list's order is kept.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator


class ParkedItems:
    def __init__(self, limit: int):
        self.limit = limit  # beyond this many, the reader waits (memory stays bounded)
        self.count = 0
        self._by_host: dict[str, deque] = {}

    def holds(self, host: str) -> bool:
        return host in self._by_host

    def full(self) -> bool:
        return self.count >= self.limit

    def park(self, host: str, item) -> None:
        self._by_host.setdefault(host, deque()).append(item)
        self.count += 1

    def ready(self, host_has_room: Callable[[str], bool]) -> Iterator[tuple[str, object]]:
        """Take out, one at a time, the parked items whose host has room now."""
        for host in list(self._by_host):
            while host in self._by_host and host_has_room(host):
                yield host, self._take(host)

    def take_from_busiest(self) -> tuple[str, object]:
        """The first parked item of the host with most items parked (the reader then waits for it)."""
        host = max(self._by_host, key=lambda name: len(self._by_host[name]))
        return host, self._take(host)

    def drain(self) -> Iterator[tuple[str, object]]:
        while self._by_host:
            yield self.take_from_busiest()

    def _take(self, host: str):
        queue = self._by_host[host]
        item = queue.popleft()
        if not queue:
            del self._by_host[host]
        self.count -= 1
        return item
