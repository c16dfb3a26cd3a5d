"""When two image URLs are the same image: one canonical form, and one digest of it.

Every component that asks "have we seen this URL?" (the spiders' per-run sets, the store's
lookups, the stored file names) goes through here, so they can never disagree.
"""

from __future__ import annotations

import hashlib

from w3lib.url import canonicalize_url


def canonical_url(url: str) -> str:
    """The URL as compared: host in lower case, query arguments sorted, no ``#fragment``."""
    return canonicalize_url(url)


def _sha256(canonical: str) -> bytes:
    return hashlib.sha256(canonical.encode("utf-8")).digest()


def url_digest(canonical: str) -> str:
    """16 hex digits naming *canonical* in stored file names.

    Part of every stored path: changing it would store every URL a second time.
    """
    return _sha256(canonical).hex()[:16]


def url_fingerprint(canonical: str) -> int:
    """The same digest as an 8-byte integer: a set of a million of them stays a few tens of MB."""
    return int.from_bytes(_sha256(canonical)[:8], "big")
