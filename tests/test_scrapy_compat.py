"""The Scrapy 2.19 workarounds in ``scrapy_compat``: each works, and each canary still sees the
behaviour it works around. When a canary fails, Scrapy changed: drop or redo that workaround
(and widen the ``scrapy`` pin in pyproject.toml only then).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from types import SimpleNamespace

import pytest
from scrapy import Request, Spider
from scrapy.core.downloader import Downloader
from scrapy.core.scraper import Scraper
from scrapy.http import HtmlResponse
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.test import get_crawler

from demo import images
from demo.crawling import REPO, crawl
from demo.imageserver import ImageServer
from imagescraper.items import ImageItem
from imagescraper.scrapy_compat import MEDIA_LOGGER, check_private_names, uncounted_by_downloader
from imagescraper.spiders.urlfile import UrlFileSpider
from imagescraper.startup_errors import IncompatibleScrapyError
from tests.test_pipelines import Run

LIMIT = 4


@pytest.fixture
def queued_set(tmp_path):
    """40 small images answered after 100 ms each, so that many requests wait in the queue."""
    with ImageServer() as server:
        for n in range(40):
            server.add_image(f"/q/{n:02d}.png", images.png_with_alpha(f"q{n}"))
        urls = [server.url(f"/slow/100/q/{n:02d}.png") for n in range(40)]
        url_file = tmp_path / "urls.txt"
        url_file.write_text("\n".join(urls) + "\n")
        yield server, url_file


def _run(tmp_path, server, url_file, **settings):
    return crawl(
        "urlfile",
        tmp_path / "store",
        args={"path": url_file},
        settings={
            "IMAGESCRAPER_ALLOW_HOSTS": server.allow_setting,
            "CONCURRENT_REQUESTS": LIMIT,
            "CONCURRENT_REQUESTS_PER_DOMAIN": LIMIT,
            # every image handed over at once: all 40 requests queue at the host's slot
            "IMAGESCRAPER_ITEMS_IN_FLIGHT": 40,
            "IMAGESCRAPER_HOST_ITEMS_IN_FLIGHT": 40,  # all for one host: none set aside by the spider
            **settings,
        },
    )


@pytest.mark.slow
def test_a_host_never_gets_more_than_its_concurrency_limit(tmp_path, queued_set):
    server, url_file = queued_set
    result = _run(tmp_path, server, url_file)
    assert result.status == 0, result.log[-3000:]
    assert result.summary["stored"] == 40
    assert 1 < server.max_in_flight <= LIMIT


@pytest.mark.slow
def test_canary_scrapy_s_own_downloader_still_overshoots_the_limit(tmp_path, queued_set):
    """Why SlotLimitedDownloader exists. When this fails, Scrapy has fixed the race: drop it."""
    server, url_file = queued_set
    result = _run(tmp_path, server, url_file, DOWNLOADER="scrapy.core.downloader.Downloader")
    assert result.status == 0, result.log[-3000:]
    assert server.max_in_flight > LIMIT


def _canary(*args) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "tests.canary_spiders", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    return result.stdout.strip()


@pytest.mark.slow
def test_canary_a_close_while_start_items_are_in_the_pipelines_still_hangs():
    """scrapy#7029. When this fails, Scrapy closes by itself: drop close_if_scraper_idle."""
    assert _canary("close-mid-run") == "HUNG"


@pytest.mark.slow
def test_the_nudge_lets_that_close_finish():
    assert _canary("close-mid-run", "--nudge") == "CLOSED"


@pytest.mark.slow
def test_canary_start_is_still_read_after_the_close_began():
    """When this fails, Scrapy stops reading start() at a close: handing_over need not check."""
    output = _canary("start-after-close")
    assert output.startswith("AFTER_CLOSE ") and int(output.split()[1]) > 0, output


def test_canary_the_media_pipeline_still_logs_each_failure_with_a_traceback(tmp_path, caplog):
    """scrapy#5068. When this fails, the pipeline's one-line failures are alone: drop the filter."""
    url = "http://img.test/missing.jpg"
    run = Run(tmp_path / "store", {url: (404, b"gone")})
    logging.getLogger(MEDIA_LOGGER).removeFilter(run.pipeline._log_filter)
    try:
        with caplog.at_level(logging.ERROR, logger=MEDIA_LOGGER):
            run.process(ImageItem(image_urls=[url], post_title="t"))
    finally:
        run.close()
    assert [r for r in caplog.records if r.name == MEDIA_LOGGER and r.exc_info]


def test_a_missing_private_name_stops_the_run_at_start_with_one_line(monkeypatch):
    check_private_names()  # the installed Scrapy has everything
    monkeypatch.delattr(Scraper, "_check_if_closing")
    with pytest.raises(IncompatibleScrapyError, match=r"Scraper\._check_if_closing .*pip install 'scrapy>=2.19,<2.20'"):
        check_private_names()
    with pytest.raises(IncompatibleScrapyError, match=r"Scraper\._check_if_closing"):
        UrlFileSpider.from_crawler(object(), path="unused")


class _WaitingMiddleware:
    """A downloader middleware that holds every request until told to answer."""

    def __init__(self):
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def process_request(self, request):
        self.entered.set()
        await self.release.wait()
        return HtmlResponse(request.url, body=b"ok", request=request)


def test_canary_a_request_waiting_in_a_middleware_still_counts_against_concurrent_requests():
    """Why uncounted_by_downloader exists. When this fails, a waiting middleware no longer holds a
    place in Downloader.active: drop it."""
    crawler = get_crawler(
        Spider,
        {
            "TWISTED_REACTOR_ENABLED": False,
            "CONCURRENT_REQUESTS": 1,
            "DOWNLOADER_MIDDLEWARES_BASE": {},
            "DOWNLOADER_MIDDLEWARES": {"tests.test_scrapy_compat._WaitingMiddleware": 1},
        },
    )
    crawler.spider = Spider("canary")

    async def fetch_while_waiting():
        downloader = Downloader(crawler)
        [waiting] = downloader.middleware.middlewares
        request = Request("http://a.test/1.jpg")
        answer = maybe_deferred_to_future(downloader.fetch(request))
        await waiting.entered.wait()
        held = request in downloader.active and downloader.needs_backout()
        with uncounted_by_downloader(SimpleNamespace(downloader=downloader), request):
            freed = request not in downloader.active and not downloader.needs_backout()
        waiting.release.set()
        response = await answer
        downloader.close()
        return held, freed, response.body, request in downloader.active

    assert asyncio.run(fetch_while_waiting()) == (True, True, b"ok", False)
