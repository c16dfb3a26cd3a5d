from __future__ import annotations

import io
import random
import tracemalloc

import pytest

from imagescraper.startup_errors import InputError
from imagescraper.urllist import AcceptedUrl, RejectedLine, check_url, open_url_file, read_url_lines


def lines_of(data: bytes, **kwargs):
    return list(read_url_lines(io.BytesIO(data), **kwargs))


def test_bom_crlf_whitespace_blanks_and_comments():
    data = b"\xef\xbb\xbfhttp://a.example/1.jpg\r\n\r\n   \t\r\n# note\r\n  https://b.example/2.png  \n"
    assert lines_of(data) == [
        AcceptedUrl(1, "http://a.example/1.jpg", "http://a.example/1.jpg"),
        AcceptedUrl(5, "https://b.example/2.png", "https://b.example/2.png"),
    ]


def test_last_line_without_newline_and_invalid_utf8_line():
    results = lines_of(b"http://a.example/\xff.jpg\nhttp://a.example/last.jpg")
    assert results[0] == RejectedLine(1, "invalid-encoding", "is not valid UTF-8 text (at column 18)")
    assert results[1].url == "http://a.example/last.jpg"


def test_one_bad_line_costs_one_line():
    data = (
        b"http://a.example/1.jpg\n"
        b"http://a.example/caf\xe9.jpg\n"  # Latin-1, pasted from an old page
        b"http://a.example/\x00.jpg\n"
        b"\x00\x00\x00\n"
        b"http://a.example/\x1b[31mred.jpg\n"
        b"http://a.example/\xc2\x85.jpg\n"  # U+0085, a C1 control, as valid UTF-8
        b"http://a.example/a\tb.jpg\n"
        b"\xef\xbb\xbfhttp://a.example/after-a-second-bom.jpg\n"
        b"http://a.example/last.jpg\n"
    )
    results = lines_of(data)
    assert [(r.line_number, r.reason) for r in results if isinstance(r, RejectedLine)] == [
        (2, "invalid-encoding"),
        (3, "control-characters"),
        (4, "control-characters"),
        (5, "control-characters"),
        (6, "control-characters"),
        (7, "control-characters"),
    ]
    assert results[2].detail == "contains a NUL byte (at column 18)"
    assert results[4].detail == "contains the control character U+001B (at column 18)"
    assert [r.url for r in results if isinstance(r, AcceptedUrl)] == [
        "http://a.example/1.jpg",
        "http://a.example/after-a-second-bom.jpg",
        "http://a.example/last.jpg",
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("file:///etc/passwd", "unsupported-scheme"),
        ("FILE:///etc/passwd", "unsupported-scheme"),
        ("data:image/png;base64,AAAA", "unsupported-scheme"),
        ("ftp://h/a.jpg", "unsupported-scheme"),
        ("s3://bucket/key.jpg", "unsupported-scheme"),
        ("javascript:alert(1)", "unsupported-scheme"),
        ("gopher://h/", "unsupported-scheme"),
        ("/images/a.jpg", "relative-url"),
        ("//h/a.jpg", "relative-url"),
        ("www.example.com/a.jpg", "relative-url"),
        ("localhost:8080/a.jpg", "relative-url"),
        ("http://", "malformed-url"),
        ("http:///a.jpg", "malformed-url"),
        ("http://a b/c.jpg", "malformed-url"),
        ("http://exa mple.com/a.jpg", "malformed-url"),
        ("http://a.example/1.jpg http://a.example/2.jpg", "malformed-url"),
        ("http://a\u3000b.example/a.jpg", "malformed-url"),
        ("http://%41.example/a.jpg", "malformed-url"),
        ("http://h: 80/a.jpg", "malformed-url"),
        ("C:\\photos\\a.jpg", "unsupported-scheme"),
        ("http://h:99999/a.jpg", "malformed-url"),
        ("http://h:0/a.jpg", "malformed-url"),
        ("http://h<script>/a.jpg", "malformed-url"),
        ("http://[::1/a.jpg", "malformed-url"),
        ("http://u:p@h/a.jpg", "credentials-in-url"),
        ("http://evil.com@127.0.0.1/a.jpg", "credentials-in-url"),
    ],
)
def test_rejected_urls(text, reason):
    [result] = lines_of(text.encode() + b"\n")
    assert isinstance(result, RejectedLine) and result.reason == reason, result


