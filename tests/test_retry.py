from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.spider import DefaultSpider
from scrapy.utils.test import get_crawler

from demo import images
from demo.crawling import crawl
from imagescraper import settings as project_settings
from imagescraper.retry import BackoffRetryMiddleware, retry_delay
from imagescraper.signals import retry_wait_ended, retry_wait_started

BASE = {"base": 1.0, "backoff_max": 10.0, "retry_after_max": 30.0, "now": 1_000_000.0}


def test_exponential_backoff_capped():
    assert [retry_delay(n, None, **BASE) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 8.0, 10.0]


def test_retry_after_seconds_and_date_capped():
    assert retry_delay(1, "7", **BASE) == 7.0
    assert retry_delay(1, "3600", **BASE) == 30.0
    date = format_datetime(datetime.fromtimestamp(BASE["now"] + 12, UTC), usegmt=True)
    assert retry_delay(1, date, **BASE) == 12.0
    past = format_datetime(datetime.fromtimestamp(BASE["now"] - 50, UTC), usegmt=True)
    assert retry_delay(1, past, **BASE) == 0.0


def test_unparseable_retry_after_falls_back_to_backoff():
    assert retry_delay(2, "soon", **BASE) == 2.0
    assert retry_delay(2, "-5", **BASE) == 2.0


# -- Fair retries, end to end --------------------------------------------------------------------
# Host A throttles every request with "429, Retry-After: 30"; host B serves good images. Both
# names point at the test server (IMAGESCRAPER_RESOLVE), so they get separate download slots.


def _two_hosts(server, tmp_path, throttled: int, good: int) -> tuple[Path, dict, dict[str, bytes]]:
    originals = {}
    for n in range(good):
        body = images.jpeg(f"host-b-{n}", size=(64, 48))
        originals[server.add_image(f"/b/{n}.jpg", body).replace("127.0.0.1", "b.test")] = body
    throttled_urls = [f"http://a.test:{server.port}/throttle/429/30/a{n}.jpg" for n in range(throttled)]
    url_file = tmp_path / "urls.txt"
    url_file.write_text("\n".join(throttled_urls + list(originals)) + "\n")  # A's URLs first
    settings = {
        "IMAGESCRAPER_RESOLVE": "a.test=127.0.0.1,b.test=127.0.0.1",
        "IMAGESCRAPER_ALLOW_HOSTS": f"a.test:{server.port},b.test:{server.port}",
    }
    return url_file, settings, originals


@pytest.mark.slow
def test_a_throttled_host_does_not_stall_the_others(server, tmp_path):
    url_file, settings, originals = _two_hosts(server, tmp_path, throttled=40, good=60)
    server.forget_requests()

    result = crawl(
        "urlfile",
        tmp_path / "store",
        args={"path": url_file},
        settings={**settings, "RETRY_TIMES": 1, "IMAGESCRAPER_RETRY_AFTER_MAX": 8},
    )

    summary = result.summary
    assert summary["stored"] == 60, result.log[-3000:]
    assert {images.sha256(body) for body in result.stored_files().values()} == {
        images.sha256(body) for body in originals.values()
    }
    assert summary["failed_by_reason"] == {"http-429": 40}
    assert summary["retries"] == 40
    assert "retries:         40" in result.log
    throttled = [r for r in server.requests if r.path.startswith("/throttle/")]
    by_path: dict[str, list[float]] = {}
    for request in throttled:
        by_path.setdefault(request.path, []).append(request.at)
    assert len(by_path) == 40 and all(len(times) == 2 for times in by_path.values())
    # Retry-After: 30 is honoured up to its cap (8 s here)...
    assert min(times[1] - times[0] for times in by_path.values()) >= 7.9
    # ...and while A's 40 URLs waited (more than the 32 places in flight), B was served.
    first_retry = min(times[1] for times in by_path.values())
    last_b = max(r.at for r in server.requests if r.path.startswith("/b/"))
    assert last_b < first_retry


