"""Scrapy's downloader, holding each slot to its concurrency limit.

Scrapy 2.19 (``Downloader._process_queue``) pops queued requests while
``slot.free_transfer_slots() > 0``, but a request only counts as transferring once its
download coroutine runs, and under the asyncio reactor that coroutine is a task that starts on
a later turn of the event loop. So every request that is queued when a slot frees up is
started at once: with 64 images queued for a host limited to 16, nginx saw 48 requests at the
same time and about one new TCP connection for every two images. This subclass counts a
request as transferring from the moment it leaves the queue; ``_download`` adds it again (a
set, so no change) and removes it when it ends, as before.
"""

from __future__ import annotations

from time import monotonic

from scrapy.core.downloader import Downloader, Slot
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import _schedule_coro


class SlotLimitedDownloader(Downloader):
    def _process_queue(self, slot: Slot) -> None:
        if slot.latercall:
            return
        now = monotonic()
        delay = slot.download_delay()
        if delay:
            penalty = delay - now + slot.lastseen
            if penalty > 0:
                slot.latercall = call_later(penalty, self._latercall, slot)
                return
        while slot.queue and slot.free_transfer_slots() > 0:
            slot.lastseen = now
            request, queue_dfd = slot.queue.popleft()
            # counted now: the coroutine below only starts on a later turn of the loop
            slot.transferring.add(request)
            _schedule_coro(self._wait_for_download(slot, request, queue_dfd))
            if delay:
                self._process_queue(slot)
                break