def test_accepted_urls_are_encoded_and_keyed():
    url, key = check_url("HTTP://Example.COM/a b%20c/春.jpg?b=2&a=1#frag".replace(" ", "%20"))
    assert url == "http://example.com/a%20b%20c/%E6%98%A5.jpg?b=2&a=1"
    assert key == "http://example.com/a%20b%20c/%E6%98%A5.jpg?a=1&b=2"
    assert check_url("http://bücher.example/x.jpg")[0] == "http://xn--bcher-kva.example/x.jpg"


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("HTTP://EXAMPLE.com/A.jpg", "http://example.com/A.jpg"),
        ("Https://example.com/a.jpg", "https://example.com/a.jpg"),
        ("http://example.com/summer photos/beach 1.jpg", "http://example.com/summer%20photos/beach%201.jpg"),
        ("http://example.com/a.jpg?name=beach 1&t=ü", "http://example.com/a.jpg?name=beach%201&t=%C3%BC"),
        ("http://example.com/相册/春日.jpg", "http://example.com/%E7%9B%B8%E5%86%8C/%E6%98%A5%E6%97%A5.jpg"),
        ("http://example.com/\u200ba.jpg", "http://example.com/%E2%80%8Ba.jpg"),
        ("https://例え.テスト/画像.png", "https://xn--r8jz45g.xn--zckzah/%E7%94%BB%E5%83%8F.png"),
        ("http://BÜCHER.example/x.jpg", "http://xn--bcher-kva.example/x.jpg"),
        ("http://example.com\\photos\\a.jpg", "http://example.com/photos/a.jpg"),
        ("http://example.com/a.jpg?x=a\\b", "http://example.com/a.jpg?x=a%5Cb"),
        ("http://example.com/a.jpg#part two", "http://example.com/a.jpg"),
        # Host names that IDNA maps onto internal addresses: accepted here, refused by the guard.
        ("http://１２７.０.０.１/a.jpg", "http://127.0.0.1/a.jpg"),
        ("http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/a.jpg", "http://localhost/a.jpg"),
    ],
)
def test_urls_as_browsers_accept_them(text, url):
    [result] = lines_of(text.encode() + b"\n")
    assert isinstance(result, AcceptedUrl), result
    assert result.url == url


def test_over_long_line_is_skipped_without_holding_it():
    data = b"http://h/" + b"a" * 5_000_000 + b".jpg\nhttp://h/ok.jpg\n"
    tracemalloc.start()
    results = lines_of(data, max_length=2048)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [type(r) for r in results] == [RejectedLine, AcceptedUrl]
    assert results[0].reason == "too-long" and results[1].line_number == 2
    assert peak < 1_000_000


def test_reading_is_lazy():
    class Endless(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            chunk = b"http://h/x.jpg\n" * (len(buffer) // 15)
            buffer[: len(chunk)] = chunk
            return len(chunk)

    reader = read_url_lines(io.BufferedReader(Endless()))
    assert [next(reader).line_number for _ in range(3)] == [1, 2, 3]


def test_open_url_file_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_url_file(str(tmp_path / "nope.txt"))
    with pytest.raises(InputError, match="is a directory"):
        open_url_file(str(tmp_path))
    with pytest.raises(InputError, match="no URL file given"):
        open_url_file("")
    binary = tmp_path / "b.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(InputError, match=r"is not a UTF-8 text file \(it is a PNG image\): give a plaintext"):
        open_url_file(str(binary))
    unreadable = tmp_path / "u.txt"
    unreadable.write_text("http://h/a.jpg\n")
    unreadable.chmod(0)
    try:
        import os

        if os.geteuid() != 0:
            with pytest.raises(InputError, match="not readable"):
                open_url_file(str(unreadable))
    finally:
        unreadable.chmod(0o644)
    noise = tmp_path / "noise.bin"
    noise.write_bytes(random.Random(7).randbytes(6000))
    with pytest.raises(InputError, match=r"is not a UTF-8 text file \(most of its first bytes are not text\)"):
        open_url_file(str(noise))


def test_a_file_with_some_bad_bytes_is_still_a_list(tmp_path):
    """Latin-1, NULs and escape codes scattered over a list cost their lines, not the file."""
    good = [f"http://h.example/{n}.jpg" for n in range(200)]
    data = b""
    for n, url in enumerate(good):
        data += url.encode() + b"\n"
        if n % 10 == 0:
            data += b"http://h.example/caf\xe9\x00\x1b.jpg\n"
    path = tmp_path / "urls.txt"
    path.write_bytes(data)
    with open_url_file(str(path)) as stream:
        results = list(read_url_lines(stream))
    assert [r.url for r in results if isinstance(r, AcceptedUrl)] == good
    assert sum(isinstance(r, RejectedLine) for r in results) == 20
