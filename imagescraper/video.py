"""Deciding whether downloaded bytes are a complete MP4 video worth storing (LOFTER video posts).

A pure function of the bytes, like ``validation.inspect_image`` for images: nothing is
decoded, but the ISO base media container is walked box by box. An MP4 starts with an
``ftyp`` box, and a complete file holds a ``moov`` (the index) and its boxes add up to exactly
the body's length; a cut download, an HTML error page or an HLS playlist fails here. The last box
may say "to the end of the file" (size 0), which a cut file satisfies too; so the index's sample
tables are read as well, and every sample they place must lie inside the body.
"""

from __future__ import annotations

import struct
import sys
from array import array
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


def video_extension(body: bytes) -> str:
    """The extension a video's file is stored under, from its first box only (the whole check is
    :func:`inspect_video`'s, made before the path is asked for)."""
    if body[4:8] != b"ftyp":
        raise RejectedImage("not-a-video", "the body is not MP4: no 'ftyp' box at its start")
    return ".mp4"


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
    fragments = []  # (start, payload start, end) of each moof: a fragmented MP4 indexes its samples there
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
        if kind == b"moov":
            index = (position + header, position + size)
        elif kind == b"moof":
            fragments.append((position, position + header, position + size))
        position += size
    if b"moov" not in boxes:
        raise RejectedImage("truncated", "the MP4 has no 'moov' box (its index): the file is incomplete")
    _check_samples_inside(body, *index)
    defaults = _fragment_defaults(body, *index)
    for fragment in fragments:
        _check_fragment_inside(body, *fragment, defaults)
    return VideoFacts("MP4", ".mp4", body[8:12].decode("latin-1").strip())


# -- the index's sample tables -------------------------------------------------------------------

_PATH_TO_SAMPLES = (b"trak", b"mdia", b"minf", b"stbl")


def _children(body: bytes, start: int, end: int):
    """(type, payload start, payload end) of each box between *start* and *end*."""
    position = start
    while position + 8 <= end:
        size, kind = struct.unpack_from(">I4s", body, position)
        header = 8
        if size == 1 and position + 16 <= end:
            size, header = struct.unpack_from(">Q", body, position + 8)[0], 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end:
            raise RejectedImage("not-a-video", f"the MP4's index has a damaged {kind.decode('latin-1')!r} box")
        yield kind, position + header, position + size
        position += size


def _sample_tables(body: bytes, start: int, end: int, depth: int = 0):
    """Each track's sample table (stbl) boxes, by type, found under moov/trak/mdia/minf/stbl."""
    for kind, payload, stop in _children(body, start, end):
        if kind != _PATH_TO_SAMPLES[depth]:
            continue
        if depth == len(_PATH_TO_SAMPLES) - 1:
            yield {child: (at, until) for child, at, until in _children(body, payload, stop)}
        else:
            yield from _sample_tables(body, payload, stop, depth + 1)


def _check_samples_inside(body: bytes, start: int, end: int) -> None:
    """Every chunk of every track (its offset, and the sizes of the samples in it) within the body."""
    for table in _sample_tables(body, start, end):
        offsets = _chunk_offsets(body, table)
        if offsets is None or b"stsz" not in table or b"stsc" not in table:
            continue  # no samples here (a fragmented MP4 keeps them in its fragments) or a compact table
        sizes, common, count = _sample_sizes(body, *table[b"stsz"])
        runs = _chunk_runs(body, *table[b"stsc"])
        sample, run = 0, 0
        for number, offset in enumerate(offsets, start=1):
            while run + 1 < len(runs) and runs[run + 1][0] <= number:
                run += 1
            per_chunk = runs[run][1] if runs and runs[run][0] <= number else 0
            if sample + per_chunk > count:
                raise RejectedImage("not-a-video", "the MP4's index places more samples in chunks than it lists")
            length = sum(sizes[sample : sample + per_chunk]) if sizes is not None else per_chunk * common
            sample += per_chunk
            if offset + length > len(body):
                raise _too_far(offset + length, body)


def _too_far(end: int, body: bytes) -> RejectedImage:
    return RejectedImage(
        "truncated", f"the MP4's index places media data up to byte {end}, but only {len(body)} bytes arrived"
    )


def _fragment_defaults(body: bytes, start: int, end: int) -> dict[int, int]:
    """Each track's default sample size for its fragments (moov/mvex/trex), by track id."""
    defaults = {}
    for kind, payload, stop in _children(body, start, end):
        if kind == b"mvex":
            for child, at, until in _children(body, payload, stop):
                if child == b"trex" and until - at >= 24:
                    track, size = struct.unpack_from(">I8xI", body, at + 4)  # track_ID, then its default size
                    defaults[track] = size
    return defaults


_TFHD_FIELDS = ((0x1, 8), (0x2, 4), (0x8, 4), (0x10, 4), (0x20, 4))  # flag, width, in the order they follow


