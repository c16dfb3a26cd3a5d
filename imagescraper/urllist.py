"""Reading a plaintext file of image URLs, one per line, without loading it whole.

Pure functions over a binary stream: :func:`read_url_lines` yields an :class:`AcceptedUrl` or
a :class:`RejectedLine` per non-blank, non-comment line, so the spider only decides what to
fetch, and the rules are tested without Scrapy. A bad line costs that line only; the whole
file is refused only when it is clearly not text (see ``textfile.py``).

URLs are taken as a browser's address bar takes them: the scheme in any case, spaces and
non-ASCII characters in the path and query percent-encoded (UTF-8), an internationalised host
name IDNA-encoded (the address guard then checks it like any other host).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urlsplit

from w3lib.url import safe_url_string

from imagescraper.identity import canonical_url
from imagescraper.startup_errors import InputError
from imagescraper.textfile import NotText, as_utf8_stream

FETCHED_SCHEMES = ("http", "https")
# Unicode's control characters (category Cc), the tab included: no URL holds one.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# Another URL after whitespace: two URLs pasted on one line, not one URL with a space in it.
_SECOND_URL = re.compile(r"\s[A-Za-z][A-Za-z0-9+.-]*://")
# A host name once IDNA-encoded: letters, digits, hyphens and underscores in dot-separated labels.
_HOST_NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$")
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
    """Open *path* as a stream of UTF-8 lines, or raise :class:`InputError` with a one-line reason."""
    if not path:
        raise InputError("no URL file given: pass one with -a path=FILE")
    if os.path.isdir(path):
        raise InputError(f"URL file {path!r} is a directory: pass a plaintext file with one URL per line")
    try:
        stream = open(path, "rb")  # noqa: SIM115 - the spider closes it when done
    except FileNotFoundError:
        raise InputError(
            f"URL file {path!r} does not exist ({os.path.abspath(path)}): check the path given with -a path="
        ) from None
    except PermissionError:
        raise InputError(f"URL file {path!r} is not readable: check its permissions") from None
    except OSError as exc:
        raise InputError(f"URL file {path!r} cannot be opened: {exc.strerror}") from None
    try:
        return as_utf8_stream(stream)
    except OSError as exc:
        stream.close()
        raise InputError(f"URL file {path!r} cannot be read: {exc.strerror}") from None
    except NotText as not_text:
        stream.close()
        raise InputError(
            f"URL file {path!r} is not a UTF-8 text file ({not_text}): give a plaintext file with one URL per line"
        ) from None


def read_url_lines(stream: BinaryIO, *, max_length: int = 2048) -> Iterator[AcceptedUrl | RejectedLine]:
    """Yield one result per meaningful line of *stream* (UTF-8 bytes), reading one line at a time.

    Blank lines and lines starting with ``#`` are skipped silently. A line longer than
    *max_length* bytes is rejected and skipped without being held in memory.
    """
    encoding = getattr(stream, "encoding_name", "UTF-8")
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
        try:
            # A byte-order mark inside the file is what concatenating two saved lists leaves.
            text = raw.decode("utf-8").strip().lstrip("\ufeff").strip()
        except UnicodeDecodeError as bad:
            column = len(raw[: bad.start].decode("utf-8", "replace")) + 1
            yield RejectedLine(line_number, "invalid-encoding", f"is not valid {encoding} text (at column {column})")
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
    control = _CONTROL.search(text)
    if control:
        char = control.group()
        name = "a NUL byte" if char == "\0" else f"the control character U+{ord(char):04X}"
        raise BadUrl("control-characters", f"contains {name} (at column {control.start() + 1})")
    if _SECOND_URL.search(text):
        raise BadUrl("malformed-url", "holds more than one URL: put one URL per line")
    match = _SCHEME.match(text)
    if not match:
        raise BadUrl("relative-url", "is not an absolute URL (it needs http:// or https://)")
    scheme = match.group(1).lower()
    if scheme not in FETCHED_SCHEMES:
        if _HOST_PORT_WITHOUT_SCHEME.match(text):
            raise BadUrl("relative-url", "is not an absolute URL (it needs http:// or https://)")
        raise BadUrl("unsupported-scheme", f"uses the {scheme}: scheme; only http and https URLs are fetched")
    try:
        parts = urlsplit(_backslashes_as_slashes(text))
    except ValueError as exc:
        raise BadUrl("malformed-url", f"cannot be parsed as a URL ({exc})") from None
    if not parts.netloc or not parts.hostname:
        raise BadUrl("malformed-url", "has no host name")
    if parts.username is not None or parts.password is not None:
        raise BadUrl("credentials-in-url", "carries a user name or password (user@host); remove it")
    try:
        port = parts.port  # raises ValueError for a port outside 0-65535 or not a number
    except ValueError:
        raise BadUrl("malformed-url", "has an invalid port") from None
    if port == 0:
        raise BadUrl("malformed-url", "has an invalid port")
    url = safe_url_string(parts._replace(fragment="").geturl(), encoding="utf-8")
    host = urlsplit(url).hostname or ""
    if not (_HOST_NAME.match(host) or host.startswith("[") or ":" in host):
        raise BadUrl("malformed-url", f"has an invalid host name {parts.hostname!r}")
    return url, canonical_url(url)


def _backslashes_as_slashes(text: str) -> str:
    # Browsers read a backslash before the query as a slash in http(s) URLs.
    end = min((i for i in (text.find("?"), text.find("#")) if i >= 0), default=len(text))
    return text[:end].replace("\\", "/") + text[end:]
