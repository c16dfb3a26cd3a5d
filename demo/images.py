"""Deterministic sample images for the test servers and the demo.

Each image is drawn from its name (a seeded pattern), so the bytes are the same on every run
and tests can compare SHA-256 of stored files with these originals.
"""

from __future__ import annotations

import hashlib
import io
import random
import struct
import zlib

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


def progressive_jpeg(name: str, size=(320, 240)) -> bytes:
    out = io.BytesIO()
    _picture(name, size).save(out, "JPEG", quality=85, progressive=True)
    return out.getvalue()


def animated_png(name: str, size=(120, 90), frames: int = 3) -> bytes:
    pictures = [_picture(f"{name}#{index}", size, "RGBA") for index in range(frames)]
    out = io.BytesIO()
    pictures[0].save(out, "PNG", save_all=True, append_images=pictures[1:], duration=100, loop=0)
    return out.getvalue()


def animated_webp(name: str, size=(120, 90), frames: int = 3) -> bytes:
    pictures = [_picture(f"{name}#{index}", size) for index in range(frames)]
    out = io.BytesIO()
    pictures[0].save(out, "WEBP", save_all=True, append_images=pictures[1:], duration=100, loop=0)
    return out.getvalue()


def png(name: str, size=(200, 150), mode: str = "RGB", **options) -> bytes:
    """A PNG of any Pillow mode ("1", "L", "P", "I;16", "LA", "RGBA"...), interlaced with interlace=1."""
    image = _picture(name, size)
    image = image.convert("P") if mode == "P" else image.convert(mode)
    out = io.BytesIO()
    image.save(out, "PNG", **options)
    return out.getvalue()


# -- Broken images: each one a way a download goes wrong ---------------------------------------


def jpeg_scan_start(body: bytes) -> int:
    """Where the entropy-coded data of a baseline JPEG's scan begins (just after its SOS header)."""
    sos = body.index(b"\xff\xda")
    return sos + 2 + int.from_bytes(body[sos + 2 : sos + 4], "big")


def without_end_marker(body: bytes) -> bytes:
    """A JPEG cut just before its end-of-image marker: every scan byte is there, the file is not."""
    assert body.endswith(b"\xff\xd9")
    return body[:-2]


def jpeg_garbage_scan(name: str, size=(320, 240)) -> bytes:
    """A valid JPEG header, then random bytes where the picture should be, then the end marker.

    No 0xFF in the noise, so there is no stray marker: libjpeg decodes it with only a warning
    ("Corrupt JPEG data"), which plain Pillow ignores, and shows a grey or scrambled picture."""
    body = jpeg(name, size)
    start = jpeg_scan_start(body)
    noise = bytes(byte % 255 for byte in _rng(name).randbytes(len(body) - start - 2))
    return body[:start] + noise + b"\xff\xd9"


def jpeg_damaged_middle(name: str, size=(320, 240)) -> bytes:
    """A JPEG with 200 bytes in the middle of its scan overwritten (a flipped-bits download)."""
    body = jpeg(name, size)
    middle = len(body) // 2
    noise = bytes(byte % 255 for byte in _rng(name).randbytes(200))
    return body[:middle] + noise + body[middle + 200 :]


def png_chunks(body: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 8
    while pos < len(body):
        length, kind = struct.unpack_from(">I4s", body, pos)
        chunks.append((kind, body[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def png_from_chunks(chunks: list[tuple[bytes, bytes]]) -> bytes:
    """A PNG with correct CRCs around whatever the chunks hold."""
    out = [b"\x89PNG\r\n\x1a\n"]
    for kind, data in chunks:
        out.append(struct.pack(">I4s", len(data), kind) + data + struct.pack(">I", zlib.crc32(kind + data)))
    return b"".join(out)


def png_garbage_data(name: str) -> bytes:
    """A PNG whose header chunks are valid and whose image data is random bytes, CRCs recomputed:
    only inflating the data shows it is not an image."""
    chunks = [(k, _rng(name).randbytes(len(d)) if k == b"IDAT" else d) for k, d in png_chunks(png_with_alpha(name))]
    return png_from_chunks(chunks)


def png_short_data(name: str) -> bytes:
    """A PNG whose zlib stream is complete but holds half the rows its size needs."""
    body = png_with_alpha(name)
    raw = zlib.decompress(b"".join(d for k, d in png_chunks(body) if k == b"IDAT"))
    chunks = [(k, d) for k, d in png_chunks(body) if k != b"IDAT"]
    chunks.insert(-1, (b"IDAT", zlib.compress(raw[: len(raw) // 2])))
    return png_from_chunks(chunks)


def png_short_stream(name: str) -> bytes:
    """A PNG whose IDAT holds only the first half of its zlib stream, CRCs and IEND intact."""
    chunks = png_chunks(png_with_alpha(name))
    return png_from_chunks([(k, d[: len(d) // 2] if k == b"IDAT" else d) for k, d in chunks])


def png_bad_crc(name: str) -> bytes:
    """A PNG with one byte of its image data changed (the chunk's CRC no longer matches)."""
    body = bytearray(png_with_alpha(name))
    body[body.index(b"IDAT") + 40] ^= 0x55
    return bytes(body)


def png_without_end(name: str) -> bytes:
    """A PNG with all of its image data but without its IEND chunk."""
    return png_with_alpha(name)[:-12]


def apng_missing_frame(name: str) -> bytes:
    """An APNG that declares more frames than it holds: Pillow warns and shows a still."""
    chunks = png_chunks(animated_png(name, frames=3))
    last_control = max(i for i, (kind, _) in enumerate(chunks) if kind == b"fcTL")
    return png_from_chunks([c for i, c in enumerate(chunks) if i < last_control or c[0] in (b"IEND",)])


def png_bad_filter(name: str) -> bytes:
    """A PNG whose zlib stream is sound but whose last row names filter type 7 (there are five)."""
    body = png(name, size=(40, 30))
    raw = bytearray(zlib.decompress(b"".join(d for k, d in png_chunks(body) if k == b"IDAT")))
    raw[len(raw) - (1 + 40 * 3)] = 7
    chunks = [(k, d) for k, d in png_chunks(body) if k != b"IDAT"]
    chunks.insert(-1, (b"IDAT", zlib.compress(bytes(raw))))
    return png_from_chunks(chunks)


def apng_zero_frames(name: str) -> bytes:
    """An APNG whose animation control chunk says 0 frames: Pillow warns and shows only the still."""
    chunks = png_chunks(animated_png(name))
    return png_from_chunks([(k, b"\0\0\0\0" + d[4:] if k == b"acTL" else d) for k, d in chunks])


def icon_of_the_wrong_size(name: str) -> bytes:
    """An ICO whose directory promises 48x48 for a 32x32 picture: Pillow warns about it."""
    out = io.BytesIO()
    _picture(name, (32, 32), "RGBA").save(out, "ICO", sizes=[(32, 32)])
    body = bytearray(out.getvalue())
    body[6:8] = bytes([48, 48])
    return bytes(body)


def after_header(body: bytes, keep: int) -> bytes:
    """The first KEEP bytes of an image (its header), then random bytes to the original length."""
    return body[:keep] + _rng(str(keep)).randbytes(len(body) - keep)


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
