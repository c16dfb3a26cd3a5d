"""The lofter spider's readers of more than one blog: a tag, a collection, your likes or shares.

Each is one app API endpoint paged by its own cursor (research/lofter.md section 13), with
``max_pages`` and ``new_only`` meaning what they mean for a blog. Posts land in their own blog's
folder, as a blog crawl would put them.
"""

from __future__ import annotations

from scrapy import FormRequest

from imagescraper.identity import canonical_url
from imagescraper.lofter import forms
from imagescraper.lofter.addresses import TagTarget
from imagescraper.lofter.api import (
    LofterApiError,
    cursor_cut,
    next_cursor,
    parse_collection_page,
    parse_data_envelope,
    parse_envelope,
    parse_liked_page,
    parse_tag_page,
)
from imagescraper.lofter.post import LofterPost
from imagescraper.video import video_identity


class LofterFeeds:
    """Mixed into LofterSpider: requests and callbacks for tags, collections, likes and shares."""

    def _tag_request(self, page: int, offset: int) -> FormRequest:
        target: TagTarget = self.target
        form = forms.tag_form(target.tag, target.ranking, offset)
        return self._api_request(forms.TAG_POSTS, form, self.parse_tag, page=page, offset=offset)

    def _collection_request(self, page: int, offset: int) -> FormRequest:
        form = forms.collection_form(self.target.collection_id, offset, self.config.lofter_posts_per_page)
        return self._api_request(forms.COLLECTION, form, self.parse_collection, page=page, offset=offset)

    def _likes_request(self, page: int, offset: int) -> FormRequest:
        form = forms.likes_form(self.target.method, offset, self.config.lofter_posts_per_page, None)
        return self._api_request(forms.LIKES, form, self.parse_likes, page=page, offset=offset)

    def _listed(self, posts: list[LofterPost], blog: str | None, page: int, more, what: str):
        """The posts of one listing page, and the page-limit line when more were left unread."""
        if page >= self.start_page:
            for post in posts:
                yield from self._items(post, blog)
        if more is not None and self._last_page(page):
            self._stopped_at_limit(what, page)

    def _nothing_new(self, posts: list[LofterPost], page: int) -> bool:
        """new_only: does this page hold nothing that is not stored yet (pinned posts left out)?"""
        if not self.new_only or self.replace or page < self.start_page:
            return False
        # What this run would fetch; a video is stored under its address without the signature.
        wanted = [
            url
            for post in posts
            if not post.pinned
            for url in post.images + ([video_identity(post.video)] if self.videos and post.video else [])
        ]
        if not wanted or not all(self._stored(url) for url in wanted):
            return False
        self.logger.info("new_only: page %d holds no new post; not reading further", page)
        return True

    def _stored(self, url: str) -> bool:
        return self._store is not None and self._store.lookup(canonical_url(url)) is not None

    def parse_tag(self, response):
        page, offset = response.meta["page"], response.meta["offset"]
        what = f"Tag {self.target.tag!r}"
        try:
            posts, cursor = parse_tag_page(parse_data_envelope(response.body))
        except LofterApiError as exc:
            yield from self._api_gave_up(exc, f"tag {self.target.tag!r}", None)
            return
        if not posts and page == 1:
            self._skip("empty-tags", "%s has no posts", what)
        # The tag cursor may jump over posts the server filtered out; it only has to move on.
        more = cursor if isinstance(cursor, int) and cursor > offset and posts else None
        yield from self._listed(posts, None, page, more, what)
        if more is not None and not self._last_page(page) and not self._nothing_new(posts, page):
            yield self._tag_request(page + 1, more)

    def parse_collection(self, response):
        page, offset = response.meta["page"], response.meta["offset"]
        what = f"Collection {self.target.collection_id}"
        try:
            posts, total = parse_collection_page(parse_envelope(response.body))
        except LofterApiError as exc:
            yield from self._api_gave_up(exc, f"collection {self.target.collection_id}", None)
            return
        if not posts and page == 1:
            self._skip("empty-collections", "%s has no posts", what)
        read = offset + len(posts)
        more = read if posts and (total is None or read < total) else None
        if not posts and isinstance(total, int) and offset < total:
            self._stopped_by_cursor(what, f"LOFTER answered no posts at {offset} of the {total} it counts")
        yield from self._listed(posts, None, page, more, what)
        if more is not None and not self._last_page(page) and not self._nothing_new(posts, page):
            yield self._collection_request(page + 1, more)

    def parse_likes(self, response):
        page, offset = response.meta["page"], response.meta["offset"]
        what = "Your likes" if self.target.method == "favorites" else "Your shares"
        try:
            posts, cursor = parse_liked_page(parse_envelope(response.body))
        except LofterApiError as exc:
            yield from self._api_gave_up(exc, what.lower(), None)
            return
        more = next_cursor(offset, len(posts), cursor)
        if more is None and (cut := cursor_cut(offset, len(posts), cursor)):
            self._stopped_by_cursor(what, cut)
        yield from self._listed(posts, None, page, more, what)
        if more is not None and not self._last_page(page) and not self._nothing_new(posts, page):
            yield self._likes_request(page + 1, more)
