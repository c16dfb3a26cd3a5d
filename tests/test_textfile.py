"""Telling a text list from what is not one, and reading UTF-16/32 lists as UTF-8 lines."""

from __future__ import annotations

import codecs
import io
import random
from unittest import mock

import pytest

from demo import images
from imagescraper.textfile import NotText, as_utf8_stream
from imagescraper.urllist import AcceptedUrl, RejectedLine, open_url_file, read_url_lines


def utf8_of(data: bytes) -> bytes:
    return as_utf8_stream(io.BufferedReader(io.BytesIO(data))).read()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (images.jpeg("not-a-list")[:20] + b"\nhttp://h/a.jpg\n", "it is a JPEG image"),
        (images.png_with_alpha("not-a-list"), "it is a PNG image"),
        (images.animated_gif("not-a-list"), "it is a GIF image"),
        (images.webp("not-a-list"), "it is a WebP image"),
        (b"\x00\x00\x00\x1cftypavif" + b"http://h/a.jpg\n" * 20, "it is an AVIF or HEIC image, or a video"),
        (b"PK\x03\x04" + b"http://h/a.jpg\n" * 20, "it is a ZIP archive"),
        (b"%PDF-1.7\n" + b"http://h/a.jpg\n" * 20, "it is a PDF document"),
        (random.Random(7).randbytes(6000), "most of its first bytes are not text"),
        (b"\x00" * 100, "most of its first bytes are not text"),
        ("http://h/a.jpg\n".encode("utf-16-le") * 10, "it looks like UTF-16 without a byte-order mark"),
    ],
)
def test_what_is_clearly_not_a_text_list(data, message):
    with pytest.raises(NotText, match=message):
        utf8_of(data)


def test_a_list_with_some_bad_bytes_is_still_text():
    lines = [b"http://h.example/%d.jpg\n" % n for n in range(100)]
    # one line in four damaged: about 7% of the bytes are no text, well under the 30% limit
    damaged = b"".join(line if n % 4 else b"http://h/caf\xe9\x00\x1b.jpg\n" for n, line in enumerate(lines))
    assert utf8_of(damaged) == damaged
    assert utf8_of(b"") == b""


def test_a_character_cut_at_the_sniff_boundary_is_text():
    data = b"http://h/" + "春".encode() * 3000
    assert utf8_of(data) == data


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_every_unicode_encoding_with_a_bom_becomes_utf8(codec):
    text = "http://h.example/春日.jpg\r\n"
    bom = "" if codec == "utf-8-sig" else "\ufeff"
    assert utf8_of((bom + text).encode(codec)) == text.encode("utf-8")


@pytest.mark.parametrize(
    ("codec", "bom"),
    [("utf-16-le", "\ufeff"), ("utf-16-be", "\ufeff"), ("utf-32-le", "\ufeff"), ("utf-32-be", "\ufeff")],
)
def test_utf16_and_utf32_with_a_bom_are_read_as_text(tmp_path, codec, bom):
    text = bom + "http://h.example/1.jpg\r\n# comment\r\nhttp://h.example/春 日.jpg\r\n"
    path = tmp_path / "unicode.txt"
    path.write_bytes(text.encode(codec))
    with open_url_file(str(path)) as stream:
        results = list(read_url_lines(stream))
    assert results == [
        AcceptedUrl(1, "http://h.example/1.jpg", "http://h.example/1.jpg"),
        AcceptedUrl(3, "http://h.example/%E6%98%A5%20%E6%97%A5.jpg", "http://h.example/%E6%98%A5%20%E6%97%A5.jpg"),
    ]


def test_an_invalid_utf16_sequence_costs_its_line(tmp_path):
    encoded = "\ufeffhttp://h.example/1.jpg\n".encode("utf-16-le")
    encoded += "http://h.example/".encode("utf-16-le") + b"\x00\xd8" + ".jpg\n".encode("utf-16-le")  # lone surrogate
    encoded += "http://h.example/3.jpg\n".encode("utf-16-le")
    path = tmp_path / "unicode.txt"
    path.write_bytes(encoded)
    with open_url_file(str(path)) as stream:
        results = list(read_url_lines(stream))
    assert [type(r) for r in results] == [AcceptedUrl, RejectedLine, AcceptedUrl]
    assert results[1] == RejectedLine(2, "invalid-encoding", "is not valid UTF-16 text (at column 18)")
    assert results[2].line_number == 3


@pytest.mark.slow
def test_a_large_utf16_file_is_read_lazily(tmp_path):
    path = tmp_path / "big.txt"
    with open(path, "wb") as out:
        out.write(codecs.BOM_UTF16_LE)
        for block in range(20):
            out.write("".join(f"http://h.example/{block}/{n}.jpg\n" for n in range(2000)).encode("utf-16-le"))
    size = path.stat().st_size
    opened = []
    real_open = open

    def recording_open(*args, **kwargs):
        opened.append(real_open(*args, **kwargs))
        return opened[-1]

    with mock.patch("builtins.open", recording_open), open_url_file(str(path)) as stream:
        lines = read_url_lines(stream)
        assert [next(lines).line_number for _ in range(3)] == [1, 2, 3]
        assert opened[0].tell() < 300_000 < size, "only the first chunks of a 3 MB file are read"
        assert sum(1 for _ in lines) == 40_000 - 3
