"""Parsing LOFTER's app API (``api.lofter.com``), which serves public posts without a login.

Blog, post, collection and likes answers are HTTP 200 with an envelope ``{"meta": {"status": N,
"msg": ...}, "response": ...}``: 200 is success, 4200 means the blog or post does not exist or
is not visible, 401 that a login is needed. The tag API answers ``{"code": 0, "data": ...}``.
Field shapes vary between answers (``photoLinks`` as a JSON string or a list, ``tag`` as a
comma string or ``tagList``), so every reader here accepts both.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timedelta, timezone

from parsel import Selector

from imagescraper.lofter.post import LofterPost, collect_originals, text_excerpt

NOT_FOUND = 4200
LOGIN_NEEDED = 401
KINDS = {1: "text", 2: "photo", 3: "music", 4: "video", 5: "answer", 6: "article"}
# Where a video post's file may be named in its ``embed``, best first (lftr's order).
VIDEO_KEYS = ("originUrl", "video_down_url", "flashurl", "ext", "h265Url", "hlsUrl")
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


def parse_data_envelope(body: bytes | str) -> dict:
    """The ``{"code": 0, "data": ...}`` envelope of the newer endpoints (tags)."""
    try:
        document = json.loads(body)
        code = document["code"]
    except (ValueError, KeyError, TypeError):
        raise LofterApiError("invalid", "the answer is not LOFTER API JSON") from None
    if code != 0:
        status = LOGIN_NEEDED if code == 401 else code
        raise LofterApiError(status, str(document.get("msg") or document.get("message") or ""))
    data = document.get("data")
    return data if isinstance(data, dict) else {}


def next_cursor(sent_offset: int, returned: int, answer_offset) -> int | None:
    """Where the next listing call starts, from the server's cursor, or None at the end.

    As gallery-dl does: stop when the cursor is below 0, or when it jumped further than the
    posts this answer returned (posts would be skipped unseen). A cursor that does not move
    forward ends the listing too, instead of asking for the same page forever.
    """
    if not isinstance(answer_offset, int) or isinstance(answer_offset, bool) or answer_offset < 0:
        return None
    if returned == 0 or answer_offset > sent_offset + returned or answer_offset <= sent_offset:
        return None
    return answer_offset


def cursor_cut(sent_offset: int, returned: int, answer_offset) -> str | None:
    """Why a listing ended with the server's cursor still pointing on, or None for a plain end.

    A cursor below 0 is LOFTER's "no more". A jump past the posts returned, or a cursor that does
    not move, ends the listing as working clients end it, but posts may be left unseen: the
    run must say so.
    """
    if not isinstance(answer_offset, int) or isinstance(answer_offset, bool) or answer_offset < 0:
        return None
    if returned and answer_offset > sent_offset + returned:
        return f"LOFTER's cursor jumped from {sent_offset} to {answer_offset} after {returned} post(s)"
    if returned and answer_offset <= sent_offset:
        return f"LOFTER's cursor did not move on from {sent_offset}"
    return None


def _entries(items) -> list[dict]:
    return [entry.get("post", entry) for entry in items or [] if isinstance(entry, dict)]


def parse_post_list(response: dict) -> tuple[list[LofterPost], object]:
    """Posts of one blog listing call, and the cursor the server gave (see :func:`next_cursor`)."""
    return [post_from_api(entry) for entry in _entries(response.get("posts"))], response.get("offset")


def parse_post_detail(response: dict) -> LofterPost:
    posts = _entries(response.get("posts"))
    if not posts:
        raise LofterApiError(NOT_FOUND, "the post is not in the answer")
    return post_from_api(posts[0])


def parse_tag_page(data: dict) -> tuple[list[LofterPost], object]:
    """``tagPosts.json``: ``data.list[]`` of ``{blogInfo, postData: {postView}}`` and ``data.offset``."""
    posts = []
    for entry in data.get("list") or []:
        if not isinstance(entry, dict):
            continue
        view = (entry.get("postData") or {}).get("postView") or entry.get("postView")
        if isinstance(view, dict):
            posts.append(post_from_api(_from_post_view(view, entry.get("blogInfo") or {})))
    return posts, data.get("offset")


def parse_collection_page(response: dict) -> tuple[list[LofterPost], int | None]:
    """``getCollectionDetail``: ``response.items`` in collection order, and ``collection.postCount``."""
    total = (response.get("collection") or {}).get("postCount")
    return [post_from_api(entry) for entry in _entries(response.get("items"))], total if isinstance(
        total, int
    ) else None


def parse_liked_page(response: dict) -> tuple[list[LofterPost], object]:
    """``batchdata.api`` favorites/shares: ``response.items`` (or ``posts``) and ``response.offset``."""
    entries = _entries(response.get("items") or response.get("posts"))
    return [post_from_api(entry) for entry in entries], response.get("offset")


def _from_post_view(view: dict, blog_info: dict) -> dict:
    """A tag answer's ``postView`` in the shape of a blog listing's post."""
    post = dict(view)
    post.setdefault("blogInfo", blog_info)
    photo = view.get("photoPostView") or {}
    if "photoLinks" not in post and photo.get("photoLinks") is not None:
        post["photoLinks"] = photo["photoLinks"]
    text = view.get("textPostView") or {}
    if not post.get("content"):
        post["content"] = text.get("content") or photo.get("caption") or ""
    video = view.get("videoPostView") or {}
    if "embed" not in post and video.get("videoInfo"):
        post["embed"] = video["videoInfo"]
    return post


def _json_value(value, kind: type):
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else kind()
        except ValueError:
            return kind()
    return value if isinstance(value, kind) else kind()


def _link_sources(links) -> list[str]:
    """Each image of ``photoLinks``-like lists: ``raw``, else ``orign``, else ``middle``."""
    return [
        link.get("raw") or link.get("orign") or link.get("middle") or ""
        for link in _json_value(links, list)
        if isinstance(link, dict)
    ]


def _tags(post: dict) -> list[str]:
    tags = post.get("tagList")
    if not isinstance(tags, list):
        tags = post.get("tag")
    if isinstance(tags, str):
        tags = tags.split(",")
    return [str(tag).strip() for tag in tags or [] if str(tag).strip()]


def video_url(embed) -> str | None:
    """A video post's file: ``originUrl``, then the fallbacks; ``ext`` is base64 of a URL."""
    embed = _json_value(embed, dict)
    for key in VIDEO_KEYS:
        value = embed.get(key)
        if not isinstance(value, str) or not value.strip():
            continue
        value = value.strip()
        if key == "ext" and not value.startswith("http"):
            try:
                value = base64.b64decode(value, validate=True).decode("utf-8").strip()
            except (binascii.Error, UnicodeDecodeError):
                continue
        if value.startswith(("http://", "https://")):
            return value
    return None


