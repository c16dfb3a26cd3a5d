"""Proving that an image's data is complete and intact without building its pixels.

Pillow's full decode is the obvious check, but most of its time goes into pixels nobody looks at,
and for JPEG it is not even strict: Pillow silences libjpeg's warnings, so a file whose
entropy-coded data is garbage ("Corrupt JPEG data: premature end of data segment", "bad Huffman
code") decodes to a grey smear and was stored. The checks here read every byte of compressed data
and fail on anything a strict decoder would complain about:

- JPEG: libjpeg-turbo (through simplejpeg) decodes at 1/8 scale with every warning an error. At
  that scale the inverse DCT is nearly free, but the entropy decoder still reads all of the data,
  so a cut file, a missing end-of-image marker or a corrupt scan fails;
- PNG: every chunk's CRC, the IHDR first and an IEND at the end, and the zlib stream of the image
  (and of every APNG frame) inflated to its end with its checksum, giving exactly the bytes the
  image's size needs, each row with a valid filter type. Pixels are never unfiltered.

Each check raises :class:`CorruptData` with a one-line detail; validation.py turns that into the
``truncated`` failure.
"""

from __future__ import annotations

import struct
import zlib


class CorruptData(Exception):
    """The compressed data is cut short or damaged; the message says where."""


# -- JPEG --------------------------------------------------------------------------------------


def check_jpeg(body: bytes) -> None:
    """Decode the whole scan data at the smallest scale, every libjpeg warning an error."""
    # Imported on first use, in the check thread: with numpy it takes 0.1-0.2 s, which a process
    # start would pay even on a run that checks no JPEG (a rerun over stored URLs).
    import simplejpeg

    try:
        # min_width/min_height of 1 pick the smallest scale libjpeg-turbo offers (1/8).
        simplejpeg.decode_jpeg(
            body,
            colorspace="GRAY",  # the colour scans are still read in full; only their pixels are skipped
            min_width=1,
            min_height=1,
            fastdct=True,
            fastupsample=True,
            strict=True,
        )
    except ValueError as exc:
        raise CorruptData(f"libjpeg: {exc}") from None


# -- PNG ---------------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_INFLATE_STEP = 1 << 20  # inflate in pieces: a huge image never needs its whole raw data in memory


class _Frame:
    """One picture of a PNG (the image itself, or an APNG frame) and its compressed data."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.parts: list[memoryview] = []


def check_png(body: bytes) -> int:
    """Walk and verify every chunk; return the number of frames (1, or the APNG's count)."""
    view = memoryview(body)
    if view[:8] != PNG_SIGNATURE:
        raise CorruptData("the PNG signature is damaged")
    header: tuple[int, int, int, int, int] | None = None
    frames: list[_Frame] = []  # in file order; the IDAT image is the first unless fcTL says otherwise
    image: _Frame | None = None
    declared_frames: int | None = None  # from the acTL chunk of an APNG
    controls = 0
    pos = 8
    while True:
        if pos + 8 > len(view):
            raise CorruptData("the PNG ends before its IEND chunk")
        length, kind = struct.unpack_from(">I4s", view, pos)
        end = pos + 8 + length
        if length > 0x7FFFFFFF or end + 4 > len(view):
            raise CorruptData(f"the PNG ends inside its {_name(kind)} chunk")
        data = view[pos + 8 : end]
        if zlib.crc32(view[pos + 4 : end]) != struct.unpack_from(">I", view, end)[0]:
            raise CorruptData(f"the PNG's {_name(kind)} chunk at byte {pos} fails its CRC")
        pos = end + 4
        if header is None:
            if kind != b"IHDR" or length != 13:
                raise CorruptData("the PNG does not start with its IHDR chunk")
            header = _read_header(data)
            image = _Frame(header[0], header[1])
        elif kind == b"IDAT":
            if image not in frames:
                frames.insert(0, image)
            image.parts.append(data)
        elif kind == b"acTL" and length >= 8:
            declared_frames = struct.unpack_from(">I", data)[0]
        elif kind == b"fcTL" and length >= 26:
            controls += 1
            width, height = struct.unpack_from(">II", data, 4)
            if not image.parts:  # an fcTL before the IDAT: the image is the animation's first frame
                image.width, image.height = width, height
                continue
            frames.append(_Frame(width, height))
        elif kind == b"fdAT" and length >= 4:
            if len(frames) < 2:
                raise CorruptData("the APNG has frame data before any frame control chunk")
            frames[-1].parts.append(data[4:])
        elif kind == b"IEND":
            break
    if not image.parts:
        raise CorruptData("the PNG has no image data (IDAT)")
    if declared_frames is not None and declared_frames != controls:
        raise CorruptData(f"the APNG declares {declared_frames} frames but has {controls}")
    width, height, depth, colour, interlaced = header
    bits = _CHANNELS[colour] * depth
    for number, frame in enumerate(frames):
        if not frame.parts:
            raise CorruptData(f"frame {number} of the APNG has no data")
        _inflate_rows(frame, bits, bool(interlaced), number)
    return declared_frames or 1


def _read_header(data: memoryview) -> tuple[int, int, int, int, int]:
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", data)
    valid_depths = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
    if (
        not width
        or not height
        or depth not in valid_depths.get(colour, ())
        or compression
        or filtering
        or interlace not in (0, 1)
    ):
        raise CorruptData("the PNG's IHDR chunk is invalid")
    return width, height, depth, colour, interlace


def _inflate_rows(frame: _Frame, bits: int, interlaced: bool, number: int) -> None:
    """Inflate a frame's zlib stream to its end (checksum included) and check every row's filter type
    byte, without keeping the rows. Interlaced images have rows of several widths; only their total
    size is checked."""
    if interlaced:
        rows = []
        for x0, y0, dx, dy in _ADAM7:
            pass_width, pass_height = -(-(frame.width - x0) // dx), -(-(frame.height - y0) // dy)
            if pass_width > 0 and pass_height > 0:
                rows.append(pass_height * (1 + (pass_width * bits + 7) // 8))
        expected, stride = sum(rows), 0
    else:
        stride = 1 + (frame.width * bits + 7) // 8
        expected = frame.height * stride
    where = "the PNG's image data" if number == 0 else f"frame {number} of the APNG"
    stream = zlib.decompressobj()
    produced = 0
    try:
        for part in frame.parts:
            pending: bytes | memoryview = part
            while pending and not stream.eof:
                rows = stream.decompress(pending, _INFLATE_STEP)
                if stride and produced < expected:
                    first = -produced % stride
                    filters = rows[first : expected - produced : stride]
                    if filters and max(filters) > 4:
                        raise CorruptData(f"{where} has a row with an invalid filter type")
                produced += len(rows)
                if produced > expected:
                    # also bounds the work a small file can ask for
                    raise CorruptData(f"{where} holds more rows than its size allows")
                pending = stream.unconsumed_tail
    except zlib.error as exc:
        raise CorruptData(f"{where} is corrupt (zlib: {exc})") from None
    if not stream.eof:
        raise CorruptData(f"{where} is cut short: its zlib stream does not reach its end")
    if produced != expected:
        raise CorruptData(f"{where} holds {produced} bytes of rows where its size needs {expected}")


def _name(kind: bytes) -> str:
    return kind.decode("latin-1") if kind.isalpha() else repr(kind)
