"""`scrapy crawl urlfile -a path=FILE`: download every image URL listed in a plaintext file."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from imagescraper import runstats
from imagescraper.identity import url_fingerprint
from imagescraper.items import ImageItem
from imagescraper.spiders.base import ImageSpider
from imagescraper.spiders.fairness import ParkedItems
from imagescraper.urllist import RejectedLine, open_url_file, read_url_lines

if TYPE_CHECKING:
    from imagescraper.fleet import FleetRun

# Lines of busy hosts set aside at most (about 1 KB each); beyond, the reader waits as before.
PARKED_MAX = 10_000


class UrlFileSpider(ImageSpider):
    """Reads FILE line by line: one http(s) URL per line; blank lines and # comments skipped.

    Arguments: ``path`` (required), ``title`` (folder for every image; default: the URL's
    host), ``replace`` (true: download again and replace what is stored).

    With ``IMAGESCRAPER_FRONTIER`` set, the servers of a fleet share the list (``fleet.py``).
    """

    name = "urlfile"
    arguments = ("path", "title", "replace")

    def __init__(self, path=None, title=None, replace="false", **kwargs):
        super().__init__(replace=replace, **kwargs)
        self.path = path
        self.title = title.strip() if title else None
        self._stream = open_url_file(path)
        self.fleet: FleetRun | None = None

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        if spider.config.frontier is not None:
            from imagescraper.fleet import FleetRun  # redis-py and the frontier: only in fleet mode

            spider.fleet = FleetRun.for_spider(spider, spider.config)
        return spider

    def reject_line(self, line: RejectedLine) -> None:
        self.logger.warning("%s:%d: skipped, %s", self.path, line.line_number, line.detail)
        runstats.count(self.crawler.stats, runstats.REJECTED_LINES, line.reason)

    async def start(self):
        if self.fleet is not None:
            async for item in self.fleet.items():
                yield item
            return
        stats = self.crawler.stats
        stats.set_value(runstats.INPUT_COMPLETE, False)
        seen: set[int] = set()
        parked = ParkedItems(PARKED_MAX)
        with self._stream:
            for line in read_url_lines(self._stream, max_length=self.config.max_url_length):
                if self._closing():
                    return  # the rest of the list is "not finished"
                if isinstance(line, RejectedLine):
                    self.reject_line(line)
                    continue
                fingerprint = url_fingerprint(line.key)
                if fingerprint in seen:
                    runstats.skipped(stats, "duplicate-urls")
                    continue
                seen.add(fingerprint)
                parts = urlsplit(line.url)
                item = ImageItem(image_urls=[line.url], post_title=self.title or parts.netloc)
                host = parts.hostname or ""
                if parked.holds(host) or not self.host_has_room(host):
                    parked.park(host, item)  # its host has its share: read on, other hosts first
                elif await self._hand_over(item, host):
                    yield item
                else:
                    return  # the run is closing: the rest of the list is "not finished"
                # Parked items whose host has room now go out; when too many wait, the reader waits.
                async for item in self._give_out(parked, wait_until=parked.limit - 1 if parked.full() else None):
                    yield item
            async for item in self._give_out(parked, wait_until=0):
                yield item
            if self._closing():
                return
        stats.set_value(runstats.INPUT_COMPLETE, True)
        await self.all_handed_over()

    async def _give_out(self, parked: ParkedItems, *, wait_until: int | None):
        """Hand over the parked items whose host has room; with *wait_until*, wait for places to
        free up until no more than that many are parked (or the run closes)."""
        while True:
            for host, item in parked.ready(lambda host: self.has_room() and self.host_has_room(host)):
                if not await self._hand_over(item, host):
                    return
                yield item
            if wait_until is None or parked.count <= wait_until or self._closing():
                return
            await self.something_settled()

    async def _hand_over(self, item, host: str) -> bool:
        if await self.handing_over(item, host) is None:
            return False
        self.crawler.stats.inc_value(runstats.QUEUED)
        return True
