"""What a build remembers for the next one, in ``GALLERY/.gallery/``.

- ``state.json``: where the manifest was read up to, the key of the templates and settings the
  pages were rendered with, a summary of every album (count, newest, cover, title) and the most
  recently added images. Small: one entry per album.
- ``albums/<digest>.json``: the images of one album in the order they were stored, read only
  when that album changes.

Both are written atomically, the state last, so a build stopped half-way is simply done again.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from imagescraper.gallery.source import Position, StoredRecord

STATE_DIR = ".gallery"
FORMAT = 1
RECENT = 240


def write_atomic(path: Path, data: bytes) -> None:
    """Replace *path* with *data*; a reader sees the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name[:200]}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temp, "wb") as out:
            out.write(data)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@dataclass
class AlbumSummary:
    count: int
    newest: str
    cover: str  # sha256 of the first image ("" when the album holds only videos)
    title: str
    published: str = ""
    videos: int = 0  # how many of *count* are videos


@dataclass
class BuildState:
    position: Position = field(default_factory=Position)
    render_key: str = ""
    albums: dict[str, AlbumSummary] = field(default_factory=dict)
    recent: list[StoredRecord] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "position": asdict(self.position),
            "render_key": self.render_key,
            "albums": {folder: asdict(summary) for folder, summary in self.albums.items()},
            "recent": [record.to_json() for record in self.recent],
        }

    @classmethod
    def from_json(cls, data: dict) -> BuildState:
        if data.get("format") != FORMAT:
            raise ValueError(f"state format {data.get('format')!r}")
        return cls(
            position=Position(**data["position"]),
            render_key=data["render_key"],
            albums={folder: AlbumSummary(**summary) for folder, summary in data["albums"].items()},
            recent=[StoredRecord.from_json(item) for item in data["recent"]],
        )


class StateStore:
    def __init__(self, gallery_dir: Path):
        self.dir = gallery_dir / STATE_DIR
        self.state_path = self.dir / "state.json"

    def load(self) -> BuildState | None:
        """The last build's state, or None (first build, or a state this version cannot use)."""
        try:
            return BuildState.from_json(json.loads(self.state_path.read_bytes()))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None

    def save(self, state: BuildState) -> None:
        write_atomic(self.state_path, json.dumps(state.to_json(), ensure_ascii=False).encode("utf-8"))

    def _album_path(self, folder: str) -> Path:
        return self.dir / "albums" / f"{hashlib.sha256(folder.encode('utf-8')).hexdigest()[:24]}.json"

    def load_album(self, folder: str) -> list[StoredRecord]:
        try:
            data = json.loads(self._album_path(folder).read_bytes())
        except FileNotFoundError:
            return []
        return [StoredRecord.from_json(item) for item in data["records"]]

    def save_album(self, folder: str, records: list[StoredRecord]) -> None:
        data = {"folder": folder, "records": [record.to_json() for record in records]}
        write_atomic(self._album_path(folder), json.dumps(data, ensure_ascii=False).encode("utf-8"))

    def clear_albums(self) -> None:
        albums = self.dir / "albums"
        if albums.is_dir():
            for path in albums.iterdir():
                path.unlink(missing_ok=True)
