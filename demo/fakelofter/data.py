"""The fake LOFTER's data: blogs and posts from ``site.json``, a generated 1,700-post blog, and
the host names the fake answers for. Everything here is invented test data."""

from __future__ import annotations

import json
import struct
from pathlib import Path

HERE = Path(__file__).parent
SITE = json.loads((HERE / "site.json").read_text("utf-8"))
THEMES = ("mpost", "gray")
LOGIN_COOKIE = "LOFTER_SESS"
LOGIN_HEADER = "lofter-phone-login-auth"
THUMB = "imageView&thumbnail={}&quality=96&stripmeta=0"
# The API answers at most this many posts per call whatever limit is asked: its cursor, not
# page * size, says where the next call starts.
API_PAGE_CAP = 47
# A blog of 1,700 posts ("many"): text posts, and a photo post every 100th.
MANY = 1700
# Hosts that are not "<label>.lofter.test" or "<label>.lf127.test".
OTHER_HOSTS = {"nos": "nos.netease.test", "elsewhere": "pic.elsewhere.test", "vod": "vodfake.vod.126.test"}


def _many_blog() -> dict:
    posts = {}
    for number in range(1, MANY + 1):
        key = f"M{number:04d}"
        post = {"hex": f"{0x3000000000 + number:x}", "type": 1, "title": f"第{number}篇", "tags": []}
        post.update(
            body=f"<p>第{number}篇</p>", excerpt=f"第{number}篇", time=1710000000000 - number * 60000, images=[]
        )
        if number % 100 == 1:
            post.update(type=2, images=[["imglf4", f"/img/many/TWFueQ{number:04d}.jpg", "type=jpg"]])
        posts[key] = post
    keys = list(posts)
    return {
        "blog_id": 0x2A00,
        "nickname": "很多",
        "intro": "",
        "pages": [keys[i : i + 20] for i in range(0, MANY, 20)],  # the theme shows 20 a page
        "posts": posts,
    }


SITE["blogs"]["many"] = _many_blog()
HOSTS = (*SITE["blogs"], "nosuchblog", "www", "api")
IMAGE_HOSTS = ("imglf3", "imglf4", "imglf5", "avaimg")
KNOWN_IMAGES = {
    path
    for blog in SITE["blogs"].values()
    for post in blog["posts"].values()
    for _, path, _ in post.get("images", []) + post.get("inline", [])
} | {SITE["related_thumbnail"][1], SITE["avatar"][1]}
# The image of the post FakeLofter.new_post puts on top of blog "neu".
NEW_POST_IMAGE = "/img/4e4e4e4e4e4e4e4e/TmV3UG9zdA.jpg"
KNOWN_IMAGES.add(NEW_POST_IMAGE)


def sample_mp4(name: str) -> bytes:
    """A small well-formed MP4 (ftyp, moov, mdat), different for each name: one track whose sample
    tables place four samples, in two chunks, exactly over the media data."""

    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I4s", 8 + len(payload), kind) + payload

    def full_box(kind: bytes, payload: bytes) -> bytes:  # version 0, no flags
        return box(kind, bytes(4) + payload)

    media = name.encode("utf-8") * 64
    quarter = len(media) // 4
    sizes = (quarter, quarter, quarter, len(media) - 3 * quarter)

    def movie(media_at: int) -> bytes:
        chunks = (media_at, media_at + sizes[0] + sizes[1])
        samples = box(
            b"stbl",
            full_box(b"stsc", struct.pack(">IIII", 1, 1, 2, 1))  # from chunk 1 on: 2 samples per chunk
            + full_box(b"stsz", struct.pack(">II4I", 0, 4, *sizes))
            + full_box(b"stco", struct.pack(">I2I", 2, *chunks)),
        )
        header = box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, 1000, 3000) + bytes(80))
        return box(b"moov", header + box(b"trak", box(b"mdia", box(b"minf", samples))))

    kind = box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")
    return kind + movie(len(kind) + len(movie(0)) + 8) + box(b"mdat", media)