@pytest.mark.slow
def test_waiting_retries_end_when_the_run_is_stopped(server, tmp_path):
    url_file, settings, _ = _two_hosts(server, tmp_path, throttled=40, good=20)
    server.forget_requests()
    started = time.monotonic()

    result = crawl(
        "urlfile", tmp_path / "store", args={"path": url_file}, settings={**settings, "CLOSESPIDER_TIMEOUT": 3}
    )

    elapsed = time.monotonic() - started
    summary = result.summary
    assert result.status == 1
    assert summary["finish_reason"] == "closespider_timeout"
    assert summary["stored"] == 20, result.log[-3000:]
    # Each throttled URL was asked once; its retry, 30 s away, was dropped at the deadline.
    throttled = [r.path for r in server.requests if r.path.startswith("/throttle/")]
    assert sorted(set(throttled)) == sorted(throttled)
    assert summary["failed_by_reason"] == {"http-429": len(throttled)}
    assert summary["retries"] == 0
    assert elapsed < 25, f"the run waited for Retry-After: {elapsed:.0f} s"


# -- The middleware in-process: what a waiting retry holds -----------------------------------------


class _Engine:
    """The two parts of Scrapy's engine the middleware looks at."""

    def __init__(self):
        self.downloader = SimpleNamespace(active=set())
        self._slot = SimpleNamespace(closing=None)


def _middleware(**settings):
    project = {name: getattr(project_settings, name) for name in dir(project_settings) if name.isupper()}
    crawler = get_crawler(settings_dict={**project, "RETRY_TIMES": 1, "IMAGESCRAPER_RETRY_AFTER_MAX": 0.3, **settings})
    crawler.spider = DefaultSpider(name="test")
    crawler.spider.crawler = crawler
    crawler.engine = _Engine()
    return BackoffRetryMiddleware.from_crawler(crawler), crawler


def _throttled(request):
    return HtmlResponse(request.url, status=429, headers={"Retry-After": "30"}, request=request)


@pytest.mark.slow
def test_a_waiting_image_download_gives_its_place_back_then_retries():
    middleware, crawler = _middleware()
    request = Request("http://a.test/1.jpg", callback=NO_CALLBACK)
    crawler.engine.downloader.active.add(request)
    seen = []

    def started(request):
        seen.append(("started", request in crawler.engine.downloader.active))

    def ended(request):
        seen.append(("ended", request in crawler.engine.downloader.active))

    crawler.signals.connect(started, signal=retry_wait_started)
    crawler.signals.connect(ended, signal=retry_wait_ended)

    retry = asyncio.run(middleware.process_response(request, _throttled(request)))

    assert seen == [("started", False), ("ended", False)]
    assert request in crawler.engine.downloader.active, "back before Downloader.fetch removes it"
    assert isinstance(retry, Request) and retry.meta["retry_times"] == 1
    assert crawler.stats.get_value("retry/count") == 1
    # The retry answered 429 again: no wait, Scrapy gives up and the answer stands.
    assert asyncio.run(middleware.process_response(retry, _throttled(retry))).status == 429
    assert crawler.stats.get_value("retry/max_reached") == 1


@pytest.mark.slow
def test_a_page_request_stays_counted_while_it_waits():
    middleware, crawler = _middleware()
    request = Request("http://a.test/page")
    crawler.engine.downloader.active.add(request)
    seen = []

    def started(request):
        seen.append(request in crawler.engine.downloader.active)

    crawler.signals.connect(started, signal=retry_wait_started)
    asyncio.run(middleware.process_response(request, _throttled(request)))
    assert seen == [True]


@pytest.mark.slow
def test_a_closing_run_ends_the_wait_and_makes_no_retry():
    middleware, crawler = _middleware(IMAGESCRAPER_RETRY_AFTER_MAX=30)
    request = Request("http://a.test/1.jpg", callback=NO_CALLBACK)

    async def close_soon():
        await asyncio.sleep(0.1)
        crawler.engine._slot.closing = object()

    async def run():
        closer = asyncio.create_task(close_soon())
        answer = await asyncio.wait_for(middleware.process_response(request, _throttled(request)), timeout=5)
        await closer
        return answer

    assert asyncio.run(run()).status == 429
    assert crawler.stats.get_value("retry/count") is None
