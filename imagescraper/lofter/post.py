"""One LOFTER post as the parsers return it, whatever the source (theme HTML or app API)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import unescape

from imagescraper.lofter.addresses import image_addresses

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


@dataclass
class LofterPost:
    blog: str
    post_id: int
    permalink: str
    url: str
    kind: str  # photo, text, answer, video, other
    title: str = ""
    excerpt: str = ""
    tags: list[str] = field(default_factory=list)
    published: str | None = None  # ISO 8601, when the source gives it
    images: list[str] = field(default_factory=list)  # originals, in post order, each once
    # The second address of an original that may live at two (legacy hosts): tried on 403/404.
    alternates: dict[str, str] = field(default_factory=dict)
    video: str | None = None  # a video post's file (its signed query kept)
    pinned: bool = False  # shown first on the blog whatever its date

    @property
    def folder_title(self) -> str:
        """What the post folder is named after: the title, else an excerpt (the id is added later)."""
        return self.title or self.excerpt


def collect_originals(urls, *, any_host: bool = False) -> tuple[list[str], dict[str, str]]:
    """Originals in order, each once, and the second address of those that have one."""
    seen: dict[str, None] = {}
    alternates: dict[str, str] = {}
    for url in urls:
        addresses = image_addresses(unescape(url or ""), any_host=any_host)
        if addresses and addresses[0] not in seen:
            seen[addresses[0]] = None
            if len(addresses) > 1:
                alternates[addresses[0]] = addresses[1]
    return list(seen), alternates


def text_excerpt(html_or_text: str, limit: int = 40) -> str:
    text = _SPACE.sub(" ", unescape(_TAG.sub(" ", html_or_text or ""))).strip()
    return text[:limit]
