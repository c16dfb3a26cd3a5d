"""One gallery build: read what the store gained, make missing thumbnails, re-render what changed.

An incremental build reads the manifest from where the last one stopped, loads only the albums
that gained images, renders their pages from the first page that changed (all of them if the
number of pages changed), the image pages of new images and of their neighbours (whose
previous/next links change), the folders above them, the index and "recently added". A page
whose HTML did not change is not rewritten, so a web server's caches and a reader's
``If-Modified-Since`` keep working. A full build (``--full``, a first build, new templates or
settings, or a manifest that was replaced) renders everything and removes pages of folders that
are gone. Only one build runs on a gallery folder at a time.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from imagescraper.gallery import thumbs
from imagescraper.gallery.model import ALBUMS, ancestors, build_tree, folder_dir, image_page_name
from imagescraper.gallery.render import Renderer, SiteOptions, counted
from imagescraper.gallery.source import DroppedRecord, ManifestSource, StoredRecord
from imagescraper.gallery.state import RECENT, AlbumSummary, BuildState, StateStore, write_atomic
from imagescraper.pidlock import LockHeld, take_lock
from imagescraper.startup_errors import StoreBusyError

logger = logging.getLogger(__name__)


@dataclass
class BuildReport:
    full: bool = False
    records_read: int = 0
    new_records: int = 0
    videos_read: int = 0
    thumbnails_made: int = 0
    thumbnails_failed: dict[str, str] = field(default_factory=dict)
    albums_changed: int = 0
    pages_written: int = 0
    pages_total: int = 0
    pages_removed: int = 0
    skipped_lines: int = 0

    @property
    def pages_unchanged(self) -> int:
        """The gallery's pages this build did not write (compared and equal, or not concerned)."""
        return max(0, self.pages_total - self.pages_written)

    def summary(self) -> str:
        kind = "full build" if self.full else "incremental build"
        read = counted(self.records_read, "manifest record")
        videos = f", {counted(self.videos_read, 'video')} among them" if self.videos_read else ""
        folders = f"{counted(self.albums_changed, 'album')} {'rendered' if self.full else 'changed'}"
        return (
            f"gallery {kind}: {read} read ({self.new_records} new{videos}), "
            f"{counted(self.thumbnails_made, 'thumbnail')} made, "
            f"{counted(len(self.thumbnails_failed), 'image')} unreadable, {folders}, "
            f"{counted(self.pages_written, 'page')} written, {self.pages_unchanged} unchanged, "
            f"{self.pages_removed} removed, "
            f"{counted(self.skipped_lines, 'manifest line')} skipped"
        )


class GalleryLock:
    def __init__(self, gallery_dir: Path):
        self.path = gallery_dir / ".gallery" / "lock"
        self.fd: int | None = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.fd = take_lock(self.path)
        except LockHeld as held:
            raise StoreBusyError(
                f"gallery {str(self.path.parent.parent)!r} is being built by another process (pid {held.holder}); "
                "this build stops, the running one will include everything stored so far"
            ) from None
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


