"""OriginalImagesPipeline: Scrapy's ImagesPipeline, keeping the bytes the server sent.

Stock ImagesPipeline (2.19) re-encodes every image to JPEG, writes in place, decides "up to
date" from the file's age alone and lets a title like ``../../x`` leave the store. This
subclass keeps the media pipeline machinery (per-run de-duplication, downloads through the
engine and every downloader middleware) and its settings (``IMAGES_STORE``,
``IMAGES_URLS_FIELD``, ``IMAGES_RESULT_FIELD``, ``IMAGES_MIN_WIDTH``/``HEIGHT``,
``MEDIA_ALLOW_REDIRECTS``), and overrides the documented hooks that decide what happens to the
bytes. An image is in one of three states:

- already stored: the store's index lists its URL and the file has the recorded size. No
  request is made (unless the spider was started with ``replace=true``);
- stored now: the response was 200, Pillow decoded every frame, the size limits hold; the
  original bytes are written durably and atomically at :meth:`file_path` (the extension is
  the real format), then recorded in the manifest and the index (the spider's own fields
  never replace the store's: see ``manifest.py``);
- failed: anything else. The failure is counted under ``imagescraper/failed/<reason>`` and
  logged once, as one line with the URL and the reason; nothing is written.

Items are read through ``ItemAdapter``, so a dict, a dataclass or an attrs item works: the URLs
come from ``IMAGES_URLS_FIELD``; ``post_title``, ``blog_name``, ``post_id``, ``post_excerpt``
name the folder; ``referer`` is sent with the requests; ``extra`` (a dict) is recorded in the
manifest. The re-encoding hooks of the stock class (``get_images``, ``convert_image``,
``image_downloaded``, ``thumb_path``) are not used, and the settings that drive them
(``IMAGES_THUMBS``, ``IMAGES_EXPIRES``) are refused at start rather than ignored.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from itemadapter import ItemAdapter
from PIL import Image
from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.http.request import NO_CALLBACK, Request
from scrapy.pipelines.images import ImagesPipeline
from scrapy.settings import SETTINGS_PRIORITIES

from imagescraper import runstats
from imagescraper.config import config_for
from imagescraper.identity import canonical_url
from imagescraper.image_failures import ImageFailed, classify
from imagescraper.manifest import ImageEntry, image_line, spider_fields_json
from imagescraper.paths import checked_relpath, image_file_name, item_folders, store_relpath
from imagescraper.scrapy_compat import MEDIA_LOGGER, DropMediaTracebacks
from imagescraper.signals import image_failed, store_opened
from imagescraper.startup_errors import InputError
from imagescraper.store import ImageStore, StoredImage
from imagescraper.validation import EXTENSIONS, RejectedImage, inspect_image
from imagescraper.video import inspect_video, video_extension, video_identity

logger = logging.getLogger(__name__)

# Settings of the stock pipeline whose behaviour (thumbnails, re-downloading by age) this one
# does not have: refused when a user sets them, so that nothing is silently ignored.
_UNSUPPORTED = {
    "IMAGES_THUMBS": "thumbnails are made by `scrapy gallery`, never in the store",
    "IMAGES_EXPIRES": "a stored image is kept until a run with -a replace=true",
}


def item_folders_of(adapter: ItemAdapter) -> list[str]:
    return item_folders(
        post_title=adapter.get("post_title"),
        blog_name=adapter.get("blog_name"),
        post_id=adapter.get("post_id"),
        post_excerpt=adapter.get("post_excerpt"),
    )


# Threads that check, hash and write images. The checks themselves take turns (validation.py lets
# one image at a time decode), so at most one core decodes and the event loop, which drives every
# download, keeps the other on a 2-core machine; the second thread hashes (without the GIL) and
# waits for the disk's syncs meanwhile. Every further thread only added GIL hand-overs: with 4,
# 0.2 ms more CPU per image and no faster at 0 or 50 ms (bench, 2026-11-30). asyncio's default
# pool (cores + 4 threads) ran up to six decodes.
CHECK_THREADS = 2


class OriginalImagesPipeline(ImagesPipeline):
    def __init__(self, store_uri, *, crawler):
        super().__init__(store_uri, crawler=crawler)
        config = config_for(crawler)
        self.max_decoded_bytes = config.max_decoded_bytes
        self.max_video_bytes = config.max_video_bytes
        self.image_store = ImageStore(self.store.basedir, durable=config.durable)
        # Locked here, before the engine opens the spider: a busy store stops the run before
        # anything starts (and before any signal says a run began).
        self.image_store.open()
        self.stats = crawler.stats
        self.replace = False
        self._failed_urls: set[str] = set()
        self._ignored_fields: set[str] = set()
        self._log_filter = DropMediaTracebacks(ImageFailed)
        self._checker = ThreadPoolExecutor(CHECK_THREADS, thread_name_prefix="imagescraper-check")
        # The lock is held until the engine stops, so the run report is written under it.
        crawler.signals.connect(self._release_store, signal=signals.engine_stopped)

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        uri = str(settings.get("IMAGES_STORE") or "")
        if "://" in uri and not uri.startswith("file://"):
            raise InputError(f"IMAGES_STORE={uri!r} is not a local folder: pass a path with -s IMAGES_STORE=DIR")
        if not uri:
            raise NotConfigured("IMAGES_STORE is empty")
        for name, why in _UNSUPPORTED.items():
            if (settings.getpriority(name) or 0) > SETTINGS_PRIORITIES["default"] and settings.get(name) != {}:
                raise InputError(f"setting {name} is not supported: {why}; remove -s {name}")
        return super().from_crawler(crawler)

    # -- run lifecycle -------------------------------------------------------------------------
    def open_spider(self, spider=None):
        super().open_spider()
        self.replace = bool(getattr(self.crawler.spider, "replace", False))
        self.stats.set_value(runstats.STORE, str(self.image_store.root))
        self.crawler.signals.send_catch_log(store_opened, store=self.image_store)
        logging.getLogger(MEDIA_LOGGER).addFilter(self._log_filter)

    def close_spider(self, spider=None):
        logging.getLogger(MEDIA_LOGGER).removeFilter(self._log_filter)

    def _release_store(self):
        self._checker.shutdown(wait=True)
        self.image_store.close()

    # -- overridable interface of the media pipelines ------------------------------------------
    def get_media_requests(self, item, info) -> list[Request]:
        adapter = ItemAdapter(item)
        referer = adapter.get("referer")
        headers = {"Referer": referer} if referer else {}
        alternates = adapter.get("alternates") or {}
        requests = []
        for url in adapter.get(self.images_urls_field) or []:
            # Image hosts are never in a spider's allowed_domains; the address guard still applies.
            meta = {"allow_offsite": True}
            if url in alternates:
                meta["alternate_url"] = alternates[url]  # tried on 403/404 (lofter/alternates.py)
            if _is_video(adapter):
                meta["download_maxsize"] = self.max_video_bytes
            requests.append(Request(url, callback=NO_CALLBACK, headers=headers, meta=meta))
        return requests

    def media_to_download(self, request: Request, info, *, item: Any = None):
        if self.replace or (item is not None and ItemAdapter(item).get("refetch")):
            return None
        stored = self.image_store.lookup(canonical_url(_identity(request.url, item)))
        if stored is None:
            return None
        self.stats.inc_value(runstats.ALREADY_PRESENT)
        return {"url": request.url, "path": stored.path, "checksum": stored.sha256, "status": "uptodate"}

    async def media_downloaded(self, response, request: Request, info, *, item: Any = None):
        url = request.url
        if response.status != 200:
            detail = f"the server answered HTTP {response.status}"
            location = response.headers.get(b"Location")
            if 300 <= response.status < 400 and location:
                detail += f", a redirect to {location.decode('latin-1')} that is not followed"
            raise ImageFailed(url, f"http-{response.status}", detail)
        try:
            # One trip to a worker thread per image: decoding, hashing and writing all take
            # CPU or disk time that the event loop needs for the other downloads.
            key, image = await asyncio.get_running_loop().run_in_executor(
                self._checker, self._validate_and_store, response, request, info, item
            )
        except RejectedImage as rejected:
            raise ImageFailed(url, rejected.reason, rejected.detail) from None
        self.stats.inc_value(runstats.STORED)
        return {"url": url, "path": image.path, "checksum": image.sha256, "status": "downloaded"}

    def _validate_and_store(self, response, request: Request, info, item) -> tuple[str, StoredImage]:
        if _is_video(ItemAdapter(item)):
            return self._store_video(response, request, info, item)
        body = response.body
        facts = inspect_image(
            body, max_decoded_bytes=self.max_decoded_bytes, min_width=self.min_width, min_height=self.min_height
        )
        path = checked_relpath(self.file_path(request, response, info, item=item))
        image = StoredImage(path, len(body), hashlib.sha256(body).hexdigest())
        adapter = ItemAdapter(item)
        extra = adapter.get("extra")
        extra = dict(extra) if isinstance(extra, Mapping) else {}
        key = canonical_url(request.url)
        entry = ImageEntry(
            key=key,
            url=request.url,
            path=image.path,
            bytes=image.size,
            sha256=image.sha256,
            format=facts.format,
            width=facts.width,
            height=facts.height,
            frames=facts.frames,
            title=adapter.get("post_title"),
            stored_at=datetime.now(UTC).isoformat(timespec="seconds"),
            extra=spider_fields_json(extra),
        )
        # Built before anything is written: a line that cannot be built never leaves a file behind.
        line, ignored = image_line(entry, extra)
        for name in ignored:
            if name not in self._ignored_fields:
                self._ignored_fields.add(name)
                logger.warning("Spider field %r left out of the manifest: the store owns that name", name)
        self.image_store.add(entry, body, line)
        return key, image

    def _store_video(self, response, request: Request, info, item) -> tuple[str, StoredImage]:
        """Videos (LOFTER video posts): checked as a complete MP4 container, stored as sent."""
        body = response.body
        facts = inspect_video(body, max_bytes=self.max_video_bytes)
        path = checked_relpath(self.file_path(request, response, info, item=item))
        video = StoredImage(path, len(body), hashlib.sha256(body).hexdigest())
        adapter = ItemAdapter(item)
        extra = adapter.get("extra")
        extra = {**(extra if isinstance(extra, Mapping) else {}), "media": "video", "fetched_from": request.url}
        identity = _identity(request.url, item)
        entry = ImageEntry(
            key=canonical_url(identity),
            url=identity,
            path=video.path,
            bytes=video.size,
            sha256=video.sha256,
            format=facts.format,
            title=adapter.get("post_title"),
            stored_at=datetime.now(UTC).isoformat(timespec="seconds"),
            extra=spider_fields_json(extra),
        )
        line, _ignored = image_line(entry, extra)  # the same spider fields as its images: logged there
        self.image_store.add(entry, body, line)
        return entry.key, video

    def media_failed(self, failure, request: Request, info):
        raise classify(request.url, failure.value)

    def item_completed(self, results, item, info):
        stored = []
        for ok, value in results:
            if ok:
                stored.append(value)
                continue
            failed = value.value if isinstance(value.value, ImageFailed) else classify("?", value.value)
            if failed.url in self._failed_urls:
                continue  # the same URL in another item: counted and logged once
            self._failed_urls.add(failed.url)
            runstats.count(self.stats, runstats.FAILED, failed.reason)
            logger.warning("Failed %s: %s (%s)", failed.url, failed.reason, failed.detail)
            self.crawler.signals.send_catch_log(
                image_failed, url=failed.url, reason=failed.reason, detail=failed.detail
            )
        # As the stock pipeline does: an item class without the result field just goes without it.
        with suppress(KeyError):
            ItemAdapter(item)[self.images_result_field] = stored
        return item

    def file_path(self, request, response=None, info=None, *, item=None):
        """``<folders>/<name>-<digest>.<ext>``: the extension is the real format of the bytes.

        Needs the response for that; reads only the image's header (the full check is
        :func:`~imagescraper.validation.inspect_image`'s). A subclass may return another path;
        it is refused unless it stays inside the store.
        """
        if response is None:
            raise ValueError("the stored path depends on the image's real format: pass the response")
        adapter = ItemAdapter(item) if item is not None else None
        folders = item_folders_of(adapter) if adapter is not None else ["untitled"]
        if adapter is not None and _is_video(adapter):
            extension = video_extension(response.body)
        else:
            extension = _extension(response.body)
        return store_relpath(folders, image_file_name(canonical_url(_identity(request.url, item)), extension))


def _is_video(adapter: ItemAdapter) -> bool:
    """An item of videos (``media="video"``, lofter -a videos=true) rather than images."""
    return adapter.get("media") == "video"


def _identity(url: str, item) -> str:
    """What a stored file is known by: its URL, or for a video its address without a signature."""
    if item is not None and _is_video(ItemAdapter(item)):
        return video_identity(url)
    return url


def _extension(body: bytes) -> str:
    try:
        with Image.open(io.BytesIO(body)) as image:
            return EXTENSIONS[image.format]
    except (OSError, KeyError, ValueError):
        raise RejectedImage("not-an-image", "the body is not an image Pillow can read") from None
