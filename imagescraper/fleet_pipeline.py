"""FleetPipeline: in fleet mode, acknowledge each URL to the shared frontier once it is settled.

It sits after the images pipeline, so it sees each item with its results. Without
``IMAGESCRAPER_FRONTIER`` it switches itself off; it imports nothing of the fleet (redis-py
included) so that a run without a frontier does not pay for it at start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from itemadapter import ItemAdapter
from scrapy.exceptions import NotConfigured

from imagescraper.config import config_for
from imagescraper.signals import image_failed

if TYPE_CHECKING:
    from imagescraper.fleet import FleetRun


class FleetPipeline:
    """Acknowledges each item of a fleet run once the images pipeline has settled it."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.fleet: FleetRun | None = None
        self._reasons: dict[str, str] = {}

    @classmethod
    def from_crawler(cls, crawler):
        if config_for(crawler).frontier is None:
            # Off is the normal case: without a message Scrapy does not warn that it is disabled.
            raise NotConfigured()
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.image_failed, signal=image_failed)
        return pipeline

    def open_spider(self, spider=None):
        self.fleet = getattr(self.crawler.spider, "fleet", None)

    def image_failed(self, url, reason, detail):
        self._reasons[url] = reason

    async def process_item(self, item, spider=None):
        adapter = ItemAdapter(item)
        urls = adapter.get("image_urls") or []
        if self.fleet is not None and urls:
            stored = bool(adapter.get("images"))
            await self.fleet.settle(urls[0], stored=stored, reason=self._reasons.pop(urls[0], None))
        return item

    async def close_spider(self, spider=None):
        if self.fleet is not None:
            await self.fleet.close()
