"""LOFTER addresses: what the user typed, post permalinks, and original image URLs.

Pure functions. Blog hosts are never hard-coded: they come from the blog URL template
(``IMAGESCRAPER_LOFTER_BLOG_URL``, ``https://{blog}.lofter.com`` by default), so a mirror or
the fake site in the tests works unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from imagescraper.startup_errors import InputError

# LOFTER's own addresses: the ones people copy, understood whatever IMAGESCRAPER_LOFTER_BLOG_URL says.
LOFTER_ADDRESSES = "https://{blog}.lofter.com"
BLOG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_MARK = "blogmarkq"
PERMALINK = re.compile(r"/post/([0-9a-f]{1,16})_([0-9a-f]{1,16})(?=$|[/?#])")


@dataclass(frozen=True)
class BlogTarget:
    blog: str


RANKINGS = {"new": "new", "total": "total", "date": "date", "week": "week", "month": "month"}


@dataclass(frozen=True)
class TagTarget:
    tag: str
    ranking: str = "new"


@dataclass(frozen=True)
class CollectionTarget:
    collection_id: int


@dataclass(frozen=True)
class LikesTarget:
    method: str  # "favorites" (likes) or "shares", as batchdata.api names them


def check_tag(text: str) -> str:
    tag = (text or "").strip()
    if not tag or len(tag) > 100 or any(ord(c) < 32 for c in tag):
        raise InputError(f"tag={text!r} is not a LOFTER tag: pass -a tag=NAME (up to 100 characters, e.g. -a tag=摄影)")
    return tag


def check_ranking(text: str) -> str:
    ranking = (text or "").strip().lower()
    if ranking not in RANKINGS:
        raise InputError(f"ranking={text!r} is not one of {', '.join(RANKINGS)}: pass e.g. -a ranking=total")
    return ranking


def check_collection(text) -> int:
    value = str(text or "").strip()
    if not value.isdigit() or int(value) < 1:
        raise InputError(f"collection={text!r} is not a collection id: pass the number after collectionId= in its link")
    return int(value)


@dataclass(frozen=True)
class PostTarget:
    blog: str
    blog_id: int
    post_id: int

    @property
    def permalink(self) -> str:
        return f"{self.blog_id:x}_{self.post_id:x}"


def decode_permalink(permalink: str) -> tuple[int, int]:
    """``1e82da8c_1c98dae1b`` -> (blogId 511892108, postId 7676472859)."""
    blog_hex, _, post_hex = permalink.partition("_")
    return int(blog_hex, 16), int(post_hex, 16)


class BlogUrls:
    """Builds and recognises blog addresses from the blog URL template."""

    def __init__(self, template: str):
        if "{blog}" not in template:
            raise InputError(f"IMAGESCRAPER_LOFTER_BLOG_URL={template!r} must contain {{blog}}")
        self.template = template.rstrip("/")
        parts = urlsplit(self.template.replace("{blog}", "blog-name"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"IMAGESCRAPER_LOFTER_BLOG_URL={template!r} is not an http(s) URL template")
        self._host, self.www_host = _host_forms(self.template)
        # What people type are LOFTER's own addresses, whatever serves the pages (a mirror, the fake site).
        self._typed = [(self._host, self.www_host)]
        if self.template != LOFTER_ADDRESSES:
            self._typed.append(_host_forms(LOFTER_ADDRESSES))

    def home(self, blog: str) -> str:
        return self.template.format(blog=blog) + "/"

    def page(self, blog: str, page: int) -> str:
        return self.home(blog) if page == 1 else f"{self.home(blog)}?page={page}"

    def post(self, blog: str, permalink: str) -> str:
        return f"{self.home(blog)}post/{permalink}"

    def host(self, blog: str) -> str:
        return urlsplit(self.home(blog)).netloc.lower()

    def blog_of_host(self, netloc: str) -> str | None:
        match = self._host.match(netloc.lower())
        if match and match["blog"] != "www":
            return match["blog"]
        return None

    def parse_target(self, text: str | None) -> BlogTarget | PostTarget | TagTarget | CollectionTarget:
        """Turn ``-a domain=...`` into a blog, a post, a tag or a collection, or raise InputError.

        Addresses on the template's hosts and on LOFTER's own (``<name>.lofter.com``,
        ``www.lofter.com``) are both understood: what is fetched always follows the template.
        """
        value = (text or "").strip()
        if not value:
            raise InputError("no blog given: pass -a domain=NAME (a blog name, its address, or a post link)")
        if BLOG_NAME.match(value):
            return BlogTarget(value.lower())
        url = value if "://" in value else f"{urlsplit(self.template).scheme}://{value}"
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise _unrecognised(value)
        for host, www_host in self._typed:
            target = _target_on(parts, host, www_host)
            if target is False:  # on these hosts, but no address LOFTER has
                raise _unrecognised(value)
            if target is not None:
                return target
        raise _unrecognised(value)


def _host_forms(template: str) -> tuple[re.Pattern, str]:
    """A template's blog hosts (a pattern naming the blog) and its www host."""
    host_template = urlsplit(template.replace("{blog}", _MARK)).netloc.lower()
    before, _, after = host_template.partition(_MARK)
    host = re.compile(rf"^{re.escape(before)}(?P<blog>[a-z0-9][a-z0-9_-]*){re.escape(after)}$")
    return host, host_template.replace(_MARK, "www")