class GalleryBuilder:
    def __init__(self, store_root: Path, gallery_dir: Path, options: SiteOptions, workers: int):
        self.store_root = store_root
        self.gallery_dir = gallery_dir
        self.renderer = Renderer(options)
        self.workers = workers
        self.states = StateStore(gallery_dir)
        self.report = BuildReport()
        self._written: set[str] = set()
        self._removed_pages: list[str] = []

    def build(self, full: bool = False) -> BuildReport:
        with GalleryLock(self.gallery_dir):
            self._build(full)
        return self.report

    # -- the steps ---------------------------------------------------------------------------------
    def _build(self, full: bool) -> None:
        previous = self.states.load()
        state = None if full else previous
        if state is not None and state.render_key != self.renderer.key:
            state = None  # new templates or settings: every page changes
        source = ManifestSource(self.store_root)
        known = previous.position if previous else None
        records, position, from_start = source.read_since(state.position if state else None, known)
        self.report.skipped_lines = source.skipped_lines
        if state is None or from_start:
            state = BuildState()
            self.states.clear_albums()
            self.report.full = True
        self.report.records_read = len(records)
        self.report.new_records = source.new_records
        self.report.videos_read = sum(1 for r in records if isinstance(r, StoredRecord) and r.is_video)

        records = self._with_thumbnails(records)
        changed = self._merge(state, records)
        self.report.albums_changed = len(changed)
        nodes = build_tree(state.albums)
        self._render(state, nodes, changed)
        self.report.pages_total = self.renderer.pages_in_gallery(nodes)
        state.position = position
        state.render_key = self.renderer.key
        if self.report.full:
            self._remove_stale(state)
        self.states.save(state)

    def _with_thumbnails(self, records: list) -> list:
        jobs = {}
        for record in records:
            if isinstance(record, DroppedRecord) or record.is_video:
                continue  # a video is shown by the browser itself: no thumbnail, never "unreadable"
            if record.sha256 not in jobs and not thumbs.have_thumbnails(self.gallery_dir, record.sha256, record.format):
                jobs[record.sha256] = (self.store_root / record.path, record.format)
        failures = thumbs.make_all(jobs, self.gallery_dir, self.workers)
        self.report.thumbnails_made = len(jobs) - len(failures)
        self.report.thumbnails_failed = failures
        for reason in failures.values():
            logger.warning("Gallery leaves out an image: %s", reason)
        return [r for r in records if isinstance(r, DroppedRecord) or r.sha256 not in failures]

    def _merge(self, state: BuildState, records: list) -> dict[str, set[int]]:
        """Add *records* to their albums (and take dropped images out); returns, per changed
        album, the positions that changed. An album that lost images is re-rendered whole."""
        by_album: dict[str, list] = defaultdict(list)
        for record in records:
            by_album[record.folder].append(record)
        changed: dict[str, set[int]] = {}
        self._albums: dict[str, list[StoredRecord]] = {}
        self._old_counts: dict[str, int] = {}
        self._reshaped: set[str] = set()
        self._gone: set[str] = set()
        dropped_paths = set()
        for folder, added in by_album.items():
            album = self.states.load_album(folder) if folder in state.albums else []
            self._old_counts[folder] = len(album)
            where = {record.path: i for i, record in enumerate(album)}
            positions = set()
            for record in added:
                i = where.get(record.path)
                if isinstance(record, DroppedRecord):
                    dropped_paths.add(record.path)
                    if i is not None:
                        album = [r for r in album if r.path != record.path]
                        where = {r.path: j for j, r in enumerate(album)}
                        self._reshaped.add(folder)
                        self._removed_pages.append(f"{folder_dir(folder)}/{image_page_name(record.path)}")
                    continue
                dropped_paths.discard(record.path)
                # The same path again (replace=true, or a file fetched again): the newer facts win.
                if i is None:
                    where[record.path] = i = len(album)
                    album.append(record)
                else:
                    album[i] = record
                positions.add(i)
            self.states.save_album(folder, album)
            if not album:
                state.albums.pop(folder, None)
                self._gone.add(folder)
                continue
            self._albums[folder] = album
            changed[folder] = positions or {0}
            latest = album[-1]
            state.albums[folder] = AlbumSummary(
                count=len(album),
                newest=max(record.stored_at for record in album),
                cover=next((record.sha256 for record in album if not record.is_video), ""),
                title=latest.post_title or latest.title,
                published=latest.published,
                videos=sum(1 for record in album if record.is_video),
            )
        kept = [r for r in state.recent + records if isinstance(r, StoredRecord)]
        state.recent = [r for r in kept if r.path not in dropped_paths][-RECENT:]
        return changed

    def _render(self, state: BuildState, nodes, changed: dict[str, set[int]]) -> None:
        size = self.renderer.options.page_size
        full = self.report.full
        for folder, positions in changed.items():
            node, album = nodes[folder], self._albums[folder]
            old_pages = max(1, -(-self._old_counts[folder] // size))
            if full or folder in self._reshaped or old_pages != self.renderer.page_count(node):
                numbers = None
            else:
                numbers = range(min(positions) // size + 1, self.renderer.page_count(node) + 1)
            self._write_all(self.renderer.folder_pages(node, album, nodes, numbers))
            if full or folder in self._reshaped:
                indexes = range(len(album))
                self._remove_pages_beyond(node, self.renderer.page_count(node))
            else:
                indexes = sorted({j for i in positions for j in (i - 1, i, i + 1)})
            for i in indexes:
                if 0 <= i < len(album):
                    self._write(*self.renderer.image_page(node, album, i, nodes))
        # Folders above a changed album show its count, date and cover; folders without images
        # of their own hold nothing but those cards.
        above = {folder for changed_folder in [*changed, *self._gone] for folder in ancestors(changed_folder)} - {""}
        for folder in [*self._gone, *(f for f in above if f not in nodes)]:
            self._remove_folder_pages(folder)
        above &= set(nodes)
        for relpath in self._removed_pages:
            (self.gallery_dir / relpath).unlink(missing_ok=True)
        if full:
            above |= {folder for folder in nodes if folder and folder not in changed}
        for folder in above:
            node = nodes[folder]
            album = self._albums.get(folder) or (self.states.load_album(folder) if node.summary else [])
            self._write_all(self.renderer.folder_pages(node, album, nodes))
        for relpath, data in self.renderer.static.items():
            if not (self.gallery_dir / relpath).exists():
                write_atomic(self.gallery_dir / relpath, data)
            self._written.add(relpath)
        if not (full or changed or self._gone):
            return  # nothing new: the index keeps the time of the build that last changed it
        built_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        index_pages = self.renderer.index_pages(nodes, built_at)
        self._write_all(index_pages)
        for page in self.gallery_dir.glob("_p*.html"):
            if page.name not in index_pages:
                page.unlink()
        self._write("recent.html", self.renderer.recent_page(state.recent, nodes, built_at))

    def _remove_pages_beyond(self, node, count: int) -> None:
        directory = self.gallery_dir / node.directory
        for page in directory.glob("_p*.html"):
            number = page.name[2:-5]
            if number.isdigit() and int(number) > count:
                page.unlink()
                self.report.pages_removed += 1

    def _remove_folder_pages(self, folder: str) -> None:
        """The pages of a folder with no images left (its sub-folders' pages stay)."""
        directory = self.gallery_dir / folder_dir(folder)
        if not directory.is_dir():
            return
        for page in [*directory.glob("_*.html"), directory / "index.html"]:
            if page.is_file():
                page.unlink()
                self.report.pages_removed += 1
        try:
            directory.rmdir()
        except OSError:
            pass  # sub-folders still have pages

    def _write_all(self, pages: dict[str, str]) -> None:
        for relpath, html in pages.items():
            self._write(relpath, html)

    def _write(self, relpath: str, html: str) -> None:
        self._written.add(relpath)
        data = html.encode("utf-8")
        target = self.gallery_dir / relpath
        try:
            if target.stat().st_size == len(data) and target.read_bytes() == data:
                return  # counted as unchanged: the report gives written and the gallery's total
        except FileNotFoundError:
            pass
        write_atomic(target, data)
        self.report.pages_written += 1

    def _remove_stale(self, state: BuildState) -> None:
        """After a full build: pages of folders that are gone, old stylesheets, unused thumbnails."""
        used_thumbs = set()
        for folder in state.albums:
            used_thumbs.update(record.sha256 for record in self._albums.get(folder, []))
        for top, keep in ((ALBUMS, None), ("static", None), ("t", used_thumbs)):
            base = self.gallery_dir / top
            if not base.is_dir():
                continue
            for dirpath, _dirs, filenames in os.walk(base, topdown=False):
                for name in filenames:
                    path = Path(dirpath) / name
                    relpath = path.relative_to(self.gallery_dir).as_posix()
                    if keep is not None:
                        if name.split("-", 1)[0] in keep:
                            continue
                    elif relpath in self._written:
                        continue
                    path.unlink()
                    self.report.pages_removed += 1
                if dirpath != str(base) and not os.listdir(dirpath):
                    shutil.rmtree(dirpath, ignore_errors=True)
