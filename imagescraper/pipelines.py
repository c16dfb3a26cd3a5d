"""OriginalImagesPipeline: Scrapy's ImagesPipeline, keeping the bytes the server sent.

Stock ImagesPipeline (2.19) re-encodes every image to JPEG, writes in place, decides "up to
date" from the file's age alone and lets a title like ``../../x`` leave the store. This
subclass keeps the media pipeline machinery (per-run de-duplication, downloads through the
engine and every downloader middleware) and replaces what it does with the bytes. An image
is in one of three states:

- already stored: the manifest lists its URL and the file has the recorded size. No request
  is made (unless the spider was started with ``replace=true``);
- stored now: the response was 200, Pillow decoded every frame, the size limits hold; the
  original bytes are written atomically under ``<folders>/<name>-<digest>.<ext>``, where the
  extension is the real format, and a manifest line is appended;
- failed: anything else. The failure is counted under ``imagescraper/failed/<reason>`` and
  logged once, as one line with the URL and the reason; nothing is written.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.http.request import NO_CALLBACK, Request
from scrapy.pipelines.images import ImagesPipeline
from w3lib.url import canonicalize_url

from imagescraper.config import ProjectConfig
from imagescraper.errors import InputError
from imagescraper.failures import ImageFailed, classify
from imagescraper.items import ImageItem
from imagescraper.paths import clean_segment, image_file_name, store_relpath
from imagescraper.signals import image_failed
from imagescraper.store import ImageStore, StoredImage
from imagescraper.validation import RejectedImage, inspect_image

logger = logging.getLogger(__name__)


class _DropMediaTracebacks(logging.Filter):
    """MediaPipeline logs every failed download with a traceback; ours are already one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ImageFailed))


def folders_for(item: ImageItem) -> list[str]:
    """The store folders of an item, each cleaned from untrusted text."""
    folders = []
    if item.blog_name:
        folders.append(clean_segment(item.blog_name, fallback="blog"))
    if item.post_id:
        post_id = clean_segment(item.post_id, fallback="post", max_bytes=40)
        title = clean_segment(item.post_title, fallback=item.post_excerpt or "untitled", max_bytes=200)
        folders.append(f"{title}_{post_id}")
    else:
        folders.append(clean_segment(item.post_title, fallback="untitled", max_bytes=200))
    return folders


def check_threads(cores: int | None) -> int:
    """Threads that check and write images: one core stays free for the event loop, which drives
    every download. More than one check thread on a 2-core machine took turns with the event loop
    for both cores, and the downloads waited."""
    return max(1, min(4, (cores or 2) - 1))


