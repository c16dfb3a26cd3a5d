"""Reading a plaintext file of image URLs, one per line, without loading it whole.

Pure functions over a binary stream: :func:`read_url_lines` yields an :class:`AcceptedUrl` or
a :class:`RejectedLine` per non-blank, non-comment line, so the spider only decides what to
fetch, and the rules are tested without Scrapy.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urlsplit

from w3lib.url import safe_url_string

from imagescraper.errors import InputError
from imagescraper.identity import canonical_url

FETCHED_SCHEMES = ("http", "https")
_SNIFF_BYTES = 8192
# "localhost:8080/a.jpg" parses as scheme "localhost"; it is a URL missing its http://.
_HOST_PORT_WITHOUT_SCHEME = re.compile(r"^[^:/]+:\d+(/|$)")


@dataclass(frozen=True)
class AcceptedUrl:
    line_number: int
    url: str  # what is requested: percent-encoded, IDNA host, no fragment
    key: str  # canonical form: the identity used for de-duplication and file names


@dataclass(frozen=True)
class RejectedLine:
    line_number: int
    reason: str  # a short stats key, e.g. "unsupported-scheme"
    detail: str  # one human sentence


class BadUrl(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def open_url_file(path: str) -> BinaryIO:
    """Open *path* for reading, or raise :class:`InputError` with a one-line reason."""
    if not path:
        raise InputError("no URL file given: pass one with -a path=FILE")
    if os.path.isdir(path):
        raise InputError(f"URL file {path!r} is a directory: pass a plaintext file with one URL per line")
    try:
        stream = open(path, "rb")  # noqa: SIM115 - the spider closes it when done
    except FileNotFoundError:
        raise InputError(f"URL file {path!r} does not exist: check the path given with -a path=") from None
    except PermissionError:
        raise InputError(f"URL file {path!r} is not readable: check its permissions") from None
    except OSError as exc:
        raise InputError(f"URL file {path!r} cannot be opened: {exc.strerror}") from None
    try:
        head = stream.peek(_SNIFF_BYTES)[:_SNIFF_BYTES] if hasattr(stream, "peek") else b""
    except OSError as exc:
        stream.close()
        raise InputError(f"URL file {path!r} cannot be read: {exc.strerror}") from None
    if not _looks_like_text(head):
        stream.close()
        raise InputError(f"URL file {path!r} is not a UTF-8 text file: give a plaintext file with one URL per line")
    return stream


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)  # a character cut at the sniff boundary is fine
    except UnicodeDecodeError:
        return False
    return True


def read_url_lines(stream: BinaryIO, *, max_length: int = 2048) -> Iterator[AcceptedUrl | RejectedLine]:
    """Yield one result per meaningful line of *stream*, reading one line at a time.

    Blank lines and lines starting with ``#`` are skipped silently. A line longer than
    *max_length* bytes is rejected and skipped without being held in memory.
    """
    line_number = 0
    while True:
        raw = stream.readline(max_length + 1)
        if not raw:
            return
        line_number += 1
        if len(raw) > max_length and not raw.endswith(b"\n"):
            _skip_rest_of_line(stream)
            yield RejectedLine(line_number, "too-long", f"longer than {max_length} bytes")
            continue
        if line_number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            yield RejectedLine(line_number, "not-utf8", "not valid UTF-8 text")
            continue
        if not text or text.startswith("#"):
            continue
        try:
            url, key = check_url(text)
        except BadUrl as bad:
            yield RejectedLine(line_number, bad.reason, bad.detail)
        else:
            yield AcceptedUrl(line_number, url, key)


def _skip_rest_of_line(stream: BinaryIO) -> None:
    while True:
        chunk = stream.readline(65536)
        if not chunk or chunk.endswith(b"\n"):
            return


def check_url(text: str) -> tuple[str, str]:
    """Return ``(url_to_request, canonical_key)`` for an absolute http(s) URL, else raise BadUrl."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        raise BadUrl("malformed-url", "contains spaces or control characters")
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise BadUrl("malformed-url", f"cannot be parsed as a URL ({exc})") from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise BadUrl("relative-url", "is not an absolute URL (it needs http:// or https://)")
    if scheme not in FETCHED_SCHEMES:
        if _HOST_PORT_WITHOUT_SCHEME.match(text):
            raise BadUrl("relative-url", "is not an absolute URL (it needs http:// or https://)")
        raise BadUrl("unsupported-scheme", f"uses the {scheme}: scheme; only http and https URLs are fetched")
    if not parts.netloc or not parts.hostname:
        raise BadUrl("malformed-url", "has no host name")
    if parts.username is not None or parts.password is not None:
        raise BadUrl("credentials-in-url", "carries a user name or password (user@host); remove it")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port outside 0-65535 or not a number
    except ValueError:
        raise BadUrl("malformed-url", "has an invalid port") from None
    if parts.port == 0:
        raise BadUrl("malformed-url", "has an invalid port")
    host = parts.hostname
    if any(c in host for c in "<>\"'`{}|\\^[]%") or host.startswith(".") or ".." in host:
        raise BadUrl("malformed-url", f"has an invalid host name {host!r}")
    try:
        url = safe_url_string(parts._replace(fragment="").geturl())
        urlsplit(url).hostname.encode("ascii")
    except (UnicodeError, ValueError, AttributeError):
        raise BadUrl("malformed-url", f"has a host name that cannot be encoded: {host!r}") from None
    return url, canonical_url(url)