def _target_on(parts, host: re.Pattern, www_host: str):
    """What an address names on one set of hosts; None when it is not on them, False when it is
    on them but names nothing we read."""
    netloc = parts.netloc.lower()
    match = host.match(netloc)
    blog = match["blog"] if match and match["blog"] != "www" else None
    collection = parse_qs(parts.query).get("collectionId")
    if collection and (netloc == www_host or blog):
        return CollectionTarget(check_collection(collection[0]))
    if blog is not None:
        permalink = PERMALINK.search(parts.path)
        if permalink:
            return PostTarget(blog, int(permalink[1], 16), int(permalink[2], 16))
        if parts.path.strip("/") in ("", "view") or parts.path.startswith("/?"):
            return BlogTarget(blog)
        return False
    if netloc == www_host:
        tag = re.fullmatch(r"/(?:front/)?tag/([^/]+)(?:/([a-z]+))?/?", parts.path)
        if tag and (tag[2] or "new") in RANKINGS:
            return TagTarget(check_tag(unquote(tag[1])), tag[2] or "new")
        match = re.fullmatch(r"/(?:front/blog/home-page|app|blog)/([A-Za-z0-9][A-Za-z0-9_-]*)/?", parts.path)
        if match and not match[1].isdigit():
            return BlogTarget(match[1].lower())
        return False
    return None


def _unrecognised(value: str) -> InputError:
    return InputError(
        f"domain={value!r} is not a LOFTER blog, post, tag or collection: pass a blog name (yurisa123), its "
        "address (yurisa123.lofter.com), a post link (https://yurisa123.lofter.com/post/1cf5f941_12bd7e63c), "
        "a tag link (https://www.lofter.com/tag/NAME) or a collection link (...?collectionId=N)"
    )


# --- images -------------------------------------------------------------------------------------
# LOFTER's own image services (every generation of its CDN), and the same names under the
# reserved ``.test`` TLD, which the fake LOFTER in the tests uses. Only on these hosts is the
# query an ``imageView`` resize/watermark request that can be dropped to get the original.
_LOFTER_IMAGE_HOST = re.compile(r"(?:^|\.)(?:lf127|127|126|netease)\.(?:net|com|test)$")
# Hosts that carry post images (not avatars or theme assets): imglf<N> on every generation.
_POST_IMAGE_HOST = re.compile(r"^imglf\d*\.")
# nos.netease.com/imglfN/... is the one legacy form working clients rewrite (to imglfN.lf127.net).
_NOS_HOST = re.compile(r"^nos\.netease\.(com|test)$")
_NOS_PATH = re.compile(r"^/(imglf\d*)(/.*)$")
_REWRITTEN_SUFFIX = {"com": "lf127.net", "test": "lf127.test"}
# thumbnail=164y164 ("y": a square crop) marks "related post" thumbnails, not this post's images.
_SQUARE_CROP = re.compile(r"thumbnail=\d+y\d+")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp")


def is_lofter_image_host(host: str) -> bool:
    return bool(_LOFTER_IMAGE_HOST.search(host.lower()))


def image_addresses(url: str, *, any_host: bool = False) -> list[str]:
    """Where the original behind an image URL lives: the address to try first, then the other one.

    On LOFTER image hosts the ``imageView`` query asks for a resized, re-encoded copy (a GIF
    comes back as a still JPEG) and is dropped; elsewhere the URL is kept whole (its query may
    be what names the file). ``nos.netease.com/imglfN/...`` is rewritten to ``imglfN.lf127.net``
    as working clients do, and the legacy address is kept as the second place to look, since
    not every old file was moved. An empty list: not a post image (avatars, theme assets,
    square "related post" thumbnails, non-HTTP links). ``any_host`` is for post content from
    the API, where every ``<img>`` is the author's; theme pages also hold the theme's images,
    so there only LOFTER's post-image hosts count.
    """
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return []
    if parts.scheme not in ("http", "https") or not host:
        return []
    lofter = is_lofter_image_host(host)
    if lofter and _SQUARE_CROP.search(parts.query):
        return []
    netloc = parts.netloc.lower()
    nos = _NOS_HOST.match(host)
    nos_path = _NOS_PATH.match(parts.path) if nos else None
    if nos_path:
        port = netloc[len(host) :]
        legacy = f"{parts.scheme}://{netloc}{parts.path}"
        return [f"{parts.scheme}://{nos_path[1]}.{_REWRITTEN_SUFFIX[nos[1]]}{port}{nos_path[2]}", legacy]
    if lofter:
        if not any_host and not (_POST_IMAGE_HOST.match(host) and parts.path.lower().endswith(IMAGE_EXTENSIONS)):
            return []
        return [f"{parts.scheme}://{netloc}{parts.path}"]
    if not any_host:
        return []
    query = f"?{parts.query}" if parts.query else ""
    return [f"{parts.scheme}://{netloc}{parts.path}{query}"]


def original_image_url(url: str, *, any_host: bool = False) -> str | None:
    """The address to fetch first for an image URL, or None if it is not a post image."""
    addresses = image_addresses(url, any_host=any_host)
    return addresses[0] if addresses else None
