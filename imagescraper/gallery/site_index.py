"""The page above several galleries: on a server, one gallery per job side by side, and this
index at ``/`` listing them with a cover, the number of images and the newest date.

It reads each gallery's build state (never a store), so it costs one small file per gallery.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from imagescraper.gallery.model import href
from imagescraper.gallery.render import Renderer, day
from imagescraper.gallery.state import StateStore, write_atomic


def _card(folder: Path, renderer: Renderer) -> dict | None:
    state = StateStore(folder).load()
    if state is None or not state.albums:
        return None
    newest_album = max(state.albums.values(), key=lambda summary: summary.newest)
    prefix = href(folder.name) + "/"
    covered = [summary for summary in state.albums.values() if summary.cover]
    cover = max(covered, key=lambda summary: summary.newest).cover if covered else ""
    return {
        "href": prefix + "index.html",
        "title": folder.name,
        "total": sum(summary.count for summary in state.albums.values()),
        "newest": newest_album.newest,
        "newest_day": day(newest_album.newest),
        "videos": sum(summary.videos for summary in state.albums.values()),
        "cover": renderer.thumb(cover, prefix) if cover else None,
    }


def write_site_index(parent: Path, renderer: Renderer) -> Path:
    """(Re)write ``parent/index.html`` listing every gallery folder inside *parent*."""
    cards = []
    for folder in sorted(parent.iterdir(), key=lambda p: p.name.casefold()):
        if folder.is_dir() and not folder.name.startswith((".", "_")) and folder.name != "static":
            card = _card(folder, renderer)
            if card:
                cards.append(card)
    for relpath, data in renderer.static.items():
        if not (parent / relpath).exists():
            write_atomic(parent / relpath, data)
    newest = max((card["newest"] for card in cards), default="")
    html = renderer.render(
        "index.html",
        "",
        crumbs=[],
        cards=cards,
        total=sum(card["total"] for card in cards),
        videos=sum(card["videos"] for card in cards),
        folders=len(cards),
        albums=len(cards),
        newest=newest,
        newest_day=day(newest),
        built_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        recent=False,
        pages={"number": 1, "count": 1},
    )
    target = parent / "index.html"
    write_atomic(target, html.encode("utf-8"))
    return target
