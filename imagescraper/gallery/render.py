"""Pages from templates: Jinja2 with autoescape, so titles, tags and URLs are always text.

Each ``*_page`` method returns ``{relative path: HTML}`` for one kind of page; the builder
decides which pages to render and writes them. Links are relative (the gallery works from
``file://``, from any sub-path, behind any server), except originals when a base URL is set.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from urllib.parse import urlsplit

import jinja2
from w3lib.url import safe_url_string

from imagescraper.gallery import thumbs
from imagescraper.gallery.model import Node, depth_prefix, folder_dir, href, image_page_name, page_name
from imagescraper.gallery.source import StoredRecord

_PACKAGE = resources.files("imagescraper.gallery")


def _load_templates() -> dict[str, str]:
    # Read through importlib.resources so the templates load from a zipped egg (scrapyd) too.
    folder = _PACKAGE / "templates"
    return {entry.name: entry.read_text(encoding="utf-8") for entry in folder.iterdir() if entry.name.endswith(".html")}


def static_file(name: str) -> bytes:
    return (_PACKAGE / "static" / name).read_bytes()


def human_size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError


def counted(number: int, singular: str, plural: str = "") -> str:
    """ "1 image", "2 images": the number and the noun that agrees with it."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def media_count(total: int, videos: int = 0) -> str:
    """What a folder holds: "3 images", "1 video", "3 images and 1 video"."""
    images = total - videos
    if not videos:
        return counted(images, "image")
    if not images:
        return counted(videos, "video")
    return f"{counted(images, 'image')} and {counted(videos, 'video')}"


def day(stamp: str) -> str:
    return stamp[:10]


def moment(stamp: str) -> str:
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    zone = " UTC" if when.utcoffset() is not None and not when.utcoffset() else ""
    return when.strftime("%Y-%m-%d %H:%M") + zone


def readable_name(file_name: str) -> str:
    """A stored file's own name without the URL digest and extension ("271947" from
    "271947-3fa9c02b1d0e4a77.jpg"), or "" when that is long or unreadable."""
    stem = file_name.rsplit(".", 1)[0]
    base, dash, digest = stem.rpartition("-")
    if dash and len(digest) == 16 and all(c in "0123456789abcdef" for c in digest):
        stem = base
    return stem if 0 < len(stem) <= 40 else ""


def alt_text(file_name: str, number: int, frames: int, kind: str = "Image") -> str:
    name = readable_name(file_name)
    return f"{kind} {number}" + (f": {name}" if name else "") + (", animated" if frames > 1 else "")


def web_link(url: str) -> str | None:
    """An http(s) URL percent-encoded for an href, or None for anything else (no javascript:)."""
    if urlsplit(url.strip()).scheme.lower() not in ("http", "https"):
        return None
    return safe_url_string(url.strip())


@dataclass(frozen=True)
class SiteOptions:
    title: str
    page_size: int
    files_url: str  # ends with "/"; absolute (scheme or "/") or relative to the gallery root