def _check_fragment_inside(body: bytes, moof: int, start: int, end: int, defaults: dict[int, int]) -> None:
    """Every run of samples (trun) of a movie fragment within the body."""
    base = moof
    for kind, payload, stop in _children(body, start, end):
        if kind != b"traf":
            continue
        boxes = list(_children(body, payload, stop))
        header = next(((at, until) for child, at, until in boxes if child == b"tfhd"), None)
        if header is None or header[1] - header[0] < 8:
            raise RejectedImage("not-a-video", "an MP4 fragment has no valid track header (tfhd)")
        flags, track = struct.unpack_from(">II", body, header[0])
        flags &= 0xFFFFFF
        fields, at = {}, header[0] + 8
        for flag, width in _TFHD_FIELDS:
            if flags & flag:
                if at + width > header[1]:
                    raise RejectedImage("not-a-video", "an MP4 fragment's track header (tfhd) is damaged")
                fields[flag] = int.from_bytes(body[at : at + width], "big")
                at += width
        if 0x1 in fields:
            base = fields[0x1]
        elif flags & 0x20000:  # default-base-is-moof
            base = moof
        default_size = fields.get(0x10, defaults.get(track, 0))
        data = base
        for child, at, until in boxes:
            if child == b"trun":
                data = _run_end(body, at, until, base, data, default_size)
        base = data  # without an explicit base, the next track's data follows this one's


def _run_end(body: bytes, at: int, until: int, base: int, previous_end: int, default_size: int) -> int:
    """Where a trun's samples end; raises if that is past the body."""
    if until - at < 8:
        raise RejectedImage("not-a-video", "an MP4 fragment's sample run (trun) is damaged")
    flags, count = struct.unpack_from(">II", body, at)
    flags &= 0xFFFFFF
    position = at + 8
    if position + 4 * bool(flags & 0x1) + 4 * bool(flags & 0x4) > until:
        raise RejectedImage("not-a-video", "an MP4 fragment's sample run (trun) is damaged")
    start = previous_end
    if flags & 0x1:
        start = base + struct.unpack_from(">i", body, position)[0]
        position += 4
    if flags & 0x4:
        position += 4
    per_sample = [flag for flag in (0x100, 0x200, 0x400, 0x800) if flags & flag]
    if position + 4 * len(per_sample) * count > until:
        raise RejectedImage("not-a-video", "an MP4 fragment's sample run (trun) is damaged")
    _not_too_many(count)
    if flags & 0x200:
        values = _numbers(body, position, len(per_sample) * count, _U32)
        column = per_sample.index(0x200)
        length = sum(values[column :: len(per_sample)])
    else:
        length = default_size * count
    if start + length > len(body):
        raise _too_far(start + length, body)
    return start + length


# More entries in one table than this is no real video (37 hours of 30 frames a second, one
# sample per chunk); it bounds the time a hostile index can cost.
MAX_TABLE_ENTRIES = 4_000_000


def _numbers(body: bytes, at: int, count: int, typecode: str) -> array:
    """*count* big-endian unsigned numbers from *at*, kept compactly (4 or 8 bytes each)."""
    numbers = array(typecode)
    numbers.frombytes(memoryview(body)[at : at + count * numbers.itemsize])
    if sys.byteorder == "little":
        numbers.byteswap()
    return numbers


def _chunk_offsets(body: bytes, table: dict) -> array | None:
    for kind, typecode in ((b"stco", _U32), (b"co64", _U64)):
        if kind in table:
            at, until = table[kind]
            return _numbers(body, at + 8, _count(body, at, until, array(typecode).itemsize), typecode)
    return None


def _sample_sizes(body: bytes, at: int, until: int) -> tuple[array | None, int, int]:
    """(each sample's size, or None when they share one; the shared size; the sample count)."""
    if until - at < 12:
        raise RejectedImage("not-a-video", "the MP4's sample size table is damaged")
    common, count = struct.unpack_from(">II", body, at + 4)
    if common:
        return None, common, count
    if at + 12 + 4 * count > until:
        raise RejectedImage("not-a-video", "the MP4's sample size table is damaged")
    _not_too_many(count)
    return _numbers(body, at + 12, count, _U32), 0, count


def _chunk_runs(body: bytes, at: int, until: int) -> list[tuple[int, int]]:
    """(first chunk, samples per chunk) of each run of the sample-to-chunk table."""
    entries = _numbers(body, at + 8, 3 * _count(body, at, until, 12), _U32)
    return list(zip(entries[0::3], entries[1::3], strict=True))


def _count(body: bytes, at: int, until: int, entry: int) -> int:
    """The entry count of a full box's table, checked against the box's size."""
    if until - at < 8:
        raise RejectedImage("not-a-video", "the MP4's index has a damaged table")
    count = struct.unpack_from(">I", body, at + 4)[0]
    if at + 8 + entry * count > until:
        raise RejectedImage("not-a-video", "the MP4's index has a damaged table")
    _not_too_many(count)
    return count


def _not_too_many(count: int) -> None:
    if count > MAX_TABLE_ENTRIES:
        raise RejectedImage(
            "not-a-video",
            f"the MP4's index has a table of {count} entries, more than a video has ({MAX_TABLE_ENTRIES})",
        )


_U32 = next(code for code in "IL" if array(code).itemsize == 4)
_U64 = next(code for code in "LQ" if array(code).itemsize == 8)
