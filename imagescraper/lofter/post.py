"""One LOFTER post as the parsers return it, whatever the source (theme HTML or app API)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import unescape

from imagescraper.lofter.addresses import original_image_url

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

    @property
    def folder_title(self) -> str:
        """What the post folder is named after: the title, else an excerpt (the id is added later)."""
        return self.title or self.excerpt


def originals_in_order(urls) -> list[str]:
    """Originals of the post images among *urls*, first occurrence first, each once."""
    seen: dict[str, None] = {}
    for url in urls:
        original = original_image_url(unescape(url or ""))
        if original:
            seen.setdefault(original, None)
    return list(seen)


def text_excerpt(html_or_text: str, limit: int = 40) -> str:
    text = _SPACE.sub(" ", unescape(_TAG.sub(" ", html_or_text or ""))).strip()
    return text[:limit]
