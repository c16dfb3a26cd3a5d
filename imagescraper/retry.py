"""Retries that wait: back off before retrying a 429 or 5xx, honouring Retry-After up to a cap.

Scrapy's RetryMiddleware retries at once, which only hammers a server that just said it is
overloaded. This subclass keeps its rules (RETRY_TIMES, RETRY_HTTP_CODES, the ``retry/*``
stats, the give-up log, all through Scrapy's public ``get_retry_request``) and adds the wait.

A waiting retry holds nothing that other hosts need: the spider is told (``retry_wait_started``)
so the item's place in the pipeline goes to the next URL, and an image download stops counting
against ``CONCURRENT_REQUESTS`` while it waits. When the run starts closing (Ctrl-C,
``CLOSESPIDER_TIMEOUT``, a scrapyd cancel) nothing is retried any more, every wait ends at once
and the last answer stands,
so a run never outlives its deadline by a Retry-After.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from contextlib import contextmanager, nullcontext

from scrapy.downloadermiddlewares.retry import RetryMiddleware, get_retry_request
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.response import response_status_message

from imagescraper.config import config_for
from imagescraper.scrapy_compat import engine_is_closing, uncounted_by_downloader
from imagescraper.signals import retry_wait_ended, retry_wait_started

# An overloaded or failing server gets time before the next try; 408 (request timeout) does not.
BACKOFF_STATUSES = frozenset({429, 500, 502, 503, 504, 522, 524})
# How often a waiting retry looks whether the run is closing.
_CLOSING_CHECK_INTERVAL = 0.25


def retry_delay(
    attempt: int, retry_after: str | None, *, base: float, backoff_max: float, retry_after_max: float, now: float
) -> float:
    """Seconds to wait before retry number *attempt* (1 for the first retry).

    A Retry-After header (seconds, or an HTTP date) wins, capped at *retry_after_max*;
    otherwise exponential backoff ``base * 2**(attempt-1)`` capped at *backoff_max*.
    """
    if retry_after:
        value = retry_after.strip()
        seconds: float | None
        if value.isdigit():
            seconds = float(value)
        else:
            try:
                seconds = email.utils.parsedate_to_datetime(value).timestamp() - now
            except (TypeError, ValueError, IndexError):
                seconds = None
        if seconds is not None:
            return min(max(seconds, 0.0), retry_after_max)
    return min(base * 2 ** max(attempt - 1, 0), backoff_max)


class BackoffRetryMiddleware(RetryMiddleware):
    @classmethod
    def from_crawler(cls, crawler):
        middleware = super().from_crawler(crawler)
        config = config_for(crawler)
        middleware.backoff_base = config.retry_backoff_base
        middleware.backoff_max = config.retry_backoff_max
        middleware.retry_after_max = config.retry_after_max
        return middleware

    async def process_response(self, request, response):
        if response.status not in self.retry_http_codes or request.meta.get("dont_retry", False):
            return response
        if engine_is_closing(self.crawler.engine):
            return response  # a stopped run retries nothing: this answer stands
        reason = response_status_message(response.status)
        if response.status not in BACKOFF_STATUSES:
            return self._get_retry_request(request, reason) or response
        attempt = request.meta.get("retry_times", 0) + 1
        if attempt > request.meta.get("max_retry_times", self.max_retry_times):
            return self._get_retry_request(request, reason) or response  # gives up: logged and counted
        delay = retry_delay(
            attempt,
            response.headers.get(b"Retry-After", b"").decode("latin-1") or None,
            base=self.backoff_base,
            backoff_max=self.backoff_max,
            retry_after_max=self.retry_after_max,
            now=time.time(),
        )
        if delay > 0 and not await self._wait(request, delay):
            return response  # the run is closing: no retry, this answer stands
        return self._get_retry_request(request, reason) or response

    def process_exception(self, request, exception):
        if not isinstance(exception, self.exceptions_to_retry) or request.meta.get("dont_retry", False):
            return None
        if engine_is_closing(self.crawler.engine):
            return None  # a stopped run retries nothing: a timeout after Ctrl-C is final
        return self._get_retry_request(request, exception)

    def _get_retry_request(self, request, reason):
        return get_retry_request(
            request,
            spider=self.crawler.spider,
            reason=reason,
            max_retry_times=request.meta.get("max_retry_times", self.max_retry_times),
            priority_adjust=request.meta.get("priority_adjust", self.priority_adjust),
            give_up_log_level=request.meta.get("give_up_log_level", self.give_up_log_level),
        )

    async def _wait(self, request, seconds: float) -> bool:
        """Sleep *seconds* without holding a place; False if the run started closing meanwhile."""
        engine = self.crawler.engine
        deadline = time.monotonic() + seconds
        with self._place_given_back(request):
            while not engine_is_closing(engine):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return True
                await asyncio.sleep(min(remaining, _CLOSING_CHECK_INTERVAL))
        return False

    @contextmanager
    def _place_given_back(self, request):
        signals = self.crawler.signals
        # Only an image download (the media pipeline's requests have no callback) leaves the
        # downloader's count: while a page request waits, the engine must not think the crawl over.
        is_image = request.callback is NO_CALLBACK
        with uncounted_by_downloader(self.crawler.engine, request) if is_image else nullcontext():
            signals.send_catch_log(retry_wait_started, request=request)
            try:
                yield
            finally:
                signals.send_catch_log(retry_wait_ended, request=request)
