"""Stock Scrapy for the benchmark: a settings module and one spider, nothing of imagescraper.

``SCRAPY_SETTINGS_MODULE=bench.stock scrapy crawl stock -a path=URLS -s ITEM_PIPELINES=...`` reads a
URL list and yields one item per line to Scrapy's own FilesPipeline (stores the bytes as they came,
checks nothing) or ImagesPipeline (decodes, re-encodes to JPEG). Everything else is Scrapy's
default, apart from the concurrency every tool in the benchmark gets and a quiet log: this is the
baseline the project's per-image cost is compared with.
"""

from __future__ import annotations

import scrapy

SPIDER_MODULES = ["bench.stock"]
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 16
LOG_LEVEL = "WARNING"
ROBOTSTXT_OBEY = False
TELNETCONSOLE_ENABLED = False

PIPELINES = {
    "files": ({"scrapy.pipelines.files.FilesPipeline": 1}, "FILES_STORE", "file_urls"),
    "images": ({"scrapy.pipelines.images.ImagesPipeline": 1}, "IMAGES_STORE", "image_urls"),
}


class StockSpider(scrapy.Spider):
    name = "stock"

    def __init__(self, path: str, field: str = "file_urls", **kwargs):
        super().__init__(**kwargs)
        self.path, self.field = path, field

    async def start(self):
        with open(self.path, encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    yield {self.field: [line.strip()]}
