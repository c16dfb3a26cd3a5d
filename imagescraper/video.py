"""Deciding whether downloaded bytes are a complete MP4 video worth storing (LOFTER video posts).

A pure function of the bytes, like ``validation.inspect_image`` for images: nothing is
decoded, but the ISO base media container is walked box by box. An MP4 starts with an
``ftyp`` box, and a complete file holds a ``moov`` (the index) and its boxes add up to exactly
the body's length; a cut download, an HTML error page or an HLS playlist fails here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from urllib.parse import parse_qsl

from imagescraper.validation import RejectedImage


@dataclass(frozen=True)
class VideoFacts:
    format: str
    extension: str
    brand: str


# Query arguments of a signed video address (LOFTER's *.vod.126.net: resId, sign, t; CDN tokens).
_SIGNATURE_ARGUMENTS = frozenset({"sign", "signature", "wssecret", "wstime", "expires", "auth_key", "token"})


def video_identity(url: str) -> str:
    """What a stored video is known by: its address without a signature's query.

    A signed query changes with every API answer while the file stays the same, so a rerun would
    otherwise store it again under a new name. A query without a signature is part of the address
    (``play?id=1`` and ``play?id=2`` are two videos) and is kept.
    """
    base, _, query = url.partition("?")
    if query and any(name.lower() in _SIGNATURE_ARGUMENTS for name, _ in parse_qsl(query, keep_blank_values=True)):
        return base
    return url


def inspect_video(body: bytes, *, max_bytes: int) -> VideoFacts:
    if not body:
        raise RejectedImage("empty", "the server sent an empty body")
    if len(body) > max_bytes:
        raise RejectedImage("too-large", f"{len(body)} bytes is more than {max_bytes} (IMAGESCRAPER_MAX_VIDEO_BYTES)")
    if body[4:8] != b"ftyp":
        head = body[:64].lstrip().lower()
        what = "an HLS playlist" if head.startswith(b"#extm3u") else "HTML" if b"<html" in head else "not MP4"
        raise RejectedImage("not-a-video", f"the body is {what}: no MP4 'ftyp' box at its start")
    boxes = []
    position = 0
    while position < len(body):
        if position + 8 > len(body):
            raise RejectedImage("truncated", f"the MP4 ends inside a box header at byte {position}")
        size, kind = struct.unpack(">I4s", body[position : position + 8])
        header = 8
        if size == 1:  # a 64-bit size follows the type
            if position + 16 > len(body):
                raise RejectedImage("truncated", f"the MP4 ends inside a box header at byte {position}")
            size = struct.unpack(">Q", body[position + 8 : position + 16])[0]
            header = 16
        elif size == 0:  # the last box runs to the end of the file
            size = len(body) - position
        if size < header:
            raise RejectedImage("not-a-video", f"MP4 box {kind!r} at byte {position} has an impossible size {size}")
        if position + size > len(body):
            raise RejectedImage(
                "truncated",
                f"the MP4 box {kind.decode('latin-1')!r} needs {size} bytes, {len(body) - position} arrived",
            )
        boxes.append(kind)
        position += size
    if b"moov" not in boxes:
        raise RejectedImage("truncated", "the MP4 has no 'moov' box (its index): the file is incomplete")
    return VideoFacts("MP4", ".mp4", body[8:12].decode("latin-1").strip())
