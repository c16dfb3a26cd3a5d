from __future__ import annotations

import io

import pytest
from PIL import Image

from demo import images
from imagescraper.validation import RejectedImage, inspect_image

LIMIT = 64_000_000


@pytest.mark.parametrize(
    ("body", "fmt", "ext", "frames"),
    [
        (images.jpeg("v"), "JPEG", ".jpg", 1),
        (images.png_with_alpha("v"), "PNG", ".png", 1),
        (images.animated_gif("v", frames=4), "GIF", ".gif", 4),
        (images.webp("v"), "WEBP", ".webp", 1),
    ],
)
def test_accepted_formats(body, fmt, ext, frames):
    facts = inspect_image(body, max_pixels=LIMIT)
    assert (facts.format, facts.extension, facts.frames) == (fmt, ext, frames)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html><body>403</body></html>", "not-an-image"),
        (b'{"error": "nope"}', "not-an-image"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "not-an-image"),
        (images.truncated(images.jpeg("t", size=(640, 480))), "truncated"),
        (images.truncated(images.png_with_alpha("t", size=(400, 300))), "truncated"),
        (images.truncated(images.animated_gif("t", frames=6)), "truncated"),
        (images.decompression_bomb(), "decompression-bomb"),
    ],
)
def test_rejected_bodies(body, reason):
    with pytest.raises(RejectedImage) as caught:
        inspect_image(body, max_pixels=LIMIT)
    assert caught.value.reason == reason


def test_pixel_and_size_limits():
    body = images.jpeg("limits", size=(300, 200))
    with pytest.raises(RejectedImage, match="decompression-bomb"):
        inspect_image(body, max_pixels=300 * 200 - 1)
    with pytest.raises(RejectedImage, match="too-small"):
        inspect_image(body, max_pixels=LIMIT, min_width=301)
    assert inspect_image(body, max_pixels=300 * 200, min_width=300, min_height=200).width == 300


def test_unsupported_format_is_refused():
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, "PCX")
    with pytest.raises(RejectedImage, match="unsupported-format"):
        inspect_image(out.getvalue(), max_pixels=LIMIT)
