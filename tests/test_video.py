"""imagescraper.video: an MP4 is accepted only when its container is whole."""

from __future__ import annotations

import struct

import pytest

from demo.fakelofter import sample_mp4
from imagescraper.validation import RejectedImage
from imagescraper.video import inspect_video, video_identity

LIMIT = 10_000_000


def test_a_whole_mp4_is_accepted():
    facts = inspect_video(sample_mp4("v"), max_bytes=LIMIT)
    assert (facts.format, facts.extension, facts.brand) == ("MP4", ".mp4", "isom")


def test_a_64_bit_box_size_and_a_last_box_to_the_end_are_read():
    body = sample_mp4("v")
    mdat_at = body.index(b"mdat") - 4
    payload = body[mdat_at + 8 :]
    large = body[:mdat_at] + struct.pack(">I4sQ", 1, b"mdat", 16 + len(payload)) + payload
    assert inspect_video(large, max_bytes=LIMIT).format == "MP4"
    to_end = body[:mdat_at] + struct.pack(">I4s", 0, b"mdat") + payload
    assert inspect_video(to_end, max_bytes=LIMIT).format == "MP4"


@pytest.mark.parametrize(
    ("body", "reason", "words"),
    [
        (b"", "empty", "empty body"),
        (b"<html><body>403 Forbidden</body></html>", "not-a-video", "HTML"),
        (b"#EXTM3U\n#EXT-X-VERSION:3\nseg0.ts\n", "not-a-video", "HLS playlist"),
        (sample_mp4("cut")[:-10], "truncated", "needs"),
        (sample_mp4("x")[:-1], "truncated", "'mdat'"),
    ],
)
def test_bodies_that_are_not_a_whole_mp4(body, reason, words):
    with pytest.raises(RejectedImage) as caught:
        inspect_video(body, max_bytes=LIMIT)
    assert caught.value.reason == reason and words in caught.value.detail


def test_an_mp4_without_its_index_is_incomplete():
    body = sample_mp4("v")
    moov_at = body.index(b"moov") - 4
    moov_size = struct.unpack(">I", body[moov_at : moov_at + 4])[0]
    without_index = body[:moov_at] + body[moov_at + moov_size :]
    with pytest.raises(RejectedImage, match="no 'moov' box"):
        inspect_video(without_index, max_bytes=LIMIT)


def test_the_size_limit():
    body = sample_mp4("v")
    with pytest.raises(RejectedImage, match="IMAGESCRAPER_MAX_VIDEO_BYTES") as caught:
        inspect_video(body, max_bytes=len(body) - 1)
    assert caught.value.reason == "too-large"
    assert inspect_video(body, max_bytes=len(body)).format == "MP4"


def test_a_video_is_known_by_its_address_without_a_signature_only():
    signed = "https://vodm2lzexwq.vod.126.net/vodm2lzexwq/abc.mp4?resId=xyz&sign=0a1b&t=65f0"
    assert video_identity(signed) == "https://vodm2lzexwq.vod.126.net/vodm2lzexwq/abc.mp4"
    assert video_identity("https://v.example/play?id=1") == "https://v.example/play?id=1"
    assert video_identity("https://v.example/play?id=1") != video_identity("https://v.example/play?id=2")
    assert video_identity("https://cdn.example/a.mp4") == "https://cdn.example/a.mp4"