class Renderer:
    def __init__(self, options: SiteOptions):
        self.options = options
        sources = _load_templates()
        self.env = jinja2.Environment(
            loader=jinja2.DictLoader(sources),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(counted=counted, media_count=media_count)
        # Static files are named by their content, so a new version is never served from a cache.
        css, icon = static_file("gallery.css"), static_file("icon.png")
        self.static = {
            f"static/gallery-{hashlib.sha256(css).hexdigest()[:10]}.css": css,
            f"static/icon-{hashlib.sha256(icon).hexdigest()[:10]}.png": icon,
        }
        self.css_path, self.icon_path = list(self.static)
        digest = hashlib.sha256()
        for name in sorted(sources):
            digest.update(name.encode() + sources[name].encode())
        digest.update("".join(self.static).encode() + repr(options).encode())
        self.key = digest.hexdigest()[:20]

    # -- pieces ----------------------------------------------------------------------------------
    def _site(self) -> dict:
        return {"title": self.options.title, "css": self.css_path, "icon": self.icon_path}

    def render(self, template: str, root: str, **context) -> str:
        return self.env.get_template(template).render(site=self._site(), root=root, **context)

    def original_href(self, path: str, root: str) -> str:
        base = self.options.files_url
        relative = not (base.startswith("/") or urlsplit(base).scheme)
        return (root if relative else "") + (base if relative else safe_url_string(base)) + href(path)

    @staticmethod
    def thumb(sha256: str, root: str) -> dict:
        return {
            "small": root + href(thumbs.thumb_path(sha256, thumbs.SMALL)),
            "large": root + href(thumbs.thumb_path(sha256, thumbs.LARGE)),
        }

    def _crumbs(self, folder: str, root: str, nodes: dict[str, Node], current: bool) -> list[dict]:
        crumbs = [{"text": "All folders", "href": root + "index.html"}]
        parts = folder.split("/") if folder else []
        for depth in range(1, len(parts) + 1):
            above = "/".join(parts[:depth])
            node = nodes.get(above)
            text = node.title if node else parts[depth - 1]
            last = depth == len(parts) and current
            crumbs.append({"text": text, "href": None if last else root + href(folder_dir(above)) + "/index.html"})
        return crumbs

    def _card(self, node: Node, root: str) -> dict:
        return {
            "href": root + href(node.directory) + "/index.html",
            "title": node.title,
            "total": node.total,
            "videos": node.videos,
            "newest": node.newest,
            "newest_day": day(node.newest),
            "cover": self.thumb(node.cover, root) if node.cover else None,
        }

    def _item(self, record: StoredRecord, number: int, root: str, page_dir: str) -> dict:
        prefix = "" if page_dir == folder_dir(record.folder) else root + href(folder_dir(record.folder)) + "/"
        video = record.is_video
        return {
            "href": prefix + href(image_page_name(record.path)),
            "thumb": None if video else self.thumb(record.sha256, root),
            "alt": alt_text(record.file_name, number, record.frames, "Video" if video else "Image"),
            "animated": record.frames > 1 and not video,
            "video": video,
        }

    def _pages(self, number: int, count: int) -> dict:
        window = sorted({1, count, *range(max(1, number - 3), min(count, number + 3) + 1)})
        return {
            "number": number,
            "count": count,
            "prev": page_name(number - 1) if number > 1 else None,
            "next": page_name(number + 1) if number < count else None,
            "links": [{"number": n, "href": page_name(n), "current": n == number} for n in window],
        }

    # -- pages -----------------------------------------------------------------------------------
    def page_count(self, node: Node) -> int:
        size = self.options.page_size
        return max(1, -(-len(node.children) // size), -(-node.own_count // size))

    def pages_in_gallery(self, nodes: dict[str, Node]) -> int:
        """How many pages the gallery of *nodes* has: every folder's, image pages, the index's, recent."""
        size = self.options.page_size
        index = max(1, -(-len(nodes[""].children) // size))
        return index + 1 + sum(self.page_count(node) + node.own_count for folder, node in nodes.items() if folder)

    def folder_pages(self, node: Node, records: list[StoredRecord], nodes: dict, numbers=None) -> dict[str, str]:
        """The pages of one folder (all, or those numbered in *numbers*)."""
        directory = node.directory
        root = depth_prefix(directory)
        size, count = self.options.page_size, self.page_count(node)
        latest = records[-1] if records else None
        post_url = web_link(latest.post_url) if latest and latest.post_url else None
        out = {}
        for number in numbers or range(1, count + 1):
            if number > count:
                continue
            start = (number - 1) * size
            html = self.render(
                "album.html",
                root,
                crumbs=self._crumbs(node.folder, root, nodes, current=True),
                title=node.title,
                total=node.total,
                videos=node.videos,
                newest=node.newest,
                newest_day=day(node.newest),
                published=latest.published if latest else "",
                published_day=day(latest.published) if latest else "",
                post_url=post_url,
                post_url_text=latest.post_url if latest else "",
                tags=list(latest.tags) if latest else [],
                cards=[self._card(child, root) for child in node.children[start : start + size]],
                items=[
                    self._item(record, start + i + 1, root, directory)
                    for i, record in enumerate(records[start : start + size])
                ],
                pages=self._pages(number, count),
            )
            out[f"{directory}/{page_name(number)}"] = html
        return out

    def image_page(self, node: Node, records: list[StoredRecord], index: int, nodes: dict) -> tuple[str, str]:
        record = records[index]
        directory = node.directory
        root = depth_prefix(directory)
        video = record.is_video
        animated = record.frames > 1 and not video
        display = (
            root + href(thumbs.thumb_path(record.sha256, "view"))
            if thumbs.needs_view(record.format) and not video
            else self.original_href(record.path, root)
        )

        def neighbour(i):
            return {"href": href(image_page_name(records[i].path))} if 0 <= i < len(records) else None

        page_number = index // self.options.page_size + 1
        html = self.render(
            "image.html",
            root,
            crumbs=self._crumbs(node.folder, root, nodes, current=False),
            album_title=node.title,
            album_href=page_name(page_number),
            number=index + 1,
            name=record.file_name,
            prev=neighbour(index - 1),
            next=neighbour(index + 1),
            original=self.original_href(record.path, root),
            display=display,
            width=record.width,
            height=record.height,
            alt=alt_text(record.file_name, index + 1, record.frames, "Video" if video else "Image"),
            video=video,
            animated=animated,
            frames=record.frames,
            size=f"{human_size(record.size)} ({record.size:,} bytes)",
            format=record.format,
            source=record.url,
            source_href=web_link(record.url),
            post_url=web_link(record.post_url) if record.post_url else None,
            post_url_text=record.post_url,
            stored_at=record.stored_at,
            stored_text=moment(record.stored_at),
            sha256=record.sha256,
        )
        return f"{directory}/{image_page_name(record.path)}", html

    def index_pages(self, nodes: dict[str, Node], built_at: str) -> dict[str, str]:
        """All folders: ``index.html``, then ``_p2.html``... when there are more than a page's worth."""
        root_node = nodes[""]
        size = self.options.page_size
        count = max(1, -(-len(root_node.children) // size))
        pages = {}
        for number in range(1, count + 1):
            pages[page_name(number)] = self.render(
                "index.html",
                "",
                crumbs=[],
                cards=[self._card(child, "") for child in root_node.children[(number - 1) * size : number * size]],
                total=root_node.total,
                videos=root_node.videos,
                folders=len(root_node.children),
                albums=sum(1 for node in nodes.values() if node.summary),
                newest=root_node.newest,
                newest_day=day(root_node.newest),
                built_at=built_at,
                recent=True,
                pages=self._pages(number, count),
            )
        return pages

    def recent_page(self, recent: list[StoredRecord], nodes: dict[str, Node], built_at: str) -> str:
        # One group per folder, the folder with the newest image first: a run downloads a post's
        # images in parallel, so they reach the manifest interleaved with other posts'.
        groups: dict[str, dict] = {}
        for record in reversed(recent):
            group = groups.get(record.folder)
            if group is None:
                node = nodes.get(record.folder)
                group = groups[record.folder] = {
                    "title": node.title if node else record.folder,
                    "href": href(folder_dir(record.folder)) + "/index.html",
                    "newest": record.stored_at,
                    "newest_text": moment(record.stored_at),
                    "images": [],
                }
            group["images"].append(self._item(record, len(group["images"]) + 1, "", ""))
        videos = sum(1 for record in recent if record.is_video)
        return self.render(
            "recent.html",
            "",
            crumbs=[],
            groups=list(groups.values()),
            shown=len(recent),
            videos=videos,
            built_at=built_at,
        )


def relative_files_url(store_root: str, gallery_dir: str) -> str:
    """The store seen from the gallery folder, as a relative URL ending in "/"."""
    rel = os.path.relpath(os.path.abspath(store_root), os.path.abspath(gallery_dir))
    return href(rel.replace(os.sep, "/")) + "/"
