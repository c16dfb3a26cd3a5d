"""Deciding whether downloaded bytes are a complete image worth storing.

A pure function of the bytes: :func:`inspect_image` decodes every frame with Pillow (a
truncated file fails here, not in the user's viewer), refuses decompression bombs before
decoding, and reports the real format so the stored file gets the right extension. It is
CPU work, so the pipeline runs it in a thread, off the event loop.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

# Formats a browser shows, with the extension their files get. Anything else Pillow can read
# (PSD, PCX, EPS...) is refused: the store is served to web browsers.
EXTENSIONS = {
    "JPEG": ".jpg",
    "PNG": ".png",
    "GIF": ".gif",
    "WEBP": ".webp",
    "BMP": ".bmp",
    "TIFF": ".tif",
    "ICO": ".ico",
    "AVIF": ".avif",
}
# An animation may decode this many times the per-frame limit over all its frames.
ANIMATION_BUDGET = 8
# Pillow keeps one byte a pixel for these modes, two for 16-bit grey and four for the rest.
_ONE_BYTE_MODES = frozenset({"1", "L", "P"})


def decoded_bytes(mode: str, width: int, height: int) -> int:
    """Memory one decoded frame takes in Pillow: what a decompression bomb exhausts."""
    per_pixel = 1 if mode in _ONE_BYTE_MODES else 2 if mode.startswith("I;16") else 4
    return width * height * per_pixel


@dataclass(frozen=True)
class ImageFacts:
    format: str
    extension: str
    width: int
    height: int
    frames: int


class RejectedImage(Exception):
    """The body is not a complete, acceptable image. ``reason`` is a short stats key."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def inspect_image(
    body: bytes,
    *,
    max_pixels: int | None = None,
    max_decoded_bytes: int | None = None,
    min_width: int = 0,
    min_height: int = 0,
) -> ImageFacts:
    """Check *body*; the size limit is on decoded bytes (runs use that), or pixels, or both."""
    if not body:
        raise RejectedImage("empty", "the server sent an empty body")
    with warnings.catch_warnings():
        # Pillow only warns between its own limit and twice that; our limit is checked below.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(body))
        except Image.DecompressionBombError as exc:
            raise RejectedImage("decompression-bomb", str(exc)) from None
        except UnidentifiedImageError:
            raise RejectedImage("not-an-image", _describe_non_image(body)) from None
        except Exception as exc:  # Pillow plugins raise assorted errors on garbage headers
            raise RejectedImage("not-an-image", f"unreadable image header ({exc})") from None
        with image:
            return _check_decoded(image, max_pixels, max_decoded_bytes, min_width, min_height)


def _check_decoded(
    image: Image.Image, max_pixels: int | None, max_bytes: int | None, min_width: int, min_height: int
) -> ImageFacts:
    fmt = image.format or ""
    if fmt not in EXTENSIONS:
        raise RejectedImage("unsupported-format", f"{fmt or 'unknown'} images are not stored")
    width, height = image.size
    frame_bytes = decoded_bytes(image.mode, width, height)
    if max_pixels is not None and width * height > max_pixels:
        raise RejectedImage("decompression-bomb", f"{width}x{height} is more than {max_pixels} pixels")
    if max_bytes is not None and frame_bytes > max_bytes:
        raise RejectedImage(
            "decompression-bomb",
            f"{width}x{height} ({image.mode}) would take {frame_bytes} bytes decoded, more than {max_bytes} "
            "(IMAGESCRAPER_MAX_DECODED_BYTES)",
        )
    if width < min_width or height < min_height:
        raise RejectedImage("too-small", f"{width}x{height} is below {min_width}x{min_height}")
    try:
        frames = getattr(image, "n_frames", 1)  # counting frames reads through the whole file
        too_many_pixels = max_pixels is not None and frames * width * height > max_pixels * ANIMATION_BUDGET
        if too_many_pixels or (max_bytes is not None and frames * frame_bytes > max_bytes * ANIMATION_BUDGET):
            raise RejectedImage("decompression-bomb", f"{frames} frames of {width}x{height} is too much to decode")
        for index in range(frames):
            image.seek(index)
            image.load()
    except RejectedImage:
        raise
    except Image.DecompressionBombError as exc:
        raise RejectedImage("decompression-bomb", str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - plugins fail on cut data with OSError, IndexError, struct.error...
        raise RejectedImage(
            "truncated", f"the image data is incomplete or corrupt ({type(exc).__name__}: {exc})"
        ) from None
    return ImageFacts(fmt, EXTENSIONS[fmt], width, height, frames)


def _describe_non_image(body: bytes) -> str:
    head = body[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<body" in head:
        return "the body is an HTML page, not an image"
    if head.startswith((b"{", b"[")):
        return "the body is JSON or text, not an image"
    if head.startswith(b"<svg") or b"<svg" in head:
        return "the body is an SVG drawing, which is not stored (it can carry scripts)"
    return "the body is not an image Pillow can read"
