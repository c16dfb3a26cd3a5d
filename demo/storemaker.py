"""Image stores made by hand, in the layout and manifest format the pipeline writes.

The gallery's tests and benchmark need stores with chosen titles (hostile ones too), many
albums, or a hundred thousand manifest lines pointing at a few real files, without crawling.
Each image is written under ``<folders>/<name>`` and described by one manifest line with the
fields listed in the README ("How images are stored").
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image

from imagescraper.paths import clean_segment

_START = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def folder_for(title: str, post_id: str | None = None, blog: str | None = None) -> list[str]:
    """Folders as the pipeline names them: ``[blog, title_postid]`` or ``[title]``."""
    folders = [clean_segment(blog, fallback="blog")] if blog else []
    if post_id:
        folders.append(f"{clean_segment(title, fallback='untitled', max_bytes=200)}_{post_id}")
    else:
        folders.append(clean_segment(title, fallback="untitled", max_bytes=200))
    return folders


class StoreMaker:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.manifest = self.root / ".imagescraper" / "manifest.jsonl"
        self.manifest.parent.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def add(
        self,
        body: bytes,
        folders: list[str],
        name: str,
        *,
        title: str,
        extra: dict | None = None,
        url: str | None = None,
        write_file: bool = True,
    ) -> dict:
        """Store *body* as ``folders/name`` and append its manifest line; returns the record."""
        path = "/".join([*folders, name])
        if write_file:
            target = self.root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
        with Image.open(io.BytesIO(body)) as image:
            facts = {
                "width": image.width,
                "height": image.height,
                "format": image.format,
                "frames": getattr(image, "n_frames", 1),
            }
        self.count += 1
        record = {
            "url": url or f"http://images.example/{self.count}/{name}",
            "path": path,
            "sha256": hashlib.sha256(body).hexdigest(),
            "bytes": len(body),
            **facts,
            "title": title,
            **(extra or {}),
            "stored_at": (_START + timedelta(minutes=self.count)).isoformat(timespec="seconds"),
        }
        self.append(record)
        return record

    def append(self, record: dict) -> None:
        with self.manifest.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")

    def append_lines(self, records: list[dict]) -> None:
        with self.manifest.open("a", encoding="utf-8") as out:
            out.writelines(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
