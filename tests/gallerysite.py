"""A small store with every kind of image and hostile titles, and its gallery, for the gallery tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from demo import images
from demo.storemaker import StoreMaker, folder_for
from imagescraper.gallery.build import GalleryBuilder
from imagescraper.gallery.render import SiteOptions, relative_files_url

CHINESE_200 = ("春日樱花盛开" * 34)[:200]
HOSTILE_TITLES = ["<script>alert(1)</script>", "../x", "🌸🎉 emoji", CHINESE_200, '"onload=alert(1) x="']
HOSTILE_TAGS = ["<b>bold</b>", "标签", '"onmouseover=alert(1)']


def make_store(root: Path) -> StoreMaker:
    store = StoreMaker(root)
    for n in range(5):
        store.add(images.jpeg(f"host-{n}", size=(320 + n * 8, 240)), ["images.example"], f"p{n}-{n:016x}.jpg",
                  title="images.example")  # fmt: skip
    store.add(images.png_with_alpha("alpha"), ["images.example"], "alpha-00000000000000aa.png", title="images.example")
    store.add(images.animated_gif("moving"), ["images.example"], "moving-00000000000000bb.gif", title="images.example")
    store.add(images.webp("modern"), ["images.example"], "modern-00000000000000cc.webp", title="images.example")
    for i, title in enumerate(HOSTILE_TITLES):
        post_id = f"{1000 + i}"
        extra = {
            "post_url": f"https://ceshi.lofter.com/post/1cf5_{post_id}",
            "post_title": title,
            "tags": HOSTILE_TAGS,
            "published": f"2026-10-0{i + 1}T12:00:00+00:00",
        }
        for k in range(2):
            body = images.jpeg(f"post-{i}-{k}", size=(300, 400))
            store.add(
                body, folder_for(title, post_id, blog="ceshi"), f"img{k}-{i:015x}{k}.jpg", title=title, extra=extra
            )
    # A javascript: post link and a source URL with quotes: shown as text, never as a link.
    store.add(images.jpeg("js", size=(200, 200)), folder_for("js", "2000", blog="ceshi"), "js-0000000000000001.jpg",
              title="js", url='http://images.example/a"b<c>.jpg',
              extra={"post_url": "javascript:alert(1)", "post_title": "js", "tags": [], "published": ""})  # fmt: skip
    return store


def builder(store_root: Path, gallery: Path, page_size: int = 200, files_url: str = "") -> GalleryBuilder:
    options = SiteOptions(
        title="Test gallery",
        page_size=page_size,
        files_url=files_url or relative_files_url(str(store_root), str(gallery)),
    )
    return GalleryBuilder(store_root, gallery, options, workers=2)


def snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file under *folder* (state included): modification time and content digest."""
    return {
        path.relative_to(folder).as_posix(): (path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
        for path in folder.rglob("*")
        if path.is_file()
    }
