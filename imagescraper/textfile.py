"""A list file as people save it, turned into a stream of UTF-8 lines, or refused as not text.

People write URL lists in editors that save UTF-8 (with or without a byte-order mark) or, on
Windows, "Unicode" (UTF-16 with a BOM). A stray NUL or a line pasted from a Latin-1 page must
cost that line only, so this module refuses a whole file only when its first few KB are clearly
not a text list (an image, an archive, or mostly bytes that are no text), and otherwise hands the
line reader a binary stream of UTF-8, read lazily, in which every byte that was not valid text in
the file's own encoding is an invalid UTF-8 byte: the line reader rejects exactly those lines.
"""

from __future__ import annotations

import codecs
import io
import unicodedata
from typing import BinaryIO

SNIFF_BYTES = 8192
# More than this share of the first SNIFF_BYTES not text: the file is not a text list.
MAX_NON_TEXT_SHARE = 0.3

# Byte-order marks, longest first: the UTF-32-LE mark starts with the UTF-16-LE one.
_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
]

# Files that are certainly not a list, whatever their first bytes decode to.
_BINARY_SIGNATURES = [
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"%PDF-", "a PDF document"),
    (b"\x7fELF", "a program"),
]

# Decoding errors become this lone surrogate, which no valid UTF-16/32 text decodes to, and
# which "surrogateescape" writes back as the byte 0xFF: never valid in UTF-8.
_MARK = "\udcff"
_ERRORS = "imagescraper-mark-invalid"
codecs.register_error(_ERRORS, lambda error: (_MARK, error.end))


class NotText(ValueError):
    """The file is clearly not a text list; the message says what it looks like."""


class Utf8Lines(io.BufferedReader):
    """A buffered binary stream of UTF-8, with the name of the encoding the file was in."""

    def __init__(self, raw, encoding_name: str):
        super().__init__(raw, buffer_size=65536)
        self.encoding_name = encoding_name


def as_utf8_stream(stream: BinaryIO) -> Utf8Lines | BinaryIO:
    """Return *stream* as UTF-8 bytes, or raise :class:`NotText`.

    *stream* must support ``peek`` (a buffered file): nothing is consumed while sniffing.
    """
    head = stream.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    for bom, codec, name in _BOMS:
        if head.startswith(bom):
            if codec == "utf-8-sig":
                stream.read(len(bom))
                text = _decode_head(head[len(bom) :], "utf-8")
                _check_text(head, text)
                return stream
            text = _decode_head(head, codec)
            _check_text(head, text)
            return Utf8Lines(_Transcoder(stream, codec), name)
    _check_text(head, _decode_head(head, "utf-8"))
    return stream


def _decode_head(head: bytes, codec: str) -> str:
    decoder = codecs.getincrementaldecoder(codec)(errors=_ERRORS)
    return decoder.decode(head, final=False)  # a character cut at the sniff boundary is fine


def _check_text(head: bytes, text: str) -> None:
    for signature, what in _BINARY_SIGNATURES:
        if head.startswith(signature):
            raise NotText(f"it is {what}")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        raise NotText("it is a WebP image")
    if head[4:8] == b"ftyp":
        raise NotText("it is an AVIF or HEIC image, or a video")
    if text and non_text_share(text) > MAX_NON_TEXT_SHARE:
        if _looks_like_utf16_without_bom(head):
            raise NotText("it looks like UTF-16 without a byte-order mark; save it as UTF-8")
        raise NotText("most of its first bytes are not text")


def non_text_share(text: str) -> float:
    """The share of characters in *text* that no text list holds: invalid bytes and controls."""
    bad = sum(1 for c in text if c == _MARK or is_control(c))
    return bad / len(text)


def is_control(char: str) -> bool:
    """A control character that has no place in a list line (tab, CR and LF are layout)."""
    return char not in "\t\r\n" and unicodedata.category(char) == "Cc"


def _looks_like_utf16_without_bom(head: bytes) -> bool:
    # ASCII text in UTF-16: every other byte is NUL, the others are not.
    zeros = sorted((head[0::2].count(0), head[1::2].count(0)))
    half = len(head) // 2
    return half >= 4 and zeros[1] >= 0.9 * half and zeros[0] <= 0.1 * half


class _Transcoder(io.RawIOBase):
    """Decodes a UTF-16/32 file chunk by chunk and serves it as UTF-8, invalid bytes marked."""

    def __init__(self, source: BinaryIO, codec: str):
        self._source = source
        self._decoder = codecs.getincrementaldecoder(codec)(errors=_ERRORS)
        self._pending = b""
        self._offset = 0
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._offset == len(self._pending) and not self._ended:
            chunk = self._source.read(65536)
            self._ended = not chunk
            text = self._decoder.decode(chunk, final=self._ended)
            self._pending, self._offset = text.encode("utf-8", "surrogateescape"), 0
        size = min(len(buffer), len(self._pending) - self._offset)
        buffer[:size] = self._pending[self._offset : self._offset + size]
        self._offset += size
        return size

    def close(self) -> None:
        self._source.close()
        super().close()
