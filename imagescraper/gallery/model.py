"""The gallery's shape: folders as a tree, where each page lives, and how links are spelled.

Store folders become gallery folders under ``a/`` with the same names, so addresses stay
readable (``a/ceshi/春日樱花_6979321857/``). Generated files start with ``_`` or are
``index.html``; a store folder that could collide with them (cleaned names never start with
``_``, but a folder made by hand may) gets a ``~`` in front. Every link is built here and
percent-encoded segment by segment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import quote

from imagescraper.gallery.state import AlbumSummary

ALBUMS = "a"
# What a title made only of is no title: clean_segment strips the same characters from folder names.
_UNSAID = " ._/\\\t\n\r\u3000"


def gallery_segment(segment: str) -> str:
    if segment.startswith(("_", "~")) or segment == "index.html":
        return "~" + segment
    return segment


def folder_dir(folder: str) -> str:
    """The gallery folder of a store folder, relative to the gallery root."""
    return "/".join([ALBUMS, *(gallery_segment(s) for s in folder.split("/"))]) if folder else ""


def page_name(number: int) -> str:
    return "index.html" if number == 1 else f"_p{number}.html"


def image_page_name(path: str) -> str:
    return f"_{hashlib.sha256(path.encode('utf-8')).hexdigest()[:16]}.html"


def href(relpath: str) -> str:
    """A relative link, percent-encoded: any text in a name stays text."""
    return "/".join(quote(part, safe="") for part in relpath.split("/"))


def depth_prefix(directory: str) -> str:
    """The relative way back to the gallery root from a page in *directory*."""
    return "../" * (directory.count("/") + 1) if directory else ""


@dataclass(eq=False)
class Node:
    """A store folder: its own images (if it is an album) and its sub-folders."""

    folder: str
    summary: AlbumSummary | None = None
    children: list[Node] = field(default_factory=list)
    total: int = 0
    videos: int = 0  # how many of *total* are videos
    newest: str = ""
    cover: str = ""

    @property
    def name(self) -> str:
        return self.folder.rpartition("/")[2]

    @property
    def title(self) -> str:
        """The post's title, or the folder's own name when the title says nothing (".." or "_ .")."""
        title = self.summary.title if self.summary else ""
        return title if title.strip(_UNSAID) else self.name

    @property
    def own_count(self) -> int:
        return self.summary.count if self.summary else 0

    @property
    def directory(self) -> str:
        return folder_dir(self.folder)

    def sort_key_newest(self):
        published = self.summary.published if self.summary else ""
        return (published or self.newest, self.newest)


def build_tree(albums: dict[str, AlbumSummary]) -> dict[str, Node]:
    """Every folder with images, and every folder above one, by folder path ("" is the root)."""
    nodes: dict[str, Node] = {"": Node("")}
    for folder, summary in albums.items():
        nodes.setdefault(folder, Node(folder)).summary = summary
        for above in ancestors(folder):
            nodes.setdefault(above, Node(above))
    for folder, node in nodes.items():
        if folder:
            nodes[folder.rpartition("/")[0]].children.append(node)
    _totals(nodes[""])
    for node in nodes.values():
        if node.folder == "":
            node.children.sort(key=lambda n: n.name.casefold())
        else:
            node.children.sort(key=Node.sort_key_newest, reverse=True)
    return nodes


def _totals(node: Node) -> None:
    node.total = node.own_count
    node.videos = node.summary.videos if node.summary else 0
    node.newest = node.summary.newest if node.summary else ""
    node.cover = node.summary.cover if node.summary else ""
    for child in node.children:
        _totals(child)
        node.total += child.total
        node.videos += child.videos
        node.newest = max(node.newest, child.newest)
    covered = [child for child in node.children if child.cover]
    if not node.cover and covered:
        node.cover = max(covered, key=lambda n: n.newest).cover


def ancestors(folder: str) -> list[str]:
    """The folders above *folder*, nearest first, ending with the root ""."""
    parts = folder.split("/")
    return ["/".join(parts[:depth]) for depth in range(len(parts) - 1, -1, -1)]
