"""A loopback web server for a gallery and its store, with the headers nginx sends in production.

It serves the folder that holds both the gallery and the store, but answers only inside those
two, never a dotfile or dot-folder (the store's ``.imagescraper/``, the gallery's state) and
never through a symlink; ``/`` redirects to the gallery's index. The tests use it too, so the
browser sees exactly the production Content-Security-Policy.
"""

from __future__ import annotations

import os
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

# The store's policy (nothing runs, nothing comes from elsewhere) plus the one stylesheet, without
# "sandbox": a sandboxed page counts as one with scripting disabled, and browsers then ignore
# loading="lazy" (HTML standard, "will lazy load element"), so an album page would fetch every
# thumbnail at once. No script can run anyway: default-src 'none' covers script-src. media-src:
# the <video> of a video post's page plays the stored MP4.
# deploy/roles/imagescraper/templates/nginx-site.conf.j2 sends the same; a test compares them.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
}


def common_root(*folders: Path) -> Path:
    return Path(os.path.commonpath([str(f.resolve()) for f in folders]))


class _Handler(SimpleHTTPRequestHandler):
    server_version = "imagescraper-gallery"
    sys_version = ""
    extensions_map = {
        ".html": "text/html; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".webp": "image/webp",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".png": "image/png",
        ".gif": "image/gif",
        ".bmp": "image/bmp",
        ".ico": "image/vnd.microsoft.icon",
        ".tif": "image/tiff",
        ".tiff": "image/tiff",
        ".avif": "image/avif",
        ".mp4": "video/mp4",
        "": "application/octet-stream",
    }

    def __init__(self, *args, root: Path, allowed: tuple[Path, ...], start: str, **kwargs):
        self.root, self.allowed, self.start = root, allowed, start
        super().__init__(*args, directory=str(root), **kwargs)

    def end_headers(self):
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
        pass

    def _refuse(self) -> bool:
        path = unquote(urlsplit(self.path).path)
        if path == "/":
            self.send_response(302)
            self.send_header("Location", self.start)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return True
        parts = [p for p in path.split("/") if p]
        target = self.root.joinpath(*parts) if parts else self.root
        inside = any(target == a or a in target.parents for a in self.allowed)
        hidden = any(p.startswith(".") for p in parts)
        linked = any(p.is_symlink() for p in [target, *target.parents] if self.root in p.parents)
        if not inside or hidden or linked or target.is_dir() and not path.endswith("/"):
            self.send_error(404)
            return True
        if target.is_dir():
            self.path = path + "index.html"
        return False

    def do_GET(self):
        if not self._refuse():
            super().do_GET()

    def do_HEAD(self):
        if not self._refuse():
            super().do_HEAD()

    def list_directory(self, path):
        self.send_error(404)


class GalleryServer:
    """``with GalleryServer(gallery_dir, store_dir) as server: server.url`` (port 0: any free one)."""

    def __init__(self, gallery_dir: Path, store_dir: Path, port: int = 0):
        self.root = common_root(gallery_dir, store_dir)
        self.gallery_dir, self.store_dir = gallery_dir.resolve(), store_dir.resolve()
        start = "/" + quote(self.gallery_dir.relative_to(self.root).as_posix()) + "/index.html"
        start = start.replace("//", "/")
        handler = partial(_Handler, root=self.root, allowed=(self.gallery_dir, self.store_dir), start=start)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}{start}"
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def __enter__(self) -> GalleryServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