class OriginalImagesPipeline(ImagesPipeline):
    def __init__(self, store_uri, *, crawler):
        super().__init__(store_uri, crawler=crawler)
        config = ProjectConfig.from_settings(crawler.settings)
        self.max_pixels = config.max_pixels
        self.image_store = ImageStore(self.store.basedir)
        # Locked here, before the engine opens the spider: a busy store stops the run before
        # anything starts (and before any signal says a run began).
        self.image_store.open()
        self.stats = crawler.stats
        self.replace = False
        self._failed_urls: set[str] = set()
        self._log_filter = _DropMediaTracebacks()
        self._checker = ThreadPoolExecutor(check_threads(os.cpu_count()), thread_name_prefix="imagescraper-check")
        # The lock is held until the engine stops, so the run report is written under it.
        crawler.signals.connect(self._release_store, signal=signals.engine_stopped)

    @classmethod
    def from_crawler(cls, crawler):
        uri = str(crawler.settings.get("IMAGES_STORE") or "")
        if "://" in uri and not uri.startswith("file://"):
            raise InputError(f"IMAGES_STORE={uri!r} is not a local folder: pass a path with -s IMAGES_STORE=DIR")
        if not uri:
            raise NotConfigured("IMAGES_STORE is empty")
        return super().from_crawler(crawler)

    # -- run lifecycle -------------------------------------------------------------------------
    def open_spider(self, spider=None):
        super().open_spider()
        self.replace = bool(getattr(self.crawler.spider, "replace", False))
        self.stats.set_value("imagescraper/store", str(self.image_store.root))
        logging.getLogger("scrapy.pipelines.media").addFilter(self._log_filter)

    def close_spider(self, spider=None):
        logging.getLogger("scrapy.pipelines.media").removeFilter(self._log_filter)

    def _release_store(self):
        self._checker.shutdown(wait=True)
        self.image_store.close()

    # -- overridable interface of the media pipelines ------------------------------------------
    def get_media_requests(self, item: ImageItem, info) -> list[Request]:
        headers = {"Referer": item.referer} if item.referer else {}
        # Image hosts are never in a spider's allowed_domains; the address guard still applies.
        return [
            Request(url, callback=NO_CALLBACK, headers=headers, meta={"allow_offsite": True}) for url in item.image_urls
        ]

    def media_to_download(self, request: Request, info, *, item: Any = None):
        if self.replace:
            return None
        stored = self.image_store.lookup(canonicalize_url(request.url))
        if stored is None:
            return None
        self.stats.inc_value("imagescraper/already_present")
        return {"url": request.url, "path": stored.path, "checksum": stored.sha256, "status": "uptodate"}

    async def media_downloaded(self, response, request: Request, info, *, item: Any = None):
        url = request.url
        if response.status != 200:
            detail = f"the server answered HTTP {response.status}"
            location = response.headers.get(b"Location")
            if 300 <= response.status < 400 and location:
                detail += f", a redirect to {location.decode('latin-1')} that is not followed"
            raise ImageFailed(url, f"http-{response.status}", detail)
        key = canonicalize_url(url)
        try:
            # One trip to a worker thread per image: decoding, hashing and writing all take
            # CPU or disk time that the event loop needs for the other downloads.
            image = await asyncio.get_running_loop().run_in_executor(
                self._checker, self._validate_and_store, url, key, response.body, item
            )
        except RejectedImage as rejected:
            raise ImageFailed(url, rejected.reason, rejected.detail) from None
        self.image_store.remember(key, image)
        self.stats.inc_value("imagescraper/stored")
        return {"url": url, "path": image.path, "checksum": image.sha256, "status": "downloaded"}

    def _validate_and_store(self, url: str, key: str, body: bytes, item: ImageItem) -> StoredImage:
        facts = inspect_image(body, max_pixels=self.max_pixels, min_width=self.min_width, min_height=self.min_height)
        image = StoredImage(self._relpath(key, item, facts.extension), len(body), hashlib.sha256(body).hexdigest())
        record = {
            "path": image.path,
            "sha256": image.sha256,
            "bytes": image.size,
            "width": facts.width,
            "height": facts.height,
            "format": facts.format,
            "frames": facts.frames,
            "title": item.post_title,
            **item.extra,
            "stored_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.image_store.add(url, image, body, record)
        return image

    def media_failed(self, failure, request: Request, info):
        raise classify(request.url, failure.value)

    def item_completed(self, results, item: ImageItem, info):
        item.images = []
        for ok, value in results:
            if ok:
                item.images.append(value)
                continue
            failed = value.value if isinstance(value.value, ImageFailed) else classify("?", value.value)
            if failed.url in self._failed_urls:
                continue  # the same URL in another item: counted and logged once
            self._failed_urls.add(failed.url)
            self.stats.inc_value("imagescraper/failed")
            self.stats.inc_value(f"imagescraper/failed/{failed.reason}")
            logger.warning("Failed %s: %s (%s)", failed.url, failed.reason, failed.detail)
            self.crawler.signals.send_catch_log(
                image_failed, url=failed.url, reason=failed.reason, detail=failed.detail
            )
        return item

    def file_path(self, request, response=None, info=None, *, item=None):
        """The stored path of an image; needs the response, since the extension is its real format."""
        if response is None:
            raise ValueError("the stored path depends on the image's real format: pass the response")
        facts = inspect_image(response.body, max_pixels=self.max_pixels)
        return self._relpath(canonicalize_url(request.url), item, facts.extension)

    def _relpath(self, url_key: str, item: ImageItem, extension: str) -> str:
        return store_relpath(folders_for(item), image_file_name(url_key, extension))
