"""Every place imagescraper reaches into Scrapy 2.19's private parts, each behind one name.

Scrapy is pinned to ``>=2.19,<2.20`` because of what is here. Each workaround names the
Scrapy behaviour it works around and has a canary in ``tests/test_scrapy_compat.py`` that
fails when Scrapy changes or fixes that behaviour: then the workaround is dropped or redone.

:func:`check_private_names` runs when a spider is created: if a private name used below is
gone, the run stops at once with one line, instead of misbehaving quietly (a missing
``engine._slot`` would make every run look "stopped" and store nothing).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from time import monotonic

from scrapy.core.downloader import Downloader, Slot
from scrapy.core.engine import ExecutionEngine
from scrapy.core.scraper import Scraper
from scrapy.utils import defer as scrapy_defer
from scrapy.utils.asyncio import call_later

from imagescraper.startup_errors import IncompatibleScrapyError

# Scrapy names this module relies on: (owner, attribute, what breaks without it).
_PRIVATE_NAMES = [
    (Downloader, "_process_queue", "the downloader's per-host limit"),
    (Downloader, "_wait_for_download", "the downloader's per-host limit"),
    (Downloader, "_latercall", "the downloader's per-host limit"),
    (Slot, "free_transfer_slots", "the downloader's per-host limit"),
    (scrapy_defer, "_schedule_coro", "the downloader's per-host limit"),
    (Scraper, "_check_if_closing", "closing a run that is stopped mid-way"),
]


def check_private_names() -> None:
    """Stop the run at start, with one line, when Scrapy no longer has what this module uses."""
    missing = [f"{owner.__name__}.{name} ({why})" for owner, name, why in _PRIVATE_NAMES if not hasattr(owner, name)]
    # engine._slot is an instance attribute, set in ExecutionEngine.__init__.
    if "_slot" not in ExecutionEngine.__init__.__code__.co_names:
        missing.append("ExecutionEngine._slot (knowing that a run is closing)")
    if missing:
        raise IncompatibleScrapyError(
            "this Scrapy version lacks " + ", ".join(missing) + ": install the version imagescraper supports"
            " (pip install 'scrapy>=2.19,<2.20')"
        )


# -- 1. The downloader starts every queued request of a slot at once --------------------------
# Scrapy 2.19 ``Downloader._process_queue`` pops requests while ``slot.free_transfer_slots()``
# is positive, but a request only joins ``slot.transferring`` once its download coroutine runs,
# a turn of the event loop later. With 64 images queued for a host limited to 16, nginx saw 48
# requests at once. No upstream issue found (2026-11). Canary: Scrapy's own downloader still
# overshoots the limit.
class SlotLimitedDownloader(Downloader):
    """Scrapy's downloader, counting a request as transferring the moment it leaves the queue."""

    def _process_queue(self, slot: Slot) -> None:
        # The body of Scrapy 2.19's method, plus the one line marked below.
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
            slot.transferring.add(request)  # counted now; _download adds it again (a set) and removes it
            scrapy_defer._schedule_coro(self._wait_for_download(slot, request, queue_dfd))
            if delay:
                self._process_queue(slot)
                break


# -- 2. A close that starts while start() items are in the pipelines hangs --------------------
# scrapy#7029: ``Scraper.start_itemproc_async`` never calls ``_check_if_closing`` when an item
# that came from ``start()`` leaves the pipelines, so a Ctrl-C, CLOSESPIDER_TIMEOUT or scrapyd
# cancel that arrives mid-run waits forever for the scraper to report idle. Canary: a plain
# spider in that state still hangs.
def close_if_scraper_idle(crawler) -> bool | None:
    """Let a closing spider finish once its pipelines are empty.

    Returns True when the close went ahead, False when the scraper is still busy (call again
    later), None when nothing is closing.
    """
    scraper = crawler.engine.scraper
    slot = scraper.slot
    if slot is None or slot.closing is None or slot.closing.called:
        return None
    if not slot.is_idle():
        return False
    scraper._check_if_closing()
    return True


# -- 3. No public flag says a run is closing ---------------------------------------------------
# While a spider closes without the engine stopping (CLOSESPIDER_TIMEOUT, CloseSpider), Scrapy
# 2.19 goes on reading ``start()``, and the close waits for every item so read. The spiders stop
# reading when this says so. ``engine.needs_backout()`` is public but is also true whenever the
# downloader is busy. Canary: a plain spider's start() is still read after the close began.
def engine_is_closing(engine) -> bool:
    slot = engine._slot
    return slot is None or slot.closing is not None


# -- 4. The media pipeline logs every failed download with a traceback -------------------------
# Since scrapy#5068, ``MediaPipeline._process_request`` logs any exception from a download or
# ``media_downloaded`` with ``logger.exception``; our pipeline already logs each failure as one
# line with its URL and reason. Canary: the pipeline, unfiltered, still logs such a traceback.
MEDIA_LOGGER = "scrapy.pipelines.media"


class DropMediaTracebacks(logging.Filter):
    """Drops the media pipeline's traceback records for failures of the given exception class."""

    def __init__(self, exception_class: type[BaseException]):
        super().__init__()
        self.exception_class = exception_class

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], self.exception_class))


# -- 5. A download that waits in a middleware still counts against CONCURRENT_REQUESTS ----------
# Scrapy 2.19 ``Downloader.fetch`` keeps a request in ``Downloader.active`` until every downloader
# middleware is done with it, and ``needs_backout`` compares that count with CONCURRENT_REQUESTS,
# so a retry sleeping out a Retry-After holds a place the whole time and page requests stop. An
# image download (its item keeps the engine from taking the run for idle) is left out of the
# count while it waits, and put back before ``fetch`` removes it. No upstream issue found
# (2026-11). Canary: ``fetch`` still counts a request for as long as the middlewares take.
@contextmanager
def uncounted_by_downloader(engine, request):
    active = engine.downloader.active
    counted = request in active
    if counted:
        active.discard(request)
    try:
        yield
    finally:
        if counted:
            active.add(request)
