"""Plain Scrapy spiders (none of imagescraper's code unless asked) showing the 2.19 behaviours that
``imagescraper/scrapy_compat.py`` works around. Run by ``tests/test_scrapy_compat.py``:

    python -m tests.canary_spiders close-mid-run [--nudge]   prints CLOSED, or HUNG after 5 s
    python -m tests.canary_spiders start-after-close         prints how many items start() gave
                                                             after the close had begun
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import scrapy
from scrapy import signals
from scrapy.crawler import CrawlerProcess

from imagescraper.scrapy_compat import close_if_scraper_idle, engine_is_closing

HANG_AFTER = 5.0


class SlowPipeline:
    """Keeps each item a little while, so that a close starts while items are in it."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.seen = 0

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    async def process_item(self, item):
        self.seen += 1
        if self.seen == 1 and os.environ.get("CANARY_MODE") == "close-mid-run":
            asyncio.get_running_loop().call_soon(
                lambda: asyncio.ensure_future(self.crawler.engine.close_spider_async())
            )
        await asyncio.sleep(0.05)
        return item


class StartItems(scrapy.Spider):
    name = "start_items"
    after_close = 0

    async def start(self):
        for number in range(40):
            if engine_is_closing(self.crawler.engine):
                StartItems.after_close += 1
            yield {"number": number}
            if os.environ.get("CANARY_MODE") == "start-after-close":
                await asyncio.sleep(0.01)  # a list read as it goes, like a URL file
        if os.environ.get("CANARY_MODE") == "start-after-close":
            print(f"AFTER_CLOSE {StartItems.after_close}", flush=True)
            os._exit(0)  # what happens next is the close above, not this canary


def _settings() -> dict:
    return {
        "ITEM_PIPELINES": {SlowPipeline: 100},
        "LOG_LEVEL": "ERROR",
        "LOG_INSTALL_ROOT_HANDLER": False,
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "EXTENSIONS": {"scrapy.extensions.telnet.TelnetConsole": None},
    }


def _watchdog(what: str) -> None:
    timer = threading.Timer(HANG_AFTER, lambda: (print(what(), flush=True), os._exit(3)))
    timer.daemon = True
    timer.start()


def close_mid_run(nudge: bool) -> None:
    process = CrawlerProcess(_settings())
    crawler = process.create_crawler(StartItems)
    if nudge:
        # imagescraper's workaround, as its spiders use it: look again whenever an item settles.
        def again(**_):
            if close_if_scraper_idle(crawler) is False:
                asyncio.get_running_loop().call_later(0.05, again)

        crawler.signals.connect(again, signal=signals.item_scraped)
    _watchdog(lambda: "HUNG")
    process.crawl(crawler)
    process.start()
    print("CLOSED", flush=True)


def start_after_close() -> None:
    process = CrawlerProcess({**_settings(), "CLOSESPIDER_ITEMCOUNT": 2})
    _watchdog(lambda: f"START NOT FINISHED, {StartItems.after_close} items after the close")
    process.crawl(StartItems)
    process.start()
    print(f"START STOPPED AT THE CLOSE, {StartItems.after_close} items after it", flush=True)


if __name__ == "__main__":
    mode = sys.argv[1]
    os.environ["CANARY_MODE"] = mode
    if mode == "close-mid-run":
        close_mid_run(nudge="--nudge" in sys.argv)
    elif mode == "start-after-close":
        start_after_close()
    else:
        raise SystemExit(f"unknown mode {mode!r}")
