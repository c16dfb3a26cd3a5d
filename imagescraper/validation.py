"""Deciding whether downloaded bytes are a complete image worth storing.

A pure function of the bytes: :func:`inspect_image` reads the header with Pillow, refuses
decompression bombs before anything is decoded, and then proves that all of the image's data is
there and intact: JPEG and PNG with the cheaper checks of ``imagedata.py`` (every compressed byte
read, no pixels built), the other formats by decoding every frame with Pillow. A warning from
Pillow's decoders (an APNG it falls back to a still for, an icon of the wrong size) is a failure
too: it means pixels the browser would not show. It reports the real format so the stored file
gets the right extension. It is CPU work, so the pipeline runs it in a thread, off the event loop.
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import PIL
from PIL import Image, UnidentifiedImageError

from imagescraper.imagedata import CorruptData, check_jpeg, check_png

# Formats a browser shows, with the extension their files get. Anything else Pillow can read
# (PSD, PCX, EPS...) is refused: the store is served to web browsers.
EXTENSIONS = {
    "JPEG": ".jpg",
    # A JPEG with more pictures appended (cameras' previews, 3D photos); browsers show the first.
    "MPO": ".jpg",
    "PNG": ".png",
    "GIF": ".gif",
    "WEBP": ".webp",
    "BMP": ".bmp",
    "TIFF": ".tif",
    "ICO": ".ico",
    "AVIF": ".avif",
}
# Warnings from Pillow about metadata only: the pixels are all there.
_HARMLESS_WARNINGS = ("XMP data", "Image appears to be a malformed MPO", "Corrupt EXIF", "Possibly corrupt EXIF",
                      "Metadata Warning")  # fmt: skip
_PIL_DIR = os.path.dirname(PIL.__file__)
# warnings.catch_warnings swaps module-wide state: one image at a time may be inside it.
_warnings_lock = threading.Lock()
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
    with _pillow_warnings_fail():
        try:
            image = Image.open(io.BytesIO(body))
        except Image.DecompressionBombError as exc:
            raise RejectedImage("decompression-bomb", str(exc)) from None
        except Exception as exc:  # Pillow plugins raise assorted errors on garbage headers
            signature = _signature(body)
            if signature:
                # Pillow's "cannot identify image file <_io.BytesIO object at 0x...>" says nothing more.
                why = f" ({exc})" if not isinstance(exc, UnidentifiedImageError) else ""
                raise RejectedImage("truncated", f"{signature} image whose header is cut or damaged{why}") from None
            if isinstance(exc, UnidentifiedImageError):
                raise RejectedImage("not-an-image", _describe_non_image(body)) from None
            raise RejectedImage("not-an-image", f"unreadable image header ({exc})") from None
        with image:
            return _check_data(image, body, (max_pixels, max_decoded_bytes), min_width, min_height)


def _check_data(
    image: Image.Image, body: bytes, limits: tuple[int | None, int | None], min_width: int, min_height: int
) -> ImageFacts:
    fmt = image.format or ""
    if fmt not in EXTENSIONS:
        raise RejectedImage("unsupported-format", f"{fmt or 'unknown'} images are not stored")
    width, height = image.size
    max_pixels, max_bytes = limits
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
        if fmt in ("JPEG", "MPO"):
            check_jpeg(body)
            return ImageFacts("JPEG", ".jpg", width, height, 1)
        if fmt == "PNG":
            frames = image.n_frames  # from the acTL chunk, read with the header
            _limit_frames(frames, width, height, frame_bytes, limits)
            frames = check_png(body)
        else:
            frames = getattr(image, "n_frames", 1)  # counting frames reads through the whole file
            _limit_frames(frames, width, height, frame_bytes, limits)
            for index in range(frames):
                image.seek(index)
                image.load()
    except (RejectedImage, CorruptData):
        raise
    except Image.DecompressionBombError as exc:
        raise RejectedImage("decompression-bomb", str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - plugins fail on cut data with OSError, IndexError, struct.error...
        raise RejectedImage(
            "truncated", f"the image data is incomplete or corrupt ({type(exc).__name__}: {exc})"
        ) from None
    return ImageFacts(fmt, EXTENSIONS[fmt], width, height, frames)


def _limit_frames(frames: int, width: int, height: int, frame_bytes: int, limits: tuple[int | None, int | None]):
    max_pixels, max_bytes = limits
    too_many_pixels = max_pixels is not None and frames * width * height > max_pixels * ANIMATION_BUDGET
    if too_many_pixels or (max_bytes is not None and frames * frame_bytes > max_bytes * ANIMATION_BUDGET):
        raise RejectedImage("decompression-bomb", f"{frames} frames of {width}x{height} is too much to decode")


@contextmanager
def _pillow_warnings_fail():
    """Turn what Pillow's plugins warn about while reading an image into a ``truncated`` failure,
    and corrupt compressed data (``CorruptData``) into the same; warnings from elsewhere are shown
    as usual."""
    with _warnings_lock:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # Pillow only warns between its own limit and twice that; our limit is checked instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                yield
            except CorruptData as exc:
                raise RejectedImage("truncated", f"the image data is incomplete or corrupt ({exc})") from None
    lost = None
    for record in caught:
        text = str(record.message)
        if record.filename.startswith(_PIL_DIR):
            if lost is None and not text.startswith(_HARMLESS_WARNINGS):
                lost = text
        else:
            warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)
    if lost is not None:
        raise RejectedImage("truncated", f"Pillow could not read all of the image ({lost})")


def _signature(body: bytes) -> str | None:
    """The format a body's first bytes announce (a cut or damaged image), or None."""
    if body.startswith(b"\xff\xd8\xff"):
        return "a JPEG"
    if body.startswith(b"\x89PNG\r\n\x1a\n"):
        return "a PNG"
    if body.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF"
    if body.startswith(b"RIFF") and body[8:12] == b"WEBP":
        return "a WebP"
    return None


def _describe_non_image(body: bytes) -> str:
    head = body[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<body" in head:
        return "the body is an HTML page, not an image"
    if head.startswith((b"{", b"[")):
        return "the body is JSON or text, not an image"
    if head.startswith(b"<svg") or b"<svg" in head:
        return "the body is an SVG drawing, which is not stored (it can carry scripts)"
    return "the body is not an image Pillow can read"