def post_from_api(post: dict) -> LofterPost:
    kind = KINDS.get(post.get("type"), "other")
    blog_info = post.get("blogInfo") or {}
    post_id, blog_id = int(post["id"]), int(post["blogId"])
    content = post.get("content") or ""
    sources = _link_sources(post.get("photoLinks"))
    if kind == "photo" and not sources and post.get("firstImageUrl"):
        sources.append(str(post["firstImageUrl"]))
    sources += _link_sources(post.get("images"))  # answer posts
    bonus = _json_value(post.get("returnContent"), list)
    if bonus and isinstance(bonus[0], dict):
        sources += [image if isinstance(image, str) else "" for image in _json_value(bonus[0].get("images"), list)]
        sources += _link_sources(bonus[0].get("images"))
    images, alternates = collect_originals(sources, any_host=False)
    # The author's own <img> in the text may be on any host; the address guard still applies.
    inline, inline_alternates = collect_originals(_img_sources(content), any_host=True)
    images += [url for url in inline if url not in images]
    alternates = {**inline_alternates, **alternates}
    published = post.get("publishTime")
    blog_url = str(post.get("blogPageUrl") or "")
    return LofterPost(
        blog=str(blog_info.get("blogName") or ""),
        post_id=post_id,
        permalink=f"{blog_id:x}_{post_id:x}",
        url=blog_url,
        kind=kind,
        title=text_excerpt(post.get("title") or post.get("noticeLinkTitle") or "", limit=200),
        excerpt=text_excerpt(post.get("digest") or content),
        tags=_tags(post),
        published=datetime.fromtimestamp(published / 1000, _CHINA).isoformat() if isinstance(published, int) else None,
        images=images,
        alternates=alternates,
        video=video_url(post.get("embed")) if kind == "video" else None,
        pinned=bool(post.get("top") or post.get("isTop")),
    )


def _img_sources(content: str) -> list[str]:
    return Selector(text=content or "<p></p>").xpath("//img/@src").getall()
