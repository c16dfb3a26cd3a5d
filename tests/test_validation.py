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


@pytest.mark.slow
def test_the_limit_is_on_decoded_bytes_so_long_strips_pass():
    """A 1080 x 60,000 px LOFTER strip (64.8 million pixels) is stored under the default limit;
    the 200-million-pixel bomb, and a colour image of the same memory, are not."""
    from imagescraper.settings import IMAGESCRAPER_MAX_DECODED_BYTES as DEFAULT

    out = io.BytesIO()
    Image.new("RGB", (1080, 60000), (200, 180, 160)).save(out, "JPEG", quality=60)
    facts = inspect_image(out.getvalue(), max_decoded_bytes=DEFAULT)
    assert (facts.width, facts.height) == (1080, 60000)
    with pytest.raises(RejectedImage) as caught:
        inspect_image(images.decompression_bomb(), max_decoded_bytes=DEFAULT)
    assert caught.value.reason == "decompression-bomb"
    colour = images.jpeg("limits", size=(300, 200))  # decoded: 4 bytes a pixel
    with pytest.raises(RejectedImage, match="IMAGESCRAPER_MAX_DECODED_BYTES"):
        inspect_image(colour, max_decoded_bytes=300 * 200 * 4 - 1)
    assert inspect_image(colour, max_decoded_bytes=300 * 200 * 4).width == 300
