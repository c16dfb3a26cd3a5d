"""The one place where project settings (``IMAGESCRAPER_*``) are read.

Components call :func:`config_for` in their ``from_crawler`` and keep the plain values they
need; defaults and their reasons live in ``settings.py``. The settings of a crawler are frozen
before its components are built, so they are parsed once per crawler.
"""

from __future__ import annotations

import ipaddress
import re
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field

from scrapy.settings import BaseSettings

from imagescraper.frontier import FrontierAddress, parse_frontier_url
from imagescraper.startup_errors import InputError


@dataclass(frozen=True)
class ProjectConfig:
    allow_hosts: frozenset[tuple[str, int]]
    max_decoded_bytes: int
    max_video_bytes: int
    max_url_length: int
    items_in_flight: int
    host_items_in_flight: int
    retry_backoff_base: float
    retry_backoff_max: float
    retry_after_max: float
    progress_interval: float
    progress_log_interval: float
    resolve: dict[str, str]
    proxy_from_env: bool
    lofter_blog_url: str
    lofter_api_url: str
    lofter_cookies: dict[str, str]
    lofter_posts_per_page: int
    durable: bool
    lofter_user_agent: str
    lofter_referer: str
    # A login token: kept out of repr() so it cannot reach a log line by accident.
    lofter_login_header: tuple[str, str] | None = field(repr=False)
    # Fleet mode (issue 17): None on a server that works alone.
    frontier: FrontierAddress | None = None
    frontier_name: str = "urlfile"
    frontier_lease: float = 60.0

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> ProjectConfig:
        _refuse_control_endpoints(settings)
        try:
            allow_hosts = parse_allow_hosts(settings.getlist("IMAGESCRAPER_ALLOW_HOSTS"))
        except ValueError as exc:
            raise InputError(str(exc)) from None
        return cls(
            allow_hosts=allow_hosts,
            max_decoded_bytes=_number(settings, "IMAGESCRAPER_MAX_DECODED_BYTES", int, minimum=1),
            max_video_bytes=_number(settings, "IMAGESCRAPER_MAX_VIDEO_BYTES", int, minimum=1),
            max_url_length=_number(settings, "IMAGESCRAPER_MAX_URL_LENGTH", int, minimum=16),
            items_in_flight=_number(settings, "IMAGESCRAPER_ITEMS_IN_FLIGHT", int, minimum=0)
            or 2 * _number(settings, "CONCURRENT_REQUESTS", int, minimum=1),
            host_items_in_flight=_number(settings, "IMAGESCRAPER_HOST_ITEMS_IN_FLIGHT", int, minimum=0)
            or 2 * _number(settings, "CONCURRENT_REQUESTS_PER_DOMAIN", int, minimum=1),
            retry_backoff_base=_number(settings, "IMAGESCRAPER_RETRY_BACKOFF_BASE", float, minimum=0),
            retry_backoff_max=_number(settings, "IMAGESCRAPER_RETRY_BACKOFF_MAX", float, minimum=0),
            retry_after_max=_number(settings, "IMAGESCRAPER_RETRY_AFTER_MAX", float, minimum=0),
            progress_interval=_number(settings, "IMAGESCRAPER_PROGRESS_INTERVAL", float, minimum=0.1),
            progress_log_interval=_number(settings, "IMAGESCRAPER_PROGRESS_LOG_INTERVAL", float, minimum=0),
            resolve=parse_resolve(settings.getlist("IMAGESCRAPER_RESOLVE")),
            proxy_from_env=_flag(settings, "IMAGESCRAPER_PROXY_FROM_ENV"),
            lofter_blog_url=str(settings.get("IMAGESCRAPER_LOFTER_BLOG_URL")),
            lofter_api_url=str(settings.get("IMAGESCRAPER_LOFTER_API_URL")).rstrip("/"),
            lofter_cookies=parse_cookies(settings.get("IMAGESCRAPER_LOFTER_COOKIES") or ""),
            lofter_posts_per_page=_number(settings, "IMAGESCRAPER_LOFTER_POSTS_PER_PAGE", int, minimum=1),
            durable=_flag(settings, "IMAGESCRAPER_DURABLE"),
            lofter_user_agent=str(settings.get("IMAGESCRAPER_LOFTER_USER_AGENT") or ""),
            lofter_referer=str(settings.get("IMAGESCRAPER_LOFTER_REFERER") or ""),
            lofter_login_header=parse_login_header(settings.get("IMAGESCRAPER_LOFTER_LOGIN_HEADER") or ""),
            **_frontier_settings(settings),
        )


_BY_CRAWLER: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def config_for(crawler) -> ProjectConfig:
    """The project settings of *crawler*, parsed (and checked) once."""
    config = _BY_CRAWLER.get(crawler)
    if config is None:
        config = _BY_CRAWLER[crawler] = ProjectConfig.from_settings(crawler.settings)
    return config


