"""Parsing LOFTER's app API (``api.lofter.com``), which serves public posts without a login.

Every answer is HTTP 200 with an envelope ``{"meta": {"status": N, "msg": ...}, "response": ...}``;
``meta.status`` 200 is success, 4200 means the blog or post is unknown or not visible.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from parsel import Selector

from imagescraper.lofter.post import LofterPost, originals_in_order, text_excerpt

NOT_FOUND = 4200
KINDS = {1: "text", 2: "photo", 3: "music", 4: "video", 5: "answer", 6: "article"}
_CHINA = timezone(timedelta(hours=8))


class LofterApiError(Exception):
    def __init__(self, status, message: str):
        super().__init__(f"LOFTER API error {status}: {message or 'no message'}")
        self.status = status
        self.message = message


def parse_envelope(body: bytes | str):
    try:
        document = json.loads(body)
        meta = document["meta"]
        status = meta.get("status")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise LofterApiError("invalid", "the answer is not LOFTER API JSON") from None
    if status != 200:
        raise LofterApiError(status, str(meta.get("msg") or ""))
    return document.get("response") or {}


def parse_post_list(response: dict) -> tuple[list[LofterPost], int | None]:
    """Posts of one listing call, and the offset of the next call (None at the end)."""
    posts = [post_from_api(entry.get("post", entry)) for entry in response.get("posts") or []]
    offset = response.get("offset")
    next_offset = offset if isinstance(offset, int) and offset >= 0 and posts else None
    return posts, next_offset


def parse_post_detail(response: dict) -> LofterPost:
    posts = response.get("posts") or []
    if not posts:
        raise LofterApiError(NOT_FOUND, "the post is not in the answer")
    first = posts[0]
    return post_from_api(first.get("post", first))


def _json_list(value):
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError:
            return []
    return value if isinstance(value, list) else []


def post_from_api(post: dict) -> LofterPost:
    kind = KINDS.get(post.get("type"), "other")
    blog_info = post.get("blogInfo") or {}
    post_id, blog_id = int(post["id"]), int(post["blogId"])
    content = post.get("content") or ""
    if kind == "photo":
        links = _json_list(post.get("photoLinks"))
        sources = [
            link.get("raw") or link.get("orign") or link.get("middle") for link in links if isinstance(link, dict)
        ]
    elif kind == "answer":
        sources = [
            image.get("raw") or image.get("orign")
            for image in _json_list(post.get("images"))
            if isinstance(image, dict)
        ]
        sources += _img_sources(content)
    else:
        sources = _img_sources(content)
    published = post.get("publishTime")
    return LofterPost(
        blog=str(blog_info.get("blogName") or ""),
        post_id=post_id,
        permalink=f"{blog_id:x}_{post_id:x}",
        url=str(post.get("blogPageUrl") or ""),
        kind=kind,
        title=text_excerpt(post.get("title") or post.get("noticeLinkTitle") or "", limit=200),
        excerpt=text_excerpt(post.get("digest") or content),
        tags=[tag.strip() for tag in str(post.get("tag") or "").split(",") if tag.strip()],
        published=datetime.fromtimestamp(published / 1000, _CHINA).isoformat() if isinstance(published, int) else None,
        images=[] if kind == "video" else originals_in_order(sources),
    )


def _img_sources(content: str) -> list[str]:
    return Selector(text=content or "<p></p>").xpath("//img/@src").getall()
