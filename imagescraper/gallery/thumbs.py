"""WebP thumbnails, made once per image content.

A thumbnail is named after the SHA-256 of the original bytes (``t/ab/<sha>-240.webp``), so the
same picture stored under two URLs, or seen again by a later build, costs one ``stat``. Each
image gets a square crop at two sizes for ``srcset``; formats a browser cannot show (TIFF) also
get a screen-size copy for the image page. JPEGs are decoded at a reduced scale (``draft``),
which is most of the saving for large photos. Files are written under a temporary name and
renamed, the large size last, so the large size existing means the set is whole.
"""

from __future__ import annotations

import math
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, ImageOps

SMALL, LARGE = 240, 480
VIEW = 1600
# What browsers show as they are on the image page; anything else gets a WebP view copy.
BROWSER_FORMATS = frozenset({"JPEG", "PNG", "GIF", "WEBP", "BMP", "ICO", "AVIF"})
_QUALITY = 80
_METHOD = 4


def thumb_path(sha256: str, size: int | str) -> str:
    """Relative to the gallery folder, "/"-separated."""
    return f"t/{sha256[:2]}/{sha256}-{size}.webp"


def needs_view(image_format: str) -> bool:
    return image_format.upper() not in BROWSER_FORMATS


def have_thumbnails(gallery_dir: Path, sha256: str, image_format: str) -> bool:
    last = "view" if needs_view(image_format) else LARGE
    return (gallery_dir / thumb_path(sha256, last)).exists()


def _save(image: Image.Image, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
    try:
        image.save(temp, "WEBP", quality=_QUALITY, method=_METHOD)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _displayable(image: Image.Image) -> Image.Image:
    """RGB or RGBA, whatever the file's mode (16-bit greyscale, CMYK, palette with alpha...)."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        image = image.convert("I").point(lambda v: v / 256).convert("L")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def make_thumbnails(original: Path, gallery_dir: Path, sha256: str, image_format: str) -> None:
    """Write the thumbnails (and the view copy if needed) of one stored image."""
    with Image.open(original) as image:
        width, height = image.size
        if image.format == "JPEG":
            scale = LARGE / min(width, height)
            if scale < 1:
                # draft keeps at least the requested size, so the crop still has LARGE pixels.
                image.draft(image.mode, (math.ceil(width * scale), math.ceil(height * scale)))
        image = _displayable(ImageOps.exif_transpose(image))
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 3  # a little above centre: faces, titles
    box = (left, top, left + side, top + side)
    large_side = min(side, LARGE)
    large = image.resize((large_side, large_side), Image.Resampling.LANCZOS, box=box, reducing_gap=2.0)
    small_side = min(side, SMALL)
    small = large if small_side == large_side else large.resize((small_side, small_side), Image.Resampling.LANCZOS)
    _save(small, gallery_dir / thumb_path(sha256, SMALL))
    _save(large, gallery_dir / thumb_path(sha256, LARGE))
    if needs_view(image_format):
        view = image.copy()
        view.thumbnail((VIEW, VIEW), Image.Resampling.LANCZOS)
        _save(view, gallery_dir / thumb_path(sha256, "view"))


def make_all(jobs: dict[str, tuple[Path, str]], gallery_dir: Path, workers: int) -> dict[str, str]:
    """Make thumbnails for ``{sha256: (original path, format)}`` in *workers* threads (Pillow
    decodes, resizes and encodes without holding the GIL). Returns ``{sha256: error}`` for the
    images that could not be read."""
    failures: dict[str, str] = {}

    def one(item):
        sha, (original, image_format) = item
        try:
            make_thumbnails(original, gallery_dir, sha, image_format)
        except FileNotFoundError:
            failures[sha] = f"{original} is missing"
        except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
            failures[sha] = f"{original} cannot be read ({exc})"

    if workers <= 1 or len(jobs) < 2:
        for item in jobs.items():
            one(item)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, jobs.items()))
    return failures
