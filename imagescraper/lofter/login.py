"""Keeping the LOFTER login header on LOFTER's page and API hosts.

The spider adds ``lofter-phone-login-auth`` or ``Authorization`` to its page and API requests.
A redirect keeps a request's headers (Scrapy drops only ``Cookie`` and ``Authorization``, and
only on some hops), so a page that redirects to another host would carry the token along.
This middleware removes it from any request that is not for a host the spider names in
``login_hosts``; image requests never get it in the first place.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from imagescraper.config import LOGIN_HEADERS


class LoginHeaderScopeMiddleware:
    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request, spider=None):
        allowed = getattr(self.crawler.spider, "login_hosts", None)
        if allowed is None or not any(name in request.headers for name in LOGIN_HEADERS.values()):
            return None
        if not allowed(urlsplit(request.url).netloc):
            for name in LOGIN_HEADERS.values():
                request.headers.pop(name, None)
        return None
