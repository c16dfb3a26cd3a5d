"""The one place where project settings (``IMAGESCRAPER_*``) are read.

Components call :func:`config_for` in their ``from_crawler`` and keep the plain values they
need; defaults and their reasons live in ``settings.py``. The settings of a crawler are frozen
before its components are built, so they are parsed once per crawler.
"""

from __future__ import annotations

import ipaddress
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

from scrapy.settings import BaseSettings

from imagescraper.errors import InputError


@dataclass(frozen=True)
class ProjectConfig:
    allow_hosts: frozenset[tuple[str, int]]
    max_pixels: int
    max_url_length: int
    items_in_flight: int
    retry_backoff_base: float
    retry_backoff_max: float
    retry_after_max: float
    progress_interval: float
    progress_log_interval: float
    resolve: dict[str, str]
    lofter_blog_url: str
    lofter_api_url: str
    lofter_cookies: dict[str, str]
    lofter_posts_per_page: int
    durable: bool

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> ProjectConfig:
        try:
            allow_hosts = parse_allow_hosts(settings.getlist("IMAGESCRAPER_ALLOW_HOSTS"))
        except ValueError as exc:
            raise InputError(str(exc)) from None
        return cls(
            allow_hosts=allow_hosts,
            max_pixels=_number(settings, "IMAGESCRAPER_MAX_PIXELS", int, minimum=1),
            max_url_length=_number(settings, "IMAGESCRAPER_MAX_URL_LENGTH", int, minimum=16),
            items_in_flight=_number(settings, "IMAGESCRAPER_ITEMS_IN_FLIGHT", int, minimum=0)
            or 2 * settings.getint("CONCURRENT_REQUESTS"),
            retry_backoff_base=_number(settings, "IMAGESCRAPER_RETRY_BACKOFF_BASE", float, minimum=0),
            retry_backoff_max=_number(settings, "IMAGESCRAPER_RETRY_BACKOFF_MAX", float, minimum=0),
            retry_after_max=_number(settings, "IMAGESCRAPER_RETRY_AFTER_MAX", float, minimum=0),
            progress_interval=_number(settings, "IMAGESCRAPER_PROGRESS_INTERVAL", float, minimum=0.1),
            progress_log_interval=_number(settings, "IMAGESCRAPER_PROGRESS_LOG_INTERVAL", float, minimum=0),
            resolve=parse_resolve(settings.getlist("IMAGESCRAPER_RESOLVE")),
            lofter_blog_url=str(settings.get("IMAGESCRAPER_LOFTER_BLOG_URL")),
            lofter_api_url=str(settings.get("IMAGESCRAPER_LOFTER_API_URL")).rstrip("/"),
            lofter_cookies=parse_cookies(settings.get("IMAGESCRAPER_LOFTER_COOKIES") or ""),
            lofter_posts_per_page=_number(settings, "IMAGESCRAPER_LOFTER_POSTS_PER_PAGE", int, minimum=1),
            durable=_flag(settings, "IMAGESCRAPER_DURABLE"),
        )


_BY_CRAWLER: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def config_for(crawler) -> ProjectConfig:
    """The project settings of *crawler*, parsed (and checked) once."""
    config = _BY_CRAWLER.get(crawler)
    if config is None:
        config = _BY_CRAWLER[crawler] = ProjectConfig.from_settings(crawler.settings)
    return config


def _number(settings: BaseSettings, name: str, kind: type, *, minimum: float):
    raw = settings.get(name)
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise InputError(f"setting {name}={raw!r} is not a {kind.__name__}: pass a number with -s {name}=N") from None
    if value < minimum:
        raise InputError(f"setting {name}={raw!r} is below {minimum}: pass a larger value with -s {name}=N")
    return value


def _flag(settings: BaseSettings, name: str) -> bool:
    try:
        return settings.getbool(name)
    except ValueError:
        raise InputError(
            f"setting {name}={settings.get(name)!r} is not true or false: pass -s {name}=true or -s {name}=false"
        ) from None


def parse_allow_hosts(entries: Iterable[str]) -> frozenset[tuple[str, int]]:
    """Parse ``IMAGESCRAPER_ALLOW_HOSTS`` entries (``host:port``, ``[v6]:port``)."""
    allowed = set()
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        host, sep, port = entry.rpartition(":")
        host = host.strip("[]").lower()
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"IMAGESCRAPER_ALLOW_HOSTS entry {entry!r} is not host:port (for example 127.0.0.1:8000)")
        allowed.add((host, int(port)))
    return frozenset(allowed)


def parse_resolve(entries: Iterable[str]) -> dict[str, str]:
    """Parse ``IMAGESCRAPER_RESOLVE`` entries (``host=address``, like curl's --resolve)."""
    mapping = {}
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        host, sep, address = entry.partition("=")
        try:
            ipaddress.ip_address(address.strip())
        except ValueError:
            raise InputError(
                f"IMAGESCRAPER_RESOLVE entry {entry!r} is not host=address (for example mirror.example=192.0.2.7)"
            ) from None
        if not sep or not host.strip():
            raise InputError(f"IMAGESCRAPER_RESOLVE entry {entry!r} is not host=address")
        mapping[host.strip().lower()] = address.strip()
    return mapping


def parse_cookies(header: str) -> dict[str, str]:
    """``IMAGESCRAPER_LOFTER_COOKIES``: ``name=value; name2=value2`` as a browser shows them."""
    cookies = {}
    for pair in header.split(";"):
        name, sep, value = pair.strip().partition("=")
        if not pair.strip():
            continue
        if not sep or not name.strip():
            raise InputError(
                f"IMAGESCRAPER_LOFTER_COOKIES part {pair.strip()!r} is not name=value: "
                "copy them as 'LOFTER_SESS=...; ...'"
            )
        cookies[name.strip()] = value.strip()
    return cookies
