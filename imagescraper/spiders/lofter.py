"""`scrapy crawl lofter -a domain=NAME`: every original image of a LOFTER blog, one folder per post.

The spider only decides what to fetch next; what a page or an API answer means is decided by
the pure parsers in ``imagescraper.lofter``, and the exact form of every API call is in
``imagescraper.lofter.forms``. What to read:

- a blog (``-a domain=NAME``), one post (a post link), a tag (``-a tag=NAME`` or a tag link),
  a collection (``-a collection=ID`` or its link), or the logged-in user's likes or shares;
- blogs through ``-a source=``: ``api`` (the app API, paged by the server's cursor), ``html``
  (theme pages ``?page=N``) or ``auto`` (the API, falling back to the pages when the API fails
  for a reason other than "no such blog" or "login needed").

Every post listed ends in exactly one counted outcome: its images (or video) queued, skipped
with a reason, or an error line.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from scrapy import FormRequest, Request

from imagescraper.lofter import forms
from imagescraper.lofter.addresses import (
    BlogUrls,
    CollectionTarget,
    LikesTarget,
    PostTarget,
    TagTarget,
    check_collection,
    check_ranking,
    check_tag,
)
from imagescraper.lofter.api import (
    LOGIN_NEEDED,
    NOT_FOUND,
    LofterApiError,
    cursor_cut,
    next_cursor,
    parse_envelope,
    parse_post_detail,
    parse_post_list,
)
from imagescraper.lofter.html import is_login_shell, parse_list_page, parse_post_page
from imagescraper.signals import store_opened
from imagescraper.spiders.base import ImageSpider, parse_bool
from imagescraper.spiders.lofter_feeds import LofterFeeds
from imagescraper.spiders.lofter_outcomes import PostOutcomes
from imagescraper.startup_errors import InputError

PAGE_SLOT = "lofter-pages"
DEFAULT_MAX_PAGES = 160
SOURCES = ("auto", "api", "html")
# Which value to copy depends on how the user logs in (IshtarTang's README, research/lofter.md 8).
LOGIN_HINT = (
    "copy from your browser the cookie of your way of logging in: LOFTER_SESS (QQ, WeChat or Weibo), NTES_SESS "
    "(NetEase e-mail), LOFTER-PHONE-LOGIN-AUTH (phone number) or Authorization (LOFTER id), and pass it as "
    "-s IMAGESCRAPER_LOFTER_COOKIES='NAME=VALUE'; for the app API pass the phone or LOFTER-id value as "
    "-s IMAGESCRAPER_LOFTER_LOGIN_HEADER='lofter-phone-login-auth: VALUE' or 'Authorization: VALUE'"
)


def _positive_int(name: str, value) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if number < 1:
        raise InputError(f"argument {name}={value!r} is not a whole number from 1 up: pass e.g. -a {name}=1")
    return number


class LofterSpider(LofterFeeds, PostOutcomes, ImageSpider):
    """Arguments: ``domain`` (blog name, blog address, post, tag or collection link), ``tag``,
    ``ranking``, ``collection``, ``likes``, ``shares``, ``start_page`` (default 1), ``max_pages``
    (default 160), ``source`` (auto, api or html), ``videos``, ``new_only``, ``replace``."""

    name = "lofter"
    arguments = (
        "domain",
        "tag",
        "ranking",
        "collection",
        "likes",
        "shares",
        "start_page",
        "max_pages",
        "source",
        "videos",
        "new_only",
        "replace",
    )

    def __init__(
        self,
        domain=None,
        tag=None,
        ranking=None,
        collection=None,
        likes="false",
        shares="false",
        start_page="1",
        max_pages=str(DEFAULT_MAX_PAGES),
        source="auto",
        videos="false",
        new_only="false",
        replace="false",
        **kwargs,
    ):
        super().__init__(replace=replace, **kwargs)
        self.domain = domain
        self.start_page = _positive_int("start_page", start_page)
        self.max_pages = _positive_int("max_pages", max_pages)
        self.source = str(source).strip().lower()
        if self.source not in SOURCES:
            raise InputError(f"argument source={source!r} is not one of auto, api, html")
        self.videos = parse_bool("videos", videos)
        self.new_only = parse_bool("new_only", new_only)
        chosen = {
            "domain": domain,
            "tag": tag,
            "collection": collection,
            "likes": parse_bool("likes", likes) or None,
            "shares": parse_bool("shares", shares) or None,
        }
        given = [name for name, value in chosen.items() if value not in (None, "")]
        if len(given) > 1:
            raise InputError(f"arguments {' and '.join(given)} were both given: pass only one of them")
        if ranking is not None and tag is None:
            raise InputError("argument ranking= only goes with -a tag=NAME")
        self._tag = TagTarget(check_tag(tag), check_ranking(ranking or "new")) if tag is not None else None
        self._collection = CollectionTarget(check_collection(collection)) if collection is not None else None
        self._likes = (
            LikesTarget("favorites" if chosen["likes"] else "shares") if given in (["likes"], ["shares"]) else None
        )
        self._seen_images: set[int] = set()
        self._done_posts: set[int] = set()
        self._outcomes = {"queued": 0, "skipped": 0, "errors": 0}
        self._store = None  # the run's ImageStore, once the pipeline has opened it

    def _store_opened(self, store):
        self._store = store

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._store_opened, signal=store_opened)
        config = spider.config
        spider.urls = BlogUrls(config.lofter_blog_url)
        spider.target = spider._tag or spider._collection or spider._likes or spider.urls.parse_target(spider.domain)
        if isinstance(spider.target, LikesTarget) and config.lofter_login_header is None:
            what = "likes" if spider.target.method == "favorites" else "shares"
            raise InputError(
                f"-a {what}=true reads your own {what}, which needs your login: pass the app's header with "
                "-s IMAGESCRAPER_LOFTER_LOGIN_HEADER='lofter-phone-login-auth: ...' (or 'Authorization: ...')"
            )
        if spider.source == "html" and isinstance(spider.target, (TagTarget, CollectionTarget, LikesTarget)):
            raise InputError("tags, collections, likes and shares are read through the API: leave out -a source=html")
        spider.api = config.lofter_api_url
        spider.cookies = config.lofter_cookies
        headers = {"User-Agent": config.lofter_user_agent, "Referer": config.lofter_referer}
        if config.lofter_login_header:
            headers[config.lofter_login_header[0]] = config.lofter_login_header[1]
        spider.lofter_headers = {name: value for name, value in headers.items() if value}
        return spider

    def describe_run(self) -> str:
        """What the run reads, and the arguments that change how: for the line that starts a run."""
        target = self.target
        if isinstance(target, PostTarget):
            what = f"on post {self.urls.post(target.blog, target.permalink)}"
        elif isinstance(target, TagTarget):
            what = f"on tag {target.tag!r} (ranking {target.ranking})"
        elif isinstance(target, CollectionTarget):
            what = f"on collection {target.collection_id}"
        elif isinstance(target, LikesTarget):
            what = "for your likes" if target.method == "favorites" else "for your shares"
        else:
            what = f"on blog {target.blog!r}"
        options = []
        if not isinstance(target, PostTarget):  # one post has no pages
            options += [f"start_page={self.start_page}"] if self.start_page != 1 else []
            options += [f"max_pages={self.max_pages}"] if self.max_pages != DEFAULT_MAX_PAGES else []
        options += [f"source={self.source}"] if self.source != "auto" else []
        options += [f"{name}=true" for name in ("videos", "new_only", "replace") if getattr(self, name)]
        return what + (f" with {', '.join(options)}" if options else "")

    def login_hosts(self, netloc: str) -> bool:
        """Where the login header may go: blog hosts, the www host and the API host."""
        netloc = netloc.lower()
        return netloc in (self.urls.www_host, urlsplit(self.api).netloc.lower()) or bool(self.urls.blog_of_host(netloc))

    # -- requests ---------------------------------------------------------------------------------
    def _page_request(self, url: str, callback, **meta) -> Request:
        return Request(
            url,
            callback=callback,
            headers=self.lofter_headers,
            cookies=self.cookies,
            errback=self._page_failed,
            meta={"download_slot": PAGE_SLOT, "handle_httpstatus_list": [404, 410], **meta},
        )

    def _api_request(self, path: str, form: dict, callback, **meta) -> FormRequest:
        return FormRequest(
            f"{self.api}{path}{forms.query(path)}",
            formdata=form,
            callback=callback,
            headers=self.lofter_headers,
            cookies=self.cookies,
            errback=self._api_failed,
            meta={"download_slot": PAGE_SLOT, **meta},
        )

    def _api_list(self, blog: str, page: int, offset: int) -> FormRequest:
        form = forms.blog_list_form(blog, offset, self.config.lofter_posts_per_page)
        return self._api_request(forms.BLOG_LIST, form, self.parse_api_list, blog=blog, page=page, offset=offset)

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
                form = forms.post_detail_form(target.blog_id, target.post_id)
                yield self._api_request(forms.POST_DETAIL, form, self.parse_api_post, target=target)
        elif isinstance(target, TagTarget):
            yield self._tag_request(1, 0)
        elif isinstance(target, CollectionTarget):
            yield self._collection_request(1, 0)
        elif isinstance(target, LikesTarget):
            yield self._likes_request(1, 0)
        elif self.source == "html":
            yield self._list_page(target.blog, self.start_page)
        else:
            # Only the first call's offset is ours to choose; the server's cursor leads after that.
            offset = (self.start_page - 1) * self.config.lofter_posts_per_page
            yield self._api_list(target.blog, self.start_page, offset)

    def _last_page(self, page: int) -> bool:
        return page - self.start_page + 1 >= self.max_pages

    # -- the app API ------------------------------------------------------------------------------
    def parse_api_list(self, response):
        blog, page, offset = response.meta["blog"], response.meta["page"], response.meta["offset"]
        try:
            posts, cursor = parse_post_list(parse_envelope(response.body))
        except LofterApiError as exc:
            yield from self._api_gave_up(exc, f"blog {blog!r}", self._list_page(blog, self.start_page))
            return
        if not posts and page == self.start_page:
            self._skip("empty-blogs", "Blog %r has no public posts", blog)
        more = next_cursor(offset, len(posts), cursor)
        if more is None and (cut := cursor_cut(offset, len(posts), cursor)):
            self._stopped_by_cursor(f"Blog {blog!r}", cut)
        yield from self._listed(posts, blog, page, more, f"Blog {blog!r}")
        if more is not None and not self._last_page(page) and not self._nothing_new(posts, page):
            yield self._api_list(blog, page + 1, more)

    def parse_api_post(self, response):
        target: PostTarget = response.meta["target"]
        try:
            post = parse_post_detail(parse_envelope(response.body))
        except LofterApiError as exc:
            fallback = self._list_page(target.blog, 1, then_post=target)
            yield from self._api_gave_up(exc, f"post {self.urls.post(target.blog, target.permalink)}", fallback)
            return
        yield from self._items(post, target.blog)

    def _api_gave_up(self, exc: LofterApiError, what: str, fallback: Request | None):
        if exc.status == NOT_FOUND:
            # An answer about the blog, not a failure: the theme pages would only show the login wall.
            self._error("not-found", "LOFTER: %s does not exist or is not visible (API status 4200)", what)
        elif exc.status == LOGIN_NEEDED:
            self._error("login-required", "LOFTER: %s needs a login (API status 401): %s", what, LOGIN_HINT)
        elif self.source == "auto" and fallback is not None:
            self.logger.info("LOFTER API could not give %s (%s); reading the blog's pages instead", what, exc)
            yield fallback
        else:
            self._error("api-error", "LOFTER API failed for %s: %s", what, exc)

    def _api_failed(self, failure):
        request = failure.request
        target = request.meta.get("target")
        if target is not None:
            fallback = self._list_page(target.blog, 1, then_post=target)
        elif "blog" in request.meta:
            fallback = self._list_page(request.meta["blog"], self.start_page)
        else:
            fallback = None
        what = request.url.split("?")[0]
        yield from self._api_gave_up(LofterApiError("request", str(failure.value)), what, fallback)

    # -- theme pages ------------------------------------------------------------------------------
    def parse_list(self, response):
        blog, page = response.meta["blog"], response.meta["page"]
        then_post: PostTarget | None = response.meta.get("then_post")
        if response.meta.get("peek"):
            self._peeked(response, blog, page)
            return
        if response.status in (404, 410):
            if page == self.start_page or then_post:
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
            if page == self.start_page:
                self._skip("empty-blogs", "Blog %r has no posts", blog)
            else:
                self.logger.info("Page %d of blog %r has no posts: end of the blog", page, blog)
            return
        for url in listing.post_urls:
            yield self._page_request(url, self.parse_post, blog=blog, nickname=listing.nickname)
        if not self._last_page(page):
            yield self._list_page(blog, page + 1)
        else:
            # Theme pages do not say whether another follows: look at the next one, read nothing of it.
            next_page = self._list_page(blog, page + 1)
            next_page.meta["peek"] = True
            yield next_page

    def _peeked(self, response, blog: str, page: int):
        """The page after the last one allowed: the limit is said only if it holds posts."""
        if response.status == 200 and not is_login_shell(response.selector):
            if parse_list_page(response.text, response.url).post_urls:
                self._stopped_at_limit(f"Blog {blog!r}", page - 1)

    def parse_post(self, response):
        blog = response.meta["blog"]
        if response.status in (404, 410):
            self._post_skipped("deleted-posts", "Post %s is gone (HTTP %d): deleted", response.url, response.status)
            return
        if self._login_wall(response, post=True):
            return
        post = parse_post_page(response.text, response.url, blog=blog, nickname=response.meta.get("nickname", ""))
        if post.kind == "text" and not post.images and response.xpath("//video | //embed"):
            post.kind = "video"
            source = response.xpath("//video/@src | //video/source/@src").get()
            post.video = response.urljoin(source) if source else None
        yield from self._items(post, blog)

    def _login_wall(self, response, *, post: bool = False) -> bool:
        if "/front/login" in response.url or is_login_shell(response.selector):
            asked = response.request.meta.get("redirect_urls", [response.url])[0]
            if post:
                self._outcomes["errors"] += 1
            self._error(
                "login-required",
                "LOFTER asks for a login for %s (a private post, or the login wall): %s",
                asked,
                LOGIN_HINT,
            )
            return True
        return False

    def _page_failed(self, failure):
        if failure.request.callback == self.parse_post:
            self._outcomes["errors"] += 1
        self._error("page-failed", "Could not fetch %s: %s", failure.request.url, failure.value)
