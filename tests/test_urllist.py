from __future__ import annotations

import io
import tracemalloc

import pytest

from imagescraper.errors import InputError
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
    assert results[0] == RejectedLine(1, "not-utf8", "not valid UTF-8 text")
    assert results[1].url == "http://a.example/last.jpg"


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
    with pytest.raises(InputError, match="not a UTF-8 text file"):
        open_url_file(str(binary))
    latin1 = tmp_path / "l.txt"
    latin1.write_bytes(b"http://h/caf\xe9.jpg\n")
    with pytest.raises(InputError, match="not a UTF-8 text file"):
        open_url_file(str(latin1))
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
    cut = tmp_path / "cut.txt"
    cut.write_bytes(b"http://h/" + "春".encode() * 3000)  # a character cut at the sniff boundary
    open_url_file(str(cut)).close()
