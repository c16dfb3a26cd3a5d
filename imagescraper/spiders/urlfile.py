"""`scrapy crawl urlfile -a path=FILE`: download every image URL listed in a plaintext file."""

from __future__ import annotations

from urllib.parse import urlsplit

from imagescraper import runstats
from imagescraper.fleet import FleetRun
from imagescraper.identity import url_fingerprint
from imagescraper.items import ImageItem
from imagescraper.spiders.base import ImageSpider
from imagescraper.urllist import RejectedLine, open_url_file, read_url_lines


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
        with self._stream:
            for line in read_url_lines(self._stream, max_length=self.config.max_url_length):
                if isinstance(line, RejectedLine):
                    self.reject_line(line)
                    continue
                fingerprint = url_fingerprint(line.key)
                if fingerprint in seen:
                    runstats.skipped(stats, "duplicate-urls")
                    continue
                seen.add(fingerprint)
                title = self.title or urlsplit(line.url).netloc
                item = await self.handing_over(ImageItem(image_urls=[line.url], post_title=title))
                if item is None:
                    return  # the run is closing: the rest of the list is "not finished"
                stats.inc_value(runstats.QUEUED)
                yield item
        stats.set_value(runstats.INPUT_COMPLETE, True)
        await self.all_handed_over()
