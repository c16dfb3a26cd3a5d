"""Deterministic sample images for the test servers and the demo.

Each image is drawn from its name (a seeded pattern), so the bytes are the same on every run
and tests can compare SHA-256 of stored files with these originals.
"""

from __future__ import annotations

import hashlib
import io
import random

from PIL import Image, ImageDraw


def _rng(name: str) -> random.Random:
    return random.Random(hashlib.sha256(name.encode("utf-8")).digest())


def _picture(name: str, size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    rng = _rng(name)
    image = Image.new(mode, size, (rng.randrange(256), rng.randrange(256), rng.randrange(256), 255)[: len(mode)])
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        box = (x0, y0, x0 + rng.randrange(1, size[0]), y0 + rng.randrange(1, size[1]))
        colour = tuple(rng.randrange(256) for _ in mode)
        draw.ellipse(box, fill=colour)
    return image


def jpeg(name: str, size=(320, 240), quality: int = 90) -> bytes:
    out = io.BytesIO()
    _picture(name, size).save(out, "JPEG", quality=quality)
    return out.getvalue()


def png_with_alpha(name: str, size=(200, 150)) -> bytes:
    image = _picture(name, size, "RGBA")
    # A fully transparent band whose hidden colour is not white: re-encoding would show it.
    ImageDraw.Draw(image).rectangle((0, 0, size[0], size[1] // 3), fill=(0, 0, 255, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def animated_gif(name: str, size=(120, 90), frames: int = 3) -> bytes:
    pictures = [_picture(f"{name}#{index}", size).convert("P") for index in range(frames)]
    out = io.BytesIO()
    pictures[0].save(out, "GIF", save_all=True, append_images=pictures[1:], duration=100, loop=0)
    return out.getvalue()


def webp(name: str, size=(160, 120)) -> bytes:
    out = io.BytesIO()
    _picture(name, size, "RGBA").save(out, "WEBP", quality=80)
    return out.getvalue()


def decompression_bomb() -> bytes:
    """A 24 KB PNG that would decode to 200 million pixels."""
    out = io.BytesIO()
    Image.new("1", (20000, 10000)).save(out, "PNG")
    return out.getvalue()


def truncated(body: bytes) -> bytes:
    return body[: len(body) * 2 // 3]


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
