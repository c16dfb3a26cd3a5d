"""`scrapy crawl lofter -a domain=NAME`: every original image of a LOFTER blog, one folder per post.

The spider only decides what to fetch next; what a page or an API answer means is decided by
the pure parsers in ``imagescraper.lofter``. Two sources, chosen with ``-a source=``:

- ``api``: the app JSON API, which works without a login (listing with offset paging; the
  detail call for one post);
- ``html``: the theme pages, ``?page=N`` until a page has no post of this blog;
- ``auto`` (default): the API, falling back to the pages when the API fails.
"""

from __future__ import annotations

from scrapy import FormRequest, Request

from imagescraper import runstats
from imagescraper.errors import InputError
from imagescraper.identity import canonical_url, url_fingerprint
from imagescraper.items import ImageItem
from imagescraper.lofter.addresses import BlogUrls, PostTarget
from imagescraper.lofter.api import NOT_FOUND, LofterApiError, parse_envelope, parse_post_detail, parse_post_list
from imagescraper.lofter.html import is_login_shell, parse_list_page, parse_post_page
from imagescraper.lofter.post import LofterPost
from imagescraper.spiders.base import ImageSpider

API_PRODUCT = "lofter-android-7.9.10"
PAGE_SLOT = "lofter-pages"
SOURCES = ("auto", "api", "html")


def _positive_int(name: str, value) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if number < 1:
        raise InputError(f"argument {name}={value!r} is not a whole number from 1 up: pass e.g. -a {name}=1")
    return number


