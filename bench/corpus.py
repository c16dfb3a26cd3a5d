"""A deterministic corpus of real images for the benchmark.

Two mixes: "jpeg" (85% JPEG, 10% PNG with alpha, 5% animated GIF, like a photo site) and
"illustration" (55% JPEG, 40% PNG, 5% GIF, like LOFTER's drawings and comics). Sizes are drawn
from a log-normal distribution with a median of about 60 KB, clipped to 20-500 KB, and every file
is re-encoded until it is within those bounds. The same N, seed, mix and VERSION always give the
same files, so runs on different days compare.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
from pathlib import Path

from PIL import Image

MEDIAN_BYTES = 60_000
MIN_BYTES, MAX_BYTES = 20_000, 500_000
# Bytes per pixel of the noisy pictures below, measured once; only used to pick dimensions.
BYTES_PER_PIXEL = {"jpg": 0.37, "png": 2.0, "gif": 3.3}
# Share of JPEG and of PNG in each mix; the rest are animated GIFs.
MIXES = {"jpeg": (0.85, 0.10), "illustration": (0.55, 0.40)}
# Bumped whenever the same N and seed would give other files, so an old build is not reused.
VERSION = 2


def _picture(rng: random.Random, width: int, height: int, mode: str) -> Image.Image:
    # A smooth gradient plus coarse noise: compresses like a photo, not like a flat colour.
    small = Image.frombytes(mode, (max(width // 4, 1), max(height // 4, 1)), rng.randbytes(
        max(width // 4, 1) * max(height // 4, 1) * len(mode)))  # fmt: skip
    return small.resize((width, height), Image.Resampling.BILINEAR)


def _encode(kind: str, rng: random.Random, target: int) -> bytes:
    # The bytes-per-pixel guess is rough for small GIFs and large PNGs: re-encode at a scaled size
    # until the file lands inside the corpus's bounds.
    pixels = target / BYTES_PER_PIXEL[kind]
    for _ in range(6):
        body = _encode_pixels(kind, rng, pixels)
        if MIN_BYTES <= len(body) <= MAX_BYTES:
            break
        pixels *= target / len(body)
    return body


def _encode_pixels(kind: str, rng: random.Random, pixels: float) -> bytes:
    width = max(int(math.sqrt(pixels * 4 / 3)), 16)
    height = max(int(width * 3 / 4), 16)
    out = io.BytesIO()
    if kind == "jpg":
        _picture(rng, width, height, "RGB").save(out, "JPEG", quality=85)
    elif kind == "png":
        _picture(rng, width, height, "RGBA").save(out, "PNG")
    else:
        frames = [_picture(rng, width, height, "RGB").convert("P") for _ in range(3)]
        frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def build(folder: Path, count: int, seed: int = 20261121, mix: str = "jpeg") -> list[dict]:
    """Write COUNT images of MIX into FOLDER (reusing an earlier identical build) and return their
    list: name, size and SHA-256 of each."""
    jpeg_share, png_share = MIXES[mix]
    index_path = folder / "index.json"
    wanted = (count, seed, VERSION, mix)
    if index_path.exists():
        index = json.loads(index_path.read_text())
        if (index.get("count"), index.get("seed"), index.get("version"), index.get("mix", "jpeg")) == wanted:
            return index["files"]
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    files = []
    for number in range(count):
        roll = rng.random()
        kind = "jpg" if roll < jpeg_share else "png" if roll < jpeg_share + png_share else "gif"
        target = int(min(max(rng.lognormvariate(math.log(MEDIAN_BYTES), 0.7), MIN_BYTES), MAX_BYTES))
        body = _encode(kind, rng, target)
        name = f"{number // 1000:03d}/img-{number:07d}.{kind}"
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        files.append({"name": name, "size": len(body), "sha256": hashlib.sha256(body).hexdigest()})
    index = {"count": count, "seed": seed, "version": VERSION, "mix": mix, "files": files}
    index_path.write_text(json.dumps(index))
    return files
