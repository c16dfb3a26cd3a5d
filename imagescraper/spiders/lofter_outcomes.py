"""What becomes of each LOFTER post: images or a video queued, a counted skip, or an error line.

Every post a listing names passes through :meth:`PostOutcomes._items` exactly once (a post listed
again, by the page fallback after the API, keeps its first outcome), and the run ends with one line
that adds them up.
"""

from __future__ import annotations

import logging

from imagescraper import runstats
from imagescraper.identity import canonical_url, url_fingerprint
from imagescraper.items import ImageItem
from imagescraper.lofter.post import LofterPost


class PostOutcomes:
    """Mixed into LofterSpider: counting, and the items a post becomes."""

    # -- counting what happens to pages and posts ------------------------------------------------
    def _error(self, reason: str, message: str, *args):
        """Something that may hide images from us: counted, and the run's exit status is 1."""
        self.logger.error(message, *args)
        runstats.count(self.crawler.stats, runstats.ERRORS, reason)

    def _skip(self, what: str, message: str, *args, level: int = logging.INFO):
        """Something with no image to fetch (an empty blog, a video): counted, not an error."""
        self.logger.log(level, message, *args)
        runstats.skipped(self.crawler.stats, what)

    def _post_error(self, reason: str, message: str, *args):
        self._outcomes["errors"] += 1
        self._error(reason, message, *args)

    def _post_skipped(self, what: str, message: str, *args):
        # One line per post would bury the progress line on a big blog; the summary counts each
        # reason, and -s LOG_LEVEL=DEBUG shows the posts.
        self._outcomes["skipped"] += 1
        self._skip(what, message, *args, level=logging.DEBUG)

    def _stopped_at_limit(self, what: str, page: int):
        message = (
            f"{what}: stopped at the page limit: page {page} of max_pages={self.max_pages}; "
            f"pass -a max_pages={self.max_pages * 2} (or more) for more"
        )
        self.logger.warning(message)
        self.crawler.stats.set_value(runstats.STOPPED_EARLY, message)

    def _stopped_by_cursor(self, what: str, cut: str):
        message = f"{what}: the listing ends here because {cut}; posts after it may exist and were not read"
        self.logger.warning(message)
        self.crawler.stats.set_value(runstats.STOPPED_EARLY, message)

    def closed(self, reason):
        total = sum(self._outcomes.values())
        # Errors that are no post's (an unknown blog, a page or API call that failed) hide posts
        # that were never listed: said here too, so "0 with an error" never follows an ERROR line.
        unlisted = self.crawler.stats.get_value(runstats.ERRORS, 0) - self._outcomes["errors"]
        self.logger.info(
            "LOFTER: %d post(s) listed: %d with images or a video queued, %d skipped, %d with an error%s",
            total,
            self._outcomes["queued"],
            self._outcomes["skipped"],
            self._outcomes["errors"],
            f"; {unlisted} error(s) reading the blog, its pages or the API (see above)" if unlisted > 0 else "",
        )

    # -- items --------------------------------------------------------------------------------------
    def _items(self, post: LofterPost, blog: str | None):
        if post.post_id in self._done_posts:
            return  # listed again (an API page, then the fallback pages): it has its outcome already
        self._done_posts.add(post.post_id)
        blog = post.blog or blog or ""
        url = post.url or self.urls.post(blog, post.permalink)
        video = None
        if post.kind == "video":
            if not self.videos:
                if not self.crawler.stats.get_value(runstats.SKIPPED_BY + "video-posts"):
                    self.logger.info("Video posts are skipped and counted: pass -a videos=true to store their videos")
                self._post_skipped("video-posts", "Post %s is a video post: skipped (pass -a videos=true)", url)
                return
            if not post.video:
                self._post_error("video-missing", "Video post %s names no video file LOFTER would serve", url)
                return
            video = post.video
        images = self._fresh(post.images)
        if not images and video is None:
            if post.images:
                self._post_skipped("posts-already-listed", "Post %s: its images came with another post", url)
            else:
                self._post_skipped("posts-without-images", "Post %s has no images", url)
            return
        self._outcomes["queued"] += 1
        common = {
            "post_title": post.folder_title,
            "post_id": str(post.post_id),
            "post_excerpt": post.excerpt,
            "blog_name": blog,
            "referer": url,
            "extra": {"post_url": url, "post_title": post.title, "tags": post.tags, "published": post.published},
        }
        if images:
            self.crawler.stats.inc_value(runstats.QUEUED, len(images))
            alternates = {image: post.alternates[image] for image in images if image in post.alternates}
            yield ImageItem(image_urls=images, alternates=alternates, **common)
        if video is not None:
            self.crawler.stats.inc_value(runstats.QUEUED)
            yield ImageItem(image_urls=[video], media="video", **common)

    def _fresh(self, urls: list[str]) -> list[str]:
        fresh = []
        for image in urls:
            fingerprint = url_fingerprint(canonical_url(image))
            if fingerprint in self._seen_images:
                runstats.skipped(self.crawler.stats, "duplicate-urls")
            else:
                self._seen_images.add(fingerprint)
                fresh.append(image)
        return fresh
