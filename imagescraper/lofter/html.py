"""Parsing LOFTER theme pages: list pages (``/?page=N``) and post pages.

Blogs pick from hundreds of themes, so nothing here depends on a theme's class names. Posts
are found by the permalink shape of their links (``/post/<hex>_<hex>``) on the blog's own host;
images by the ``bigimgsrc`` attribute of photo posts and ``<img src>`` on LOFTER's image hosts,
in document order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from parsel import Selector

from imagescraper.lofter.addresses import PERMALINK, decode_permalink
from imagescraper.lofter.post import LofterPost, collect_originals, text_excerpt

# The logged-out app shell LOFTER has served instead of blog pages since 2024.
LOGIN_SHELL_TITLE = "LOFTER（乐乎）"
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class ListPage:
    post_urls: list[str]  # this blog's posts on the page, in page order
    nickname: str
    login_shell: bool


def _title(selector: Selector) -> str:
    return _SPACE.sub(" ", selector.xpath("string(//head/title)").get() or "").strip()


def is_login_shell(selector: Selector) -> bool:
    no_blog_frame = not selector.xpath('//iframe[@id="control_frame"]')
    return no_blog_frame and (
        _title(selector).startswith(LOGIN_SHELL_TITLE) or bool(selector.xpath('//div[@id="root"]'))
    )


def parse_list_page(html: str, page_url: str) -> ListPage:
    selector = Selector(text=html)
    blog_host = urlsplit(page_url).netloc.lower()
    found: dict[str, None] = {}
    for href in selector.xpath("//a/@href").getall():
        url = urljoin(page_url, href.strip())
        parts = urlsplit(url)
        match = PERMALINK.search(parts.path)
        if match and parts.netloc.lower() == blog_host:  # reblogs point at other blogs' hosts
            found.setdefault(f"{parts.scheme}://{parts.netloc}/post/{match[1]}_{match[2]}", None)
    return ListPage(list(found), _title(selector), is_login_shell(selector))


def parse_post_page(html: str, post_url: str, *, blog: str, nickname: str = "") -> LofterPost:
    """A post page: ``<title>`` is ``<title or excerpt>-<nickname>``; tags are in the Keywords meta."""
    selector = Selector(text=html)
    permalink = PERMALINK.search(urlsplit(post_url).path)
    blog_id, post_id = decode_permalink(f"{permalink[1]}_{permalink[2]}")
    head_title = _title(selector)
    suffix = f"-{_SPACE.sub(' ', nickname).strip()}" if nickname else ""
    if suffix and head_title.endswith(suffix):
        head_title = head_title[: -len(suffix)].strip()
    keywords = selector.xpath('//meta[translate(@name, "KEYWORDS", "keywords")="keywords"]/@content').get() or ""
    description = selector.xpath('//meta[translate(@name, "DESCRIPTION", "description")="description"]/@content')
    sources = []
    for node in selector.xpath("//*[@bigimgsrc] | //img[@src]"):
        sources.append(node.attrib.get("bigimgsrc") or node.attrib.get("src"))
    images, alternates = collect_originals(sources)
    return LofterPost(
        blog=blog,
        post_id=post_id,
        permalink=f"{blog_id:x}_{post_id:x}",
        url=post_url,
        kind="photo" if selector.xpath("//*[@bigimgsrc]") else "text",
        title=head_title,
        excerpt=text_excerpt(description.get() or ""),
        tags=[tag.strip() for tag in keywords.split(",") if tag.strip()],
        images=images,
        alternates=alternates,
    )