class LofterSpider(ImageSpider):
    """Arguments: ``domain`` (blog name, blog address or post link; required), ``start_page``
    (default 1), ``max_pages`` (default 160), ``source`` (auto, api or html), ``replace``."""

    name = "lofter"
    arguments = ("domain", "start_page", "max_pages", "source", "replace")

    def __init__(self, domain=None, start_page="1", max_pages="160", source="auto", replace="false", **kwargs):
        super().__init__(replace=replace, **kwargs)
        self.domain = domain
        self.start_page = _positive_int("start_page", start_page)
        self.max_pages = _positive_int("max_pages", max_pages)
        self.source = str(source).strip().lower()
        if self.source not in SOURCES:
            raise InputError(f"argument source={source!r} is not one of auto, api, html")
        self._seen_images: set[int] = set()

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.urls = BlogUrls(spider.config.lofter_blog_url)
        spider.target = spider.urls.parse_target(spider.domain)
        spider.api = spider.config.lofter_api_url
        spider.cookies = spider.config.lofter_cookies
        return spider

    # -- counting what happens to pages and posts ------------------------------------------------
    def _error(self, reason: str, message: str, *args):
        """Something that may hide images from us: counted, and the run's exit status is 1."""
        self.logger.error(message, *args)
        runstats.count(self.crawler.stats, runstats.ERRORS, reason)

    def _skip(self, what: str, message: str, *args):
        """Something with no image to fetch (a deleted post, a video): counted, not an error."""
        self.logger.info(message, *args)
        runstats.skipped(self.crawler.stats, what)

    # -- requests ---------------------------------------------------------------------------------
    def _page_request(self, url: str, callback, **meta) -> Request:
        return Request(
            url,
            callback=callback,
            cookies=self.cookies,
            errback=self._page_failed,
            meta={"download_slot": PAGE_SLOT, "handle_httpstatus_list": [404, 410], **meta},
        )

    def _api_request(self, path: str, form: dict, callback, **meta) -> FormRequest:
        return FormRequest(
            f"{self.api}{path}?product={API_PRODUCT}",
            formdata=form,
            callback=callback,
            cookies=self.cookies,
            errback=self._api_failed,
            meta={"download_slot": PAGE_SLOT, **meta},
        )

    def _api_list(self, blog: str, page: int) -> FormRequest:
        per_page = self.config.lofter_posts_per_page
        form = {
            "method": "getPostLists",
            "offset": str((page - 1) * per_page),
            "limit": str(per_page),
            "blogdomain": self.urls.host(blog).split(":")[0],
        }
        return self._api_request("/v2.0/blogHomePage.api", form, self.parse_api_list, blog=blog, page=page)

    def _list_page(self, blog: str, page: int, *, then_post: PostTarget | None = None) -> Request:
        return self._page_request(
            self.urls.page(blog, page), self.parse_list, blog=blog, page=page, then_post=then_post
        )

    async def start(self):
        target = self.target
        if isinstance(target, PostTarget):
            if self.source == "html":
                yield self._list_page(target.blog, 1, then_post=target)  # the home page gives the nickname
            else:
                form = {"targetblogid": str(target.blog_id), "postid": str(target.post_id), "blogdomain": target.blog}
                yield self._api_request("/oldapi/post/detail.api", form, self.parse_api_post, target=target)
        elif self.source == "html":
            yield self._list_page(target.blog, self.start_page)
        else:
            yield self._api_list(target.blog, self.start_page)

    def _pages_left(self, page: int) -> bool:
        return page - self.start_page + 1 < self.max_pages

    # -- the app API ------------------------------------------------------------------------------
    def parse_api_list(self, response):
        blog, page = response.meta["blog"], response.meta["page"]
        try:
            posts, next_offset = parse_post_list(parse_envelope(response.body))
        except LofterApiError as exc:
            yield from self._api_gave_up(exc, f"the post list of blog {blog!r}", self._list_page(blog, page))
            return
        if not posts and page == 1:
            self._skip("empty-blogs", "Blog %r has no public posts", blog)
        for post in posts:
            yield from self._items(post, blog)
        if next_offset is not None and self._pages_left(page):
            yield self._api_list(blog, page + 1)

    def parse_api_post(self, response):
        target: PostTarget = response.meta["target"]
        try:
            post = parse_post_detail(parse_envelope(response.body))
        except LofterApiError as exc:
            fallback = self._list_page(target.blog, 1, then_post=target)
            yield from self._api_gave_up(exc, f"post {self.urls.post(target.blog, target.permalink)}", fallback)
            return
        yield from self._items(post, target.blog)

    def _api_gave_up(self, exc: LofterApiError, what: str, fallback: Request):
        if self.source == "auto":
            self.logger.info("LOFTER API could not give %s (%s); reading the blog's pages instead", what, exc)
            yield fallback
        elif exc.status == NOT_FOUND:
            self._error("not-found", "LOFTER API: %s does not exist or is not visible (status 4200)", what)
        else:
            self._error("api-error", "LOFTER API failed for %s: %s", what, exc)

    def _api_failed(self, failure):
        request = failure.request
        target = request.meta.get("target")
        if target is not None:
            fallback = self._list_page(target.blog, 1, then_post=target)
        else:
            fallback = self._list_page(request.meta["blog"], request.meta["page"])
        yield from self._api_gave_up(LofterApiError("request", str(failure.value)), request.url, fallback)

    # -- theme pages ------------------------------------------------------------------------------
    def parse_list(self, response):
        blog, page = response.meta["blog"], response.meta["page"]
        then_post: PostTarget | None = response.meta.get("then_post")
        if response.status in (404, 410):
            if page == 1 or then_post:
                self._error("not-found", "Blog %r does not exist (HTTP %d for %s)", blog, response.status, response.url)
            else:
                self.logger.info("Page %d of blog %r answered HTTP %d: end of the blog", page, blog, response.status)
            return
        if self._login_wall(response):
            return
        listing = parse_list_page(response.text, response.url)
        if then_post is not None:
            post_url = self.urls.post(blog, then_post.permalink)
            yield self._page_request(post_url, self.parse_post, blog=blog, nickname=listing.nickname)
            return
        if not listing.post_urls:
            if page == 1:
                self._skip("empty-blogs", "Blog %r has no posts", blog)
            else:
                self.logger.info("Page %d of blog %r has no posts: end of the blog", page, blog)
            return
        for url in listing.post_urls:
            yield self._page_request(url, self.parse_post, blog=blog, nickname=listing.nickname)
        if self._pages_left(page):
            yield self._list_page(blog, page + 1)

    def parse_post(self, response):
        blog = response.meta["blog"]
        if response.status in (404, 410):
            self._skip("deleted-posts", "Post %s is gone (HTTP %d): deleted", response.url, response.status)
            return
        if self._login_wall(response):
            return
        post = parse_post_page(response.text, response.url, blog=blog, nickname=response.meta.get("nickname", ""))
        if post.kind == "text" and not post.images and response.xpath("//video | //embed"):
            post.kind = "video"
        yield from self._items(post, blog)

    def _login_wall(self, response) -> bool:
        if "/front/login" in response.url or is_login_shell(response.selector):
            asked = response.request.meta.get("redirect_urls", [response.url])[0]
            self._error(
                "login-required",
                "LOFTER asks for a login for %s (a private post, or the login wall): pass your browser's cookies "
                "with -s IMAGESCRAPER_LOFTER_COOKIES='LOFTER_SESS=...'",
                asked,
            )
            return True
        return False

    def _page_failed(self, failure):
        self._error("page-failed", "Could not fetch %s: %s", failure.request.url, failure.value)

    # -- items --------------------------------------------------------------------------------------
    def _items(self, post: LofterPost, blog: str):
        url = post.url or self.urls.post(blog, post.permalink)
        if post.kind == "video":
            self._skip("video-posts", "Post %s is a video post: skipped (videos are not downloaded)", url)
            return
        if not post.images:
            self._skip("posts-without-images", "Post %s has no images", url)
            return
        fresh = []
        for image in post.images:
            fingerprint = url_fingerprint(canonical_url(image))
            if fingerprint in self._seen_images:
                runstats.skipped(self.crawler.stats, "duplicate-urls")
            else:
                self._seen_images.add(fingerprint)
                fresh.append(image)
        if not fresh:
            return
        self.crawler.stats.inc_value(runstats.QUEUED, len(fresh))
        yield ImageItem(
            image_urls=fresh,
            post_title=post.folder_title,
            post_id=str(post.post_id),
            post_excerpt=post.excerpt,
            blog_name=post.blog or blog,
            referer=url,
            extra={"post_url": url, "post_title": post.title, "tags": post.tags, "published": post.published},
        )
