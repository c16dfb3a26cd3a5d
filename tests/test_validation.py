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
        (images.progressive_jpeg("v"), "JPEG", ".jpg", 1),
        (images.jpeg("v") + b"trailing bytes after the end marker", "JPEG", ".jpg", 1),
        (images.animated_png("v", frames=3), "PNG", ".png", 3),
        (images.animated_webp("v", frames=3), "WEBP", ".webp", 3),
        (images.png("v", mode="RGBA", interlace=1), "PNG", ".png", 1),
    ],
)
def test_accepted_formats(body, fmt, ext, frames):
    facts = inspect_image(body, max_pixels=LIMIT)
    assert (facts.format, facts.extension, facts.frames) == (fmt, ext, frames)


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_grey_and_cmyk_jpegs_are_accepted(mode):
    out = io.BytesIO()
    Image.open(io.BytesIO(images.jpeg(mode))).convert(mode).save(out, "JPEG")
    facts = inspect_image(out.getvalue(), max_pixels=LIMIT)
    assert (facts.format, facts.width, facts.height) == ("JPEG", 320, 240)
    with pytest.raises(RejectedImage, match="truncated"):
        inspect_image(images.without_end_marker(out.getvalue()), max_pixels=LIMIT)


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
@pytest.mark.parametrize("interlace", [0, 1])
@pytest.mark.parametrize("size", [(2, 2), (7, 3), (201, 149)])
def test_every_png_layout_is_accepted(mode, interlace, size):
    """The PNG check computes each layout's row sizes itself: bit depths, channels, Adam7 passes."""
    body = images.png(f"{mode}{size}", size=size, mode=mode, interlace=interlace)
    facts = inspect_image(body, max_pixels=LIMIT)
    assert (facts.format, facts.width, facts.height) == ("PNG", *size)


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
        # JPEG: the end marker missing, garbage or damage that libjpeg only warns about
        (images.without_end_marker(images.jpeg("t", size=(640, 480))), "truncated"),
        (images.without_end_marker(images.progressive_jpeg("t")), "truncated"),
        (images.jpeg_garbage_scan("t"), "truncated"),
        (images.jpeg_damaged_middle("t"), "truncated"),
        (images.after_header(images.jpeg("t"), images.jpeg_scan_start(images.jpeg("t"))), "truncated"),
        # PNG: a cut, a damaged byte, a missing IEND, garbage data behind valid CRCs, too few rows
        (images.png_bad_crc("t"), "truncated"),
        (images.png_without_end("t"), "truncated"),
        (images.png_garbage_data("t"), "truncated"),
        (images.png_short_data("t"), "truncated"),
        (images.png_short_stream("t"), "truncated"),
        (images.apng_missing_frame("t"), "truncated"),
        (images.apng_zero_frames("t"), "truncated"),
        (images.png_bad_filter("t"), "truncated"),
        (images.icon_of_the_wrong_size("t"), "truncated"),
        (images.truncated(images.animated_png("t")), "truncated"),
        (images.after_header(images.png_with_alpha("t"), 33), "truncated"),
        # GIF and WebP: valid headers, then noise
        (images.after_header(images.animated_gif("t"), 800), "truncated"),
        (images.truncated(images.animated_webp("t")), "truncated"),
    ],
)
def test_rejected_bodies(body, reason):
    with pytest.raises(RejectedImage) as caught:
        inspect_image(body, max_pixels=LIMIT)
    assert caught.value.reason == reason


@pytest.mark.parametrize("body", [images.jpeg_garbage_scan("t"), images.jpeg_damaged_middle("t")])
def test_the_broken_jpegs_fool_plain_pillow(body):
    """Canary: Pillow silences libjpeg's warnings and decodes these without a word, so only the
    strict check catches them; a weakened check lets them through."""
    with Image.open(io.BytesIO(body)) as image:
        image.load()


def test_the_garbage_png_has_valid_crcs():
    """Canary: every chunk of this sample passes its CRC; only inflating its data shows the garbage."""
    body = images.png_garbage_data("t")
    assert images.png_from_chunks(images.png_chunks(body)) == body


def test_what_a_failure_says():
    with pytest.raises(RejectedImage, match=r"truncated: .*libjpeg: Corrupt JPEG data"):
        inspect_image(images.jpeg_garbage_scan("t"), max_pixels=LIMIT)
    with pytest.raises(RejectedImage, match=r"truncated: .*zlib stream does not reach its end"):
        inspect_image(images.png_short_stream("t"), max_pixels=LIMIT)
    with pytest.raises(RejectedImage, match=r"truncated: .*IDAT chunk at byte \d+ fails its CRC"):
        inspect_image(images.png_bad_crc("t"), max_pixels=LIMIT)


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


@pytest.mark.parametrize("cut", [500, 100, 4])
def test_a_jpeg_cut_inside_its_header_is_truncated_not_a_non_image(cut):
    body = images.jpeg("t", size=(640, 480))[:cut]  # a real JPEG, as a dropped connection leaves it
    with pytest.raises(RejectedImage) as caught:
        inspect_image(body, max_pixels=LIMIT)
    assert caught.value.reason == "truncated"
    assert caught.value.detail.startswith("a JPEG image whose header is cut or damaged")
    assert "BytesIO" not in caught.value.detail
