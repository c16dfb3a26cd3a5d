"""imagescraper.video: an MP4 is accepted only when its container is whole."""

from __future__ import annotations

import random
import struct

import pytest

from demo.fakelofter import sample_mp4
from imagescraper import video
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


def _with_media_to_the_end(body: bytes) -> bytes:
    """The same MP4 with its mdat box saying "to the end of the file" (size 0)."""
    mdat_at = body.index(b"mdat") - 4
    return body[:mdat_at] + struct.pack(">I4s", 0, b"mdat") + body[mdat_at + 8 :]


def test_a_last_box_to_the_end_that_was_cut_is_found_by_the_sample_tables():
    whole = _with_media_to_the_end(sample_mp4("v"))
    assert inspect_video(whole, max_bytes=LIMIT).format == "MP4"
    for cut in (1, 10, len(whole) - whole.index(b"mdat") - 4):
        with pytest.raises(
            RejectedImage, match=r"places media data up to byte \d+, but only \d+ bytes arrived"
        ) as caught:
            inspect_video(whole[:-cut], max_bytes=LIMIT)
        assert caught.value.reason == "truncated"


def _replace_table(body: bytes, kind: bytes, payload: bytes) -> bytes:
    """*body* with the full box *kind* given a new payload of the same length."""
    at = body.index(kind) + 4 + 4  # past the type, and the version and flags
    return body[:at] + payload + body[at + len(payload) :]


def test_the_sample_tables_in_their_other_forms():
    body = sample_mp4("v")
    stsz_at = body.index(b"stsz")
    count, *sizes = struct.unpack_from(">I4I", body, stsz_at + 12)
    # every sample the same size: stsz gives one size and the count (the rest of the box unused)
    same = _replace_table(body, b"stsz", struct.pack(">II", 1, 4))
    assert inspect_video(same, max_bytes=LIMIT).format == "MP4"
    too_big = _replace_table(body, b"stsz", struct.pack(">II", max(sizes) * 2, 4))
    with pytest.raises(RejectedImage, match="places media data") as caught:
        inspect_video(_with_media_to_the_end(too_big), max_bytes=LIMIT)
    assert caught.value.reason == "truncated"


@pytest.mark.parametrize(
    ("kind", "payload", "words"),
    [
        (b"stco", struct.pack(">II", 2, 10**6), "places media data"),  # a chunk beyond the body
        (b"stsc", struct.pack(">IIII", 1, 1, 3, 1), "more samples in chunks than it lists"),
        (b"stsz", struct.pack(">II", 0, 10**6), "sample size table is damaged"),
        (b"stco", struct.pack(">I", 10**6), "damaged table"),
    ],
)
def test_a_damaged_or_impossible_sample_table(kind, payload, words):
    body = _replace_table(sample_mp4("v"), kind, payload)
    with pytest.raises(RejectedImage, match=words):
        inspect_video(body, max_bytes=LIMIT)


def _fragmented_mp4(sizes: list[int], *, sizes_in_run: bool) -> bytes:
    """ftyp, a moov without samples, one fragment (moof) whose run places *sizes* in the mdat that
    follows it; the sizes are in the run, or all the same from the track's defaults (trex)."""

    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I4s", 8 + len(payload), kind) + payload

    def full_box(kind: bytes, flags: int, payload: bytes) -> bytes:
        return box(kind, struct.pack(">I", flags) + payload)

    empty_table = box(b"stbl", full_box(b"stsz", 0, struct.pack(">II", 0, 0)) + full_box(b"stsc", 0, bytes(4)))
    trak = box(b"trak", box(b"mdia", box(b"minf", empty_table + full_box(b"stco", 0, bytes(4)))))
    mvex = box(b"mvex", full_box(b"trex", 0, struct.pack(">5I", 1, 1, 0, sizes[0], 0)))
    moov = box(b"moov", full_box(b"mvhd", 0, bytes(96)) + trak + mvex)
    ftyp = box(b"ftyp", b"iso6" + bytes(4) + b"iso6mp41")

    def fragment(data_offset: int) -> bytes:
        header = full_box(b"tfhd", 0x20000, struct.pack(">I", 1))  # default-base-is-moof
        if sizes_in_run:
            run = full_box(b"trun", 0x201, struct.pack(f">Ii{len(sizes)}I", len(sizes), data_offset, *sizes))
        else:
            run = full_box(b"trun", 0x001, struct.pack(">Ii", len(sizes), data_offset))
        return box(b"moof", full_box(b"mfhd", 0, struct.pack(">I", 1)) + box(b"traf", header + run))

    moof = fragment(len(fragment(0)) + 8)  # the data starts right after the mdat's header
    return ftyp + moov + moof + box(b"mdat", bytes(range(256)) * (sum(sizes) // 256) + bytes(sum(sizes) % 256))


@pytest.mark.parametrize("sizes_in_run", [True, False])
def test_a_fragmented_mp4_cut_inside_its_last_box_to_the_end_is_found(sizes_in_run):
    sizes = [700, 900, 650] if sizes_in_run else [800] * 3
    whole = _with_media_to_the_end(_fragmented_mp4(sizes, sizes_in_run=sizes_in_run))
    assert inspect_video(whole, max_bytes=LIMIT).format == "MP4"
    with pytest.raises(RejectedImage, match="places media data up to byte") as caught:
        inspect_video(whole[:-1], max_bytes=LIMIT)
    assert caught.value.reason == "truncated"


def test_damaged_indexes_are_refused_with_a_reason_never_an_error():
    """Bytes changed anywhere in the index, or the body cut anywhere: a verdict, never a crash."""
    rng = random.Random(15)
    for body in (sample_mp4("v"), _fragmented_mp4([700, 900, 650], sizes_in_run=True)):
        media = body.rindex(b"mdat")
        for _ in range(2000):
            damaged = bytearray(body)
            for _ in range(rng.randint(1, 4)):
                damaged[rng.randrange(media)] = rng.randrange(256)
            damaged = bytes(damaged[: rng.choice([len(damaged), rng.randrange(1, len(damaged))])])
            try:
                inspect_video(damaged, max_bytes=LIMIT)
            except RejectedImage as rejected:
                assert rejected.reason in {"truncated", "not-a-video", "empty"}


@pytest.mark.parametrize("fragmented", [False, True])
def test_an_index_too_long_for_any_video_is_refused(monkeypatch, fragmented):
    """The cap that bounds what a hostile index costs (4,000,000 entries), here lowered to 2."""
    body = _fragmented_mp4([700, 900, 650], sizes_in_run=True) if fragmented else sample_mp4("v")
    assert inspect_video(body, max_bytes=LIMIT).format == "MP4"
    monkeypatch.setattr(video, "MAX_TABLE_ENTRIES", 2)
    with pytest.raises(RejectedImage, match=r"a table of [34] entries, more than a video has \(2\)") as caught:
        inspect_video(body, max_bytes=LIMIT)
    assert caught.value.reason == "not-a-video"


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
