"""LOFTER addresses: what the user typed, post permalinks, and original image URLs.

Pure functions. Blog hosts are never hard-coded: they come from the blog URL template
(``IMAGESCRAPER_LOFTER_BLOG_URL``, ``https://{blog}.lofter.com`` by default), so a mirror or
the fake site in the tests works unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from imagescraper.errors import InputError

BLOG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_MARK = "blogmarkq"
PERMALINK = re.compile(r"/post/([0-9a-f]{1,16})_([0-9a-f]{1,16})(?=$|[/?#])")


@dataclass(frozen=True)
class BlogTarget:
    blog: str


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
        host_template = urlsplit(self.template.replace("{blog}", _MARK)).netloc.lower()
        before, _, after = host_template.partition(_MARK)
        self._host = re.compile(rf"^{re.escape(before)}(?P<blog>[a-z0-9][a-z0-9_-]*){re.escape(after)}$")
        self.www_host = host_template.replace(_MARK, "www")

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

    def parse_target(self, text: str | None) -> BlogTarget | PostTarget:
        """Turn ``-a domain=...`` into a blog or a post, or raise InputError."""
        value = (text or "").strip()
        if not value:
            raise InputError("no blog given: pass -a domain=NAME (a blog name, its address, or a post link)")
        if BLOG_NAME.match(value):
            return BlogTarget(value.lower())
        url = value if "://" in value else f"{urlsplit(self.template).scheme}://{value}"
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise _unrecognised(value)
        netloc = parts.netloc.lower()
        blog = self.blog_of_host(netloc)
        if blog is not None:
            permalink = PERMALINK.search(parts.path)
            if permalink:
                return PostTarget(blog, int(permalink[1], 16), int(permalink[2], 16))
            if parts.path.strip("/") in ("", "view") or parts.path.startswith("/?"):
                return BlogTarget(blog)
            raise _unrecognised(value)
        if netloc == self.www_host:
            match = re.fullmatch(r"/(?:front/blog/home-page|app|blog)/([A-Za-z0-9][A-Za-z0-9_-]*)/?", parts.path)
            if match and not match[1].isdigit():
                return BlogTarget(match[1].lower())
        raise _unrecognised(value)


def _unrecognised(value: str) -> InputError:
    return InputError(
        f"domain={value!r} is not a LOFTER blog or post: pass a blog name (yurisa123), its address "
        "(yurisa123.lofter.com), or a post link (https://yurisa123.lofter.com/post/1cf5f941_12bd7e63c)"
    )


# --- images -------------------------------------------------------------------------------------
# Hosts that carry post images: imglf<N> on every generation of LOFTER's image CDN.
_POST_IMAGE_HOST = re.compile(r"^imglf\d*\.")
# Older generations of the same CDN, whose originals now live on imglf<N>.lf127.net.
_LEGACY_HOST = re.compile(r"^(imglf\d*)\.(?:nosdn0?\.12[67]\.net|ph\.126\.net)$")
_NOS_PATH = re.compile(r"^/(imglf\d*)(/.*)$")
# thumbnail=164y164 ("y": a square crop) marks "related post" thumbnails, not this post's images.
_SQUARE_CROP = re.compile(r"thumbnail=\d+y\d+")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp")


def original_image_url(url: str) -> str | None:
    """The original behind a LOFTER image URL, or None if it is not a post image.

    The ``imageView`` query asks the image service for a resized, re-encoded copy (a GIF
    comes back as a still JPEG); the bare path is the uploaded original. Legacy hosts are
    rewritten to today's ``imglf<N>.lf127.net``. Avatars, theme assets and square "related
    post" thumbnails return None.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return None
    if _SQUARE_CROP.search(parts.query):
        return None
    netloc = parts.netloc.lower()
    scheme = parts.scheme
    path = parts.path
    legacy = _LEGACY_HOST.match(host)
    nos = _NOS_PATH.match(path) if host == "nos.netease.com" else None
    if legacy:
        scheme, netloc = "https", f"{legacy[1]}.lf127.net"
    elif nos:
        scheme, netloc, path = "https", f"{nos[1]}.lf127.net", nos[2]
    elif not _POST_IMAGE_HOST.match(host):
        return None
    if not path.lower().endswith(IMAGE_EXTENSIONS):
        return None
    return f"{scheme}://{netloc}{path}"
