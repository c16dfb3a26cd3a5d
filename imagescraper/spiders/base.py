"""What every imagescraper spider shares: strict arguments and a bounded flow of items.

Scrapy pulls items out of ``start()`` as fast as the spider makes them; for a list of a
million URLs that would queue a million items in memory. :meth:`ImageSpider.handing_over`
waits until fewer than ``IMAGESCRAPER_ITEMS_IN_FLIGHT`` items are in the pipeline. An item
whose download waits for a retry (a host that answered 429 with Retry-After) gives its place
back meanwhile, so a throttled host cannot park every place while other hosts could be served;
at most ``WAITING_RETRIES_MAX`` items wait that way, which keeps memory bounded. An item handed
over with its host also counts against that host's share, ``IMAGESCRAPER_HOST_ITEMS_IN_FLIGHT``
(see ``fairness.py``).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import scrapy
from scrapy import signals
from scrapy.utils.asyncio import call_later

from imagescraper.config import config_for
from imagescraper.scrapy_compat import check_private_names, close_if_scraper_idle, engine_is_closing
from imagescraper.signals import retry_wait_ended, retry_wait_started
from imagescraper.startup_errors import InputError

_TRUE = {"1", "true", "yes", "on"}
# Items waiting for a retry that do not count against IMAGESCRAPER_ITEMS_IN_FLIGHT.
WAITING_RETRIES_MAX = 1000


_FALSE = {"0", "false", "no", "off", ""}


def parse_bool(name: str, value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InputError(f"argument {name}={value!r} is not true or false: pass -a {name}=true or -a {name}=false")


class ImageSpider(scrapy.Spider):
    # The -a arguments a spider takes; scrapyd adds its own, which start with "_" (_job).
    arguments: tuple[str, ...] = ("replace",)

    def __init__(self, *, replace="false", **kwargs):
        unknown = sorted(k for k in kwargs if not k.startswith("_") and k not in self.arguments)
        if unknown:
            raise InputError(
                f"unknown argument {unknown[0]!r} for spider {self.name!r}: it takes "
                + ", ".join(f"-a {name}=..." for name in self.arguments)
            )
        super().__init__(**kwargs)
        self.replace = parse_bool("replace", replace)
        self._in_flight = 0
        self._in_flight_by_host: Counter[str] = Counter()
        self._item_hosts: dict[int, str] = {}  # id(item) -> its host, for items handed over with one
        self._waiting_retries = 0
        self._room = asyncio.Event()
        self._nudge_pending = False

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        check_private_names()
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.config = config_for(crawler)
        for signal in (signals.item_scraped, signals.item_dropped, signals.item_error):
            crawler.signals.connect(spider._item_settled, signal=signal)
        crawler.signals.connect(spider._retry_wait_started, signal=retry_wait_started)
        crawler.signals.connect(spider._retry_wait_ended, signal=retry_wait_ended)
        return spider

    def _item_settled(self, item=None, **_):
        if self._in_flight > 0:  # items yielded by callbacks are not counted here
            self._in_flight -= 1
        host = self._item_hosts.pop(id(item), None)
        if host is not None:
            self._in_flight_by_host[host] -= 1
            if not self._in_flight_by_host[host]:
                del self._in_flight_by_host[host]
        self._room.set()
        self._close_when_idle()

    def _retry_wait_started(self, **_):
        self._waiting_retries += 1
        self._room.set()

    def _retry_wait_ended(self, **_):
        self._waiting_retries -= 1

    def _places_taken(self) -> int:
        return self._in_flight - min(self._waiting_retries, WAITING_RETRIES_MAX)

    def _close_when_idle(self):
        # scrapy#7029: look again shortly until the scraper is idle (the signal fires before the
        # scraper's own count drops).
        if self._nudge_pending or close_if_scraper_idle(self.crawler) is not False:
            return
        self._nudge_pending = True
        call_later(0.05, self._nudge)

    def _nudge(self):
        self._nudge_pending = False
        self._close_when_idle()

    def host_has_room(self, host: str) -> bool:
        return self._in_flight_by_host[host] < self.config.host_items_in_flight

    async def handing_over(self, item, host: str | None = None):
        """Return *item* once the pipeline (and *host*'s share) has room for it, or None once the
        run is closing.

        Scrapy 2.19 goes on reading ``start()`` while a spider closes without the engine
        stopping (CLOSESPIDER_TIMEOUT, CloseSpider), and the close waits for every item so
        read: the whole list would be fetched after the deadline. A ``start()`` stops at None.
        """
        while (
            self._places_taken() >= self.config.items_in_flight or (host is not None and not self.host_has_room(host))
        ) and not self._closing():
            self._room.clear()
            await self._room.wait()
        if self._closing():
            return None
        self._in_flight += 1
        if host is not None:
            self._in_flight_by_host[host] += 1
            self._item_hosts[id(item)] = host
        return item

    async def something_settled(self) -> None:
        """Wait until an item leaves the pipeline or starts waiting for a retry."""
        self._room.clear()
        await self._room.wait()

    def has_room(self) -> bool:
        return self._places_taken() < self.config.items_in_flight

    def _closing(self) -> bool:
        return engine_is_closing(self.crawler.engine)

    async def all_handed_over(self):
        """Wait until every item given out has left the pipeline.

        Called at the end of ``start()``: the engine checks whether the spider is idle when
        ``start()`` ends, and otherwise only on its 5-second heartbeat.
        """
        while self._in_flight > 0:
            self._room.clear()
            await self._room.wait()
