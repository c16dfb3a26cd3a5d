"""Keeping requests away from loopback, private, link-local and other internal addresses.

URLs come from files and pages we do not control, so a line like ``http://169.254.169.254/``
(cloud metadata), ``http://2130706433/`` (127.0.0.1 spelled as a number) or a public name
whose DNS answer is ``10.0.0.5`` must not be fetched. Two layers, both on the resolved
address and on every hop (a redirect is a new request and passes through both again):

- :class:`AddressGuardMiddleware` checks each request before it is sent and fails it with a
  clear reason (``blocked-address``);
- :class:`GuardedResolver` refuses to hand an internal address to the connection itself, so a
  DNS answer that changes between the check and the connect changes nothing. It also answers
  the names pinned by ``IMAGESCRAPER_RESOLVE`` (``host=address``, like curl's ``--resolve``:
  for mirrors, and for the tests' fake sites), which are checked like any other answer.

Exactly the ``host:port`` pairs in ``IMAGESCRAPER_ALLOW_HOSTS`` are exempt; the port matters,
so allowing ``127.0.0.1:8000`` does not allow ``127.0.0.1:22``.

A proxy resolves target names itself, past the resolver half. So ``http_proxy``/``https_proxy``
from the environment are ignored unless ``IMAGESCRAPER_PROXY_FROM_ENV`` is on
(:class:`EnvironmentProxyMiddleware`); when it is, the middleware half has checked the target's
resolved address before the request is handed to the proxy.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.httpproxy import HttpProxyMiddleware
from scrapy.resolver import CachingThreadedResolver
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet import defer

from imagescraper.config import config_for

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}


class BlockedRequest(Exception):
    """A request the guard refused to send; the message says why, for the run's log."""


def blocked_reason(address: str) -> str | None:
    """Why *address* (a literal IP) must not be contacted, or None if it is a public address."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            reason = blocked_reason(str(embedded))
            if reason:
                return reason
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives here)"
    if ip.is_private:
        return "a private address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified or ip.is_reserved or not ip.is_global:
        return "a reserved or internal address"
    return None


def literal_address(host: str) -> str | None:
    """The address a host name denotes by itself, in any spelling the C library accepts.

    ``127.0.0.1``, ``2130706433``, ``0x7f.0.0.1``, ``0177.1`` and ``::1`` are all addresses, not
    names; anything else (``example.com``) returns None and must be resolved.
    """
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


class GuardedResolver(CachingThreadedResolver):
    """Scrapy's caching resolver, refusing internal answers for names that are not allowed."""

    def __init__(
        self,
        reactor,
        cache_size: int,
        timeout: float,
        allowed_names: frozenset[str],
        fixed: dict[str, str] | None = None,
    ):
        super().__init__(reactor, cache_size, timeout)
        self.allowed_names = allowed_names
        self.fixed = fixed or {}
        self._pinned: dict[str, str] = {}  # allowed name -> its first answer

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor):
        settings = crawler.settings
        cache_size = settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0
        config = config_for(crawler)
        allowed = frozenset(host for host, _ in config.allow_hosts)
        return cls(reactor, cache_size, settings.getfloat("DNS_TIMEOUT"), allowed, config.resolve)

    def getHostByName(self, name, timeout=()):
        fixed = self.fixed.get(name.lower()) or self._pinned.get(name.lower())
        answer = defer.succeed(fixed) if fixed else super().getHostByName(name, timeout)
        return answer.addCallback(self._refuse_internal, name)

    def _refuse_internal(self, address: str, name: str) -> str:
        if name.lower() not in self.allowed_names:
            reason = blocked_reason(address)
            if reason:
                raise BlockedRequest(f"{name} resolves to {address}, {reason}")
        else:
            # Any answer passes here for a name allowed on some port, so the middleware's check of
            # its other ports must see the address the connection will use: the first, for the run.
            self._pinned.setdefault(name.lower(), address)
        return address


class AddressGuardMiddleware:
    """Downloader middleware: fail any request whose target is not a public http(s) address.

    The verdict on a host's address is kept for the run, like the resolver's own cache of its
    answer: the thousands of images of one host cost one check, and the resolver still checks the
    address each connection really uses. Except for names allowed on some port: the resolver lets
    any answer for those through (it cannot see the port), so this check is the only one that
    holds their other ports; it asks again each time, and the resolver gives it and the connection
    the same address, the name's first answer of the run."""

    # Hosts whose verdict is kept; a list of more distinct hosts starts the memory over.
    KEEP_HOSTS = 10_000

    def __init__(self, allow_hosts: frozenset[tuple[str, int]], resolve):
        self.allow_hosts = allow_hosts
        self._resolve = resolve
        self._allowed_names = frozenset(host for host, _ in allow_hosts)
        self._verdicts: dict[str, tuple[str, str] | None] = {}  # host -> (host as shown, why blocked) or None

    @classmethod
    def from_crawler(cls, crawler: Crawler):
        from twisted.internet import reactor

        return cls(config_for(crawler).allow_hosts, reactor.resolve)

    async def process_request(self, request: Request) -> None:
        parts = urlparse_cached(request)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise BlockedRequest(f"{scheme}: URLs are never fetched")
        host = (parts.hostname or "").lower()
        port = parts.port or _DEFAULT_PORTS[scheme]
        if (host, port) in self.allow_hosts:
            return None
        try:
            verdict = self._verdicts[host]
        except KeyError:
            verdict = await self._judge(host, keep=host not in self._allowed_names)
        if verdict:
            shown, reason = verdict
            raise BlockedRequest(f"{shown}:{port} is {reason}; list it in IMAGESCRAPER_ALLOW_HOSTS to allow it")
        return None

    async def _judge(self, host: str, *, keep: bool) -> tuple[str, str] | None:
        address = literal_address(host)
        if address is None:
            address = await maybe_deferred_to_future(self._resolve(host))
        reason = blocked_reason(address)
        verdict = (host if address == host else f"{host} ({address})", reason) if reason else None
        if not keep:
            return verdict
        if len(self._verdicts) >= self.KEEP_HOSTS:
            self._verdicts.clear()
        self._verdicts[host] = verdict
        return verdict


class EnvironmentProxyMiddleware(HttpProxyMiddleware):
    """Scrapy's proxy middleware, using the environment's proxies only when the settings say so.

    Ordered after :class:`AddressGuardMiddleware`, so a request reaches the proxy only once its
    target passed the guard. A ``proxy`` in a request's meta works as in Scrapy.
    """

    @classmethod
    def from_crawler(cls, crawler: Crawler):
        middleware = super().from_crawler(crawler)
        if middleware.proxies and not config_for(crawler).proxy_from_env:
            logger.info(
                "Ignoring the %s proxy set in the environment: set -s IMAGESCRAPER_PROXY_FROM_ENV=true to use it",
                "/".join(sorted(middleware.proxies)),
            )
            middleware.proxies = {}
        return middleware