# Scrapy's telnet console and remote control: endpoints that take commands. settings.py keeps them
# out of Scrapy's base list; a run whose settings name them again (-s EXTENSIONS=..., a scrapyd
# job's setting=...) stops before anything starts, rather than open them.
CONTROL_EXTENSIONS = ("scrapy.extensions.telnet.TelnetConsole", "scrapy.extensions.remote_control.RemoteControl")


def _refuse_control_endpoints(settings: BaseSettings) -> None:
    for name in ("EXTENSIONS", "EXTENSIONS_BASE"):
        for key, order in settings.getdict(name).items():
            path = key if isinstance(key, str) else f"{key.__module__}.{key.__qualname__}"
            if order is not None and path in CONTROL_EXTENSIONS:
                raise InputError(
                    f"setting {name} enables {path}: this project never opens Scrapy's telnet console or "
                    f"remote control (they take commands); remove it from {name}"
                )


_FRONTIER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _frontier_settings(settings: BaseSettings) -> dict:
    name = str(settings.get("IMAGESCRAPER_FRONTIER_NAME") or "")
    if not _FRONTIER_NAME.fullmatch(name):
        raise InputError(
            f"setting IMAGESCRAPER_FRONTIER_NAME={name!r} is not a name: use letters, digits, '.', '-', '_' "
            "(the same on every server of the fleet, e.g. the job name)"
        )
    return {
        "frontier": parse_frontier_url(str(settings.get("IMAGESCRAPER_FRONTIER") or "")),
        "frontier_name": name,
        "frontier_lease": _number(settings, "IMAGESCRAPER_FRONTIER_LEASE", float, minimum=1),
    }


_KIND_NAMES = {int: "a whole number", float: "a number"}


def _number(settings: BaseSettings, name: str, kind: type, *, minimum: float):
    raw = settings.get(name)
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise InputError(f"setting {name}={raw!r} is not {_KIND_NAMES[kind]}: pass one with -s {name}=N") from None
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
    for number, pair in enumerate(header.split(";"), start=1):
        name, sep, value = pair.strip().partition("=")
        if not pair.strip():
            continue
        if not sep or not name.strip():
            # The part itself is never shown: it may be a login token pasted without its name.
            raise InputError(
                f"IMAGESCRAPER_LOFTER_COOKIES part {number} is not name=value: copy them as 'LOFTER_SESS=...; ...'"
            )
        cookies[name.strip()] = value.strip()
    return cookies


LOGIN_HEADERS = {"lofter-phone-login-auth": "lofter-phone-login-auth", "authorization": "Authorization"}


def parse_login_header(text: str) -> tuple[str, str] | None:
    """``IMAGESCRAPER_LOFTER_LOGIN_HEADER``: ``lofter-phone-login-auth: TOKEN`` or ``Authorization: TOKEN``."""
    if not text.strip():
        return None
    name, sep, value = text.partition(":")
    canonical = LOGIN_HEADERS.get(name.strip().lower())
    if not sep or canonical is None or not value.strip() or any(c in value for c in "\r\n"):
        # The value is a secret: the message names the setting, never echoes it.
        raise InputError(
            "IMAGESCRAPER_LOFTER_LOGIN_HEADER is not 'lofter-phone-login-auth: TOKEN' or 'Authorization: TOKEN': "
            "copy the header name and value from the app's or the browser's requests to api.lofter.com"
        )
    return canonical, value.strip()


@dataclass(frozen=True)
class GalleryConfig:
    """Settings of ``scrapy gallery`` (README "The gallery")."""

    store: str
    gallery_dir: str
    files_url: str
    title: str
    page_size: int
    workers: int

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> GalleryConfig:
        store = str(settings.get("IMAGES_STORE") or "")
        if not store or "://" in store and not store.startswith("file://"):
            raise InputError(f"IMAGES_STORE={store!r} is not a local folder: pass a path with -s IMAGES_STORE=DIR")
        gallery_dir = str(settings.get("IMAGESCRAPER_GALLERY_DIR") or "")
        if not gallery_dir:
            raise InputError("IMAGESCRAPER_GALLERY_DIR is empty: pass a folder with -s IMAGESCRAPER_GALLERY_DIR=DIR")
        files_url = str(settings.get("IMAGESCRAPER_GALLERY_FILES_URL") or "")
        if files_url and not files_url.endswith("/"):
            files_url += "/"
        return cls(
            store=store.removeprefix("file://"),
            gallery_dir=gallery_dir,
            files_url=files_url,
            title=str(settings.get("IMAGESCRAPER_GALLERY_TITLE") or ""),
            page_size=_number(settings, "IMAGESCRAPER_GALLERY_PAGE_SIZE", int, minimum=1),
            workers=_number(settings, "IMAGESCRAPER_GALLERY_WORKERS", int, minimum=0),
        )
