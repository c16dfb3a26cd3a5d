"""The one item every spider yields: a set of image URLs from one source (a post, a URL list)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ImageItem:
    """Images that belong together and are stored in one folder.

    ``post_title`` is untrusted text (a post title, a host name); the pipeline cleans it into
    the folder name. ``blog_name`` adds a parent folder and ``post_id`` makes the folder
    unique and stable when titles repeat or change. ``extra`` is copied into each image's
    manifest line (post URL, tags, publish time...).
    """

    image_urls: list[str]
    post_title: str
    post_id: str | None = None
    post_excerpt: str | None = None  # the folder's name when the title cleans to nothing
    blog_name: str | None = None
    referer: str | None = None
    extra: dict = field(default_factory=dict)
    # Download even if stored: a URL of a fleet replace round (fleet.py).
    refetch: bool = False
    # Where an image may also live (URL -> second address), tried when the first answers 403/404.
    alternates: dict = field(default_factory=dict)
    # "video": image_urls are videos (lofter -a videos=true), checked as MP4 and stored as sent.
    media: str = "image"
    # Filled in by the pipeline: one dict per stored or already-present image.
    images: list[dict] = field(default_factory=list)
