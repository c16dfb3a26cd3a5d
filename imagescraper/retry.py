"""Retries that wait: back off before retrying a 429 or 5xx, honouring Retry-After up to a cap.

Scrapy's RetryMiddleware retries at once, which only hammers a server that just said it is
overloaded. This subclass keeps its rules (RETRY_TIMES, RETRY_HTTP_CODES, stats, give-up
log) and adds the wait.
"""

from __future__ import annotations

import asyncio
import email.utils
import time

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.utils.response import response_status_message

from imagescraper.config import config_for

# An overloaded or failing server gets time before the next try; 408 (request timeout) does not.
BACKOFF_STATUSES = frozenset({429, 500, 502, 503, 504, 522, 524})


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
        if (
            response.status in BACKOFF_STATUSES
            and response.status in self.retry_http_codes
            and not request.meta.get("dont_retry", False)
        ):
            retry = self._retry(request, response_status_message(response.status))
            if retry is None:
                return response
            delay = retry_delay(
                retry.meta["retry_times"],
                response.headers.get(b"Retry-After", b"").decode("latin-1") or None,
                base=self.backoff_base,
                backoff_max=self.backoff_max,
                retry_after_max=self.retry_after_max,
                now=time.time(),
            )
            if delay > 0:
                await asyncio.sleep(delay)
            return retry
        return super().process_response(request, response)
