"""Turning untrusted text (titles, URLs) into names inside the image store.

Every path segment the project builds from text it did not write itself goes through
:func:`clean_segment`; :func:`store_relpath` joins the cleaned pieces and is the only place a
relative store path is assembled.
"""

from __future__ import annotations

import re
import unicodedata
from posixpath import splitext
from urllib.parse import unquote, urlsplit

from imagescraper.identity import url_digest

# ext4, XFS and most other Linux file systems cap one name at 255 bytes.
NAME_MAX_BYTES = 255

# Characters that are legal on Linux but break other systems the store may be copied to
# (Windows, FAT USB sticks) or need escaping in the served URL.
_RESERVED = set('/\\:*?"<>|#%')
_WHITESPACE_RUN = re.compile(r"\s+")


def _is_unwanted(char: str) -> bool:
    # Cc: control characters (newlines, tabs, DEL, C1); Cf: invisible format characters
    # (zero-width spaces, bidi overrides that can make a name read backwards); Cs/Co/Cn:
    # surrogates, private use and unassigned code points.
    return unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn"}


def _truncate_utf8(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def clean_segment(text: str | None, *, fallback: str = "untitled", max_bytes: int = 120) -> str:
    """Return *text* as one safe, readable path segment.

    The result never contains ``/`` or ``\\``, control or invisible characters, never starts
    with a dot (no hidden files, never ``.`` or ``..``), is never empty and is at most
    *max_bytes* long in UTF-8. Chinese and other non-ASCII text, and emoji, are kept.
    """
    if not 0 < max_bytes <= NAME_MAX_BYTES:
        raise ValueError(f"max_bytes must be between 1 and {NAME_MAX_BYTES}, got {max_bytes}")
    text = unicodedata.normalize("NFC", text or "")
    chars = []
    for char in text:
        if char in _RESERVED:
            chars.append("_")
        elif char.isspace():
            chars.append(" ")
        elif not _is_unwanted(char):
            chars.append(char)
    cleaned = _WHITESPACE_RUN.sub(" ", "".join(chars))
    cleaned = _truncate_utf8(cleaned.strip(" ._"), max_bytes).strip(" ._")
    if cleaned:
        return cleaned
    if fallback == "untitled":
        return fallback
    # The fallback may itself come from untrusted text (an excerpt, say): clean it too.
    return clean_segment(fallback, max_bytes=max_bytes)


def item_folders(
    *, post_title: str | None, blog_name: str | None = None, post_id: str | None = None, post_excerpt: str | None = None
) -> list[str]:
    """The store folders of an item's images, each cleaned from untrusted text.

    ``STORE/<blog>/<title>_<post id>/`` for a post of a blog, ``STORE/<title>/`` otherwise; the
    post id keeps folders unique and stable when titles repeat, and the excerpt names a post
    whose title cleans to nothing.
    """
    folders = []
    if blog_name:
        folders.append(clean_segment(blog_name, fallback="blog"))
    if post_id:
        post_id = clean_segment(post_id, fallback="post", max_bytes=40)
        title = clean_segment(post_title, fallback=post_excerpt or "untitled", max_bytes=200)
        folders.append(f"{title}_{post_id}")
    else:
        folders.append(clean_segment(post_title, fallback="untitled", max_bytes=200))
    return folders


def image_file_name(url: str, extension: str) -> str:
    """The stored file name for *url*: its own readable name plus a digest of the URL.

    ``http://host/images/271947.jpg`` becomes ``271947-<16 hex>.jpg``; the digest keeps two
    different URLs with the same last segment apart, and *extension* (``.png``...) is the real
    format of the bytes, not whatever the URL claims.
    """
    last = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    stem, _ = splitext(last)
    readable = clean_segment(stem, fallback="image", max_bytes=100)
    return f"{readable}-{url_digest(url)}{extension}"


def store_relpath(folders: list[str], file_name: str) -> str:
    """Join already-cleaned *folders* and *file_name* into a relative store path."""
    for part in (*folders, file_name):
        if "/" in part:
            raise ValueError(f"unsafe path segment {part!r}")
    return checked_relpath("/".join([*folders, file_name]))


def checked_relpath(path: str) -> str:
    """Return *path* if every segment is one :func:`clean_segment` could have made, else raise.

    A belt to its braces: a path that could leave the store (``..``, an absolute path, a
    hidden name) is a bug, or a ``file_path`` override gone wrong, never something to write.
    """
    for part in path.split("/"):
        if not part or part in {".", ".."} or "\\" in part or part.startswith("."):
            raise ValueError(f"unsafe path segment {part!r} in {path!r}")
        if len(part.encode("utf-8")) > NAME_MAX_BYTES:
            raise ValueError(f"path segment longer than {NAME_MAX_BYTES} bytes: {part!r}")
    return path
