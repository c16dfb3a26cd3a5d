"""Why an image was not stored, as a short reason key and one readable sentence.

Every failed image ends up as an :class:`ImageFailed` carrying its URL, so the pipeline can
count it under ``imagescraper/failed/<reason>``, log it once and list it in the summary.
"""

from __future__ import annotations

import re

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
    UnsupportedURLSchemeError,
)
from twisted.internet import error as tx_error

from imagescraper.guard import BlockedRequest


class ImageFailed(Exception):
    def __init__(self, url: str, reason: str, detail: str):
        super().__init__(f"{url}: {reason} ({detail})")
        self.url = url
        self.reason = reason
        self.detail = detail


# Checked in order; the first matching class names the reason.
_REASONS: list[tuple[tuple[type[BaseException], ...], str]] = [
    ((BlockedRequest,), "blocked-address"),
    ((DownloadTimeoutError, tx_error.TimeoutError), "timeout"),
    ((CannotResolveHostError, tx_error.DNSLookupError), "dns-error"),
    ((DownloadConnectionRefusedError, tx_error.ConnectionRefusedError), "connection-refused"),
    ((ResponseDataLossError,), "truncated"),
    ((DownloadCancelledError,), "too-large"),
    ((UnsupportedURLSchemeError,), "unsupported-scheme"),
    ((DownloadFailedError, tx_error.ConnectionLost, tx_error.ConnectionDone, tx_error.ConnectError), "connection-lost"),
    ((IgnoreRequest,), "filtered"),
]


# Scrapy's download handlers say "Getting <url> took longer than 15.0 seconds."
_TIMEOUT_TEXT = re.compile(r"Getting \S+ (took longer than .+?)\.?")


def _detail(url: str, exc: BaseException) -> str:
    """The exception's words without the URL: the failure line names it already."""
    text = str(exc)
    timeout = _TIMEOUT_TEXT.fullmatch(text)
    if timeout:
        return timeout[1]
    return text.replace(url, "the URL") if url else text


def classify(url: str, exc: BaseException) -> ImageFailed:
    if isinstance(exc, ImageFailed):
        return exc
    for classes, reason in _REASONS:
        if isinstance(exc, classes):
            return ImageFailed(url, reason, _detail(url, exc) or type(exc).__name__)
    return ImageFailed(url, "error", f"{type(exc).__name__}: {_detail(url, exc)}")
