"""A fake LOFTER on loopback, following research/lofter.md section 11 (virtual-host mode).

One ``ThreadingHTTPServer`` answers for every host by its ``Host`` header:
``<blog>.lofter.test`` (theme pages), ``www.lofter.test`` (login page, redirects),
``api.lofter.test`` (the app API: blogs, posts, tags, collections, likes), ``imglf<N>.lf127.test`` /
``avaimg.lf127.test`` (images), ``nos.netease.test`` (the legacy image host),
``pic.elsewhere.test`` (a non-LOFTER image host) and ``vodfake.vod.126.test`` (videos).
The API answers as section 13 of the notes describes: ``blogdomain`` must be ``<name>.lofter.com``,
its cursor is not ``page * size`` (at most ``API_PAGE_CAP`` posts per answer), 4200 for an
unknown blog, 401 without the login header where a login is needed.
The spider reaches these names through ``IMAGESCRAPER_RESOLVE`` (see :meth:`FakeLofter.settings`).
The blogs and posts are data (``site.json``), the pages are theme templates (``themes/``), and
every image is drawn from its path, so tests compare stored files with :meth:`original`.
"""

from __future__ import annotations

import html
import io
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from string import Template
from urllib.parse import parse_qs, quote, urlsplit

from PIL import Image, ImageDraw

from demo import images
from demo.fakelofter.api import AppApi
from demo.fakelofter.data import (
    API_PAGE_CAP,
    HERE,
    HOSTS,
    IMAGE_HOSTS,
    KNOWN_IMAGES,
    LOGIN_COOKIE,
    LOGIN_HEADER,
    MANY,
    OTHER_HOSTS,
    SITE,
    THEMES,
    THUMB,
    images_free_text,
    sample_mp4,
)

__all__ = ["API_PAGE_CAP", "MANY", "SITE", "THEMES", "FakeLofter", "sample_mp4"]


@dataclass(frozen=True)
class Seen:
    host: str
    path: str
    method: str
    headers: dict
    form: dict
    started: float
    ended: float


def _template(theme: str, name: str) -> Template:
    return Template((HERE / "themes" / theme / name).read_text("utf-8"))


class FakeLofter:
    def __init__(self, theme: str = "mpost", *, login_wall: bool = False, port: int = 0):
        self.theme = theme
        self.login_wall = login_wall
        self.api_fails_from: int | None = None  # blog listing calls from this offset on answer an error
        self.new_post = False  # a post published since the last run, on top of blog "neu"
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._originals: dict[str, bytes] = {}
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.site = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self.api = AppApi(self)

    def __enter__(self) -> FakeLofter:
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- what tests use -------------------------------------------------------------------------
    def settings(self) -> dict[str, str]:
        """Scrapy settings that point the spider at this fake site."""
        names = [f"{h}.lofter.test" for h in HOSTS] + [f"{h}.lf127.test" for h in IMAGE_HOSTS]
        names += list(OTHER_HOSTS.values())
        return {
            "IMAGESCRAPER_LOFTER_BLOG_URL": f"http://{{blog}}.lofter.test:{self.port}",
            "IMAGESCRAPER_LOFTER_API_URL": f"http://api.lofter.test:{self.port}",
            "IMAGESCRAPER_RESOLVE": ",".join(f"{name}=127.0.0.1" for name in names),
            "IMAGESCRAPER_ALLOW_HOSTS": ",".join(f"{name}:{self.port}" for name in names),
        }

    def host(self, label: str) -> str:
        if label in OTHER_HOSTS:
            return f"{OTHER_HOSTS[label]}:{self.port}"
        suffix = "lf127.test" if label.startswith(("imglf", "avaimg")) else "lofter.test"
        return f"{label}.{suffix}:{self.port}"

    def video_url(self, path: str) -> str:
        return f"http://{self.host('vod')}{path}?{SITE['video_sign']}"

    def strip(self) -> bytes:
        """The long image of post N4: a 1080 x 60,000 px strip, as LOFTER users post them."""
        path, width, height = SITE["strip"]
        if path not in self._originals:
            # Grey keeps the fake's memory low (65 MB decoded); its 64.8 million pixels are above
            # the old per-image pixel limit, which is what the test is about.
            strip = Image.new("L", (width, height), 220)
            draw = ImageDraw.Draw(strip)
            for y in range(0, height, 1500):
                draw.rectangle((40, y + 100, width - 40, y + 1300), fill=(y // 1500 * 37) % 200)
            out = io.BytesIO()
            strip.save(out, "JPEG", quality=80)
            self._originals[path] = out.getvalue()
        return self._originals[path]

    def post_url(self, blog: str, key: str) -> str:
        data = SITE["blogs"][blog]
        return f"http://{self.host(blog)}/post/{data['blog_id']:x}_{data['posts'][key]['hex']}"

    def image_url(self, label: str, path: str) -> str:
        return f"http://{self.host(label)}{path}"

    def original(self, path: str) -> bytes:
        if path == SITE["strip"][0]:
            return self.strip()
        if path not in self._originals:
            name = path.rsplit("/", 1)[-1]
            if name.endswith(".png"):
                body = images.png_with_alpha(path, size=(300, 200))
            elif name.endswith(".gif"):
                body = images.animated_gif(path, size=(120, 90), frames=3)
            elif name.endswith(".webp"):
                body = images.webp(path, size=(240, 180))
            else:
                body = images.jpeg(path, size=(480, 360))
            self._originals[path] = body
        return self._originals[path]

    def expected_images(self, *keys: str, blog: str = "ceshi") -> dict[str, bytes]:
        """Original bytes of every image of these posts, by image URL path."""
        found = {}
        for key in keys:
            post = SITE["blogs"][blog]["posts"][key]
            for _label, path, _query in post.get("images", []) + post.get("inline", []):
                found[path] = self.original(path)
        return found

    def api_listing(self, blog: str) -> list[dict]:
        """The blog's posts as the API lists them (the benchmark counts them)."""
        return self.api.listing(blog)

    def seen(self, host_label: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.requests if host_label is None or s.host.split(".")[0] == host_label]

    def record(self, seen: Seen):
        with self._lock:
            self.requests.append(seen)

    # -- rendering ------------------------------------------------------------------------------
    def _img(self, label: str, path: str, size: str, query: str) -> str:
        extra = f"&{query}" if query else ""
        return html.escape(f"{self.image_url(label, path)}?{THUMB.format(size)}{extra}")

    def _common(self, blog: str) -> dict:
        data = SITE["blogs"][blog]
        label, path = SITE["avatar"]
        return {
            "nickname": html.escape(data["nickname"]),
            "intro": html.escape(data["intro"]),
            "avatar": html.escape(self.image_url(label, path)),
            "www": self.host("www"),
            "home": f"http://{self.host(blog)}/",
            "blog_id": data["blog_id"],
        }

    def list_page(self, blog: str, number: int) -> str:
        data = SITE["blogs"][blog]
        pages = data["pages"]
        keys = pages[number - 1] if number <= len(pages) else []
        blocks = []
        for key in keys:
            if key == "REBLOG":
                other = SITE["reblog"]
                url = self.post_url(other["blog"], other["post"])
                blocks.append(f'<div class="m-post reblog"><a href="{url}">转载自 别人</a></div>')
                continue
            post = data["posts"][key]
            url = self.post_url(blog, key)
            first = (post.get("images") or post.get("inline") or [None])[0]
            thumbnail = f'<img src="{self._img(first[0], first[1], "500x0", first[2])}" />' if first else ""
            blocks.append(
                _template(self.theme, "list_post.html").substitute(
                    url=url,
                    relative_url=urlsplit(url).path,
                    kind="m-post-img" if post["type"] == 2 else "m-post-txt",
                    thumbnail=thumbnail,
                    date=time.strftime("%Y-%m-%d", time.gmtime(post["time"] / 1000)),
                    title=html.escape(post["title"]),
                    excerpt=images_free_text(post["body"]),
                )
            )
        pager = ""
        if number > 1:
            pager += f'<a class="prev" href="?page={number - 1}&amp;t=1714500000000">上一页</a>'
        if number < len(pages):
            pager += f'<a class="next" href="?page={number + 1}&amp;t=1714500000000">下一页</a>'
        return _template(self.theme, "list.html").substitute(self._common(blog), posts="\n".join(blocks), pager=pager)

    def post_page(self, blog: str, key: str) -> str:
        data = SITE["blogs"][blog]
        post = data["posts"][key]
        picture = _template(self.theme, "picture.html")
        pictures = [
            picture.substitute(
                big=self._img(label, path, "1680x0", query), small=self._img(label, path, "500x0", query)
            )
            for label, path, query in post.get("images", [])
        ]
        body = post["body"]
        for label, path, query in post.get("inline", []):
            body += f'<p><img src="{html.escape(self._inline_src(label, path, query))}" /></p>'
        if post.get("caption_repeats_first"):
            label, path, query = post["images"][0]
            body += f'<p><img src="{self._img(label, path, "500x0", query)}" /></p>'
        if post.get("video"):
            body += f'<div class="video"><video src="{self.video_url(post["video"])}" controls></video></div>'
        excerpt = images_free_text(post["body"])[:20]
        related_label, related_path, related_query = SITE["related_thumbnail"]
        related = html.escape(f"{self.image_url(related_label, related_path)}?imageView&{related_query}")
        tags = "\n".join(f'<a class="tag" href="/tag/{quote(tag)}">● {html.escape(tag)}</a>' for tag in post["tags"])
        return _template(self.theme, "post.html").substitute(
            self._common(blog),
            head_title=html.escape(post["title"] or excerpt),
            title=html.escape(post["title"]),
            keywords=html.escape(",".join(post["tags"])),
            description=html.escape(f"{post['title']} {images_free_text(post['body'])}".strip()),
            post_id=int(post["hex"], 16),
            url=self.post_url(blog, key),
            permalink=f"{data['blog_id']:x}_{post['hex']}",
            pictures="\n".join(pictures),
            body=body,
            date=time.strftime("%Y-%m-%d", time.gmtime(post["time"] / 1000)),
            tag_links=tags,
            related=related,
        )

    def login_shell(self) -> str:
        return Template((HERE / "themes" / "login_shell.html").read_text("utf-8")).substitute(www=self.host("www"))

    def _inline_src(self, label: str, path: str, query: str) -> str:
        if label in ("elsewhere",):
            return f"{self.image_url(label, path)}?{query}"  # not LOFTER's image service: no imageView
        extra = f"&{query}" if query else ""
        return f"{self.image_url(label, path)}?{THUMB.format('500x0')}{extra}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    @property
    def site(self) -> FakeLofter:
        return self.server.site

    def _answer(self, status: int, content_type: str, body: bytes | str, headers: dict | None = None):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, method: str):
        started = time.monotonic()
        host = (self.headers.get("Host") or "").lower()
        label = host.split(".")[0]
        form = {}
        if method == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8")
            form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
        try:
            bare_host = host.rsplit(":", 1)[0]
            if bare_host == OTHER_HOSTS["vod"]:
                self._video()
            elif host.endswith(f".lf127.test:{self.site.port}") or bare_host in (
                OTHER_HOSTS["nos"],
                OTHER_HOSTS["elsewhere"],
            ):
                self._image(label)
            elif label == "api":
                self._api(form)
            elif label == "www":
                self._www()
            else:
                self._blog(label)
        finally:
            headers = {k.lower(): v for k, v in self.headers.items()}
            self.site.record(Seen(host, self.path, method, headers, form, started, time.monotonic()))

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _logged_in(self) -> bool:
        return f"{LOGIN_COOKIE}=" in (self.headers.get("Cookie") or "")

    def _app_logged_in(self) -> bool:
        return bool(self.headers.get(LOGIN_HEADER) or self.headers.get("Authorization"))

    def _blog(self, blog: str):
        data = SITE["blogs"].get(blog)
        if data is None:
            self._answer(404, "text/html", "<html><body>404: no such blog</body></html>")
            return
        if self.site.login_wall and not self._logged_in():
            self._answer(200, "text/html; charset=utf-8", self.site.login_shell())
            return
        parts = urlsplit(self.path)
        if parts.path == "/":
            page = int(parse_qs(parts.query).get("page", ["1"])[0])
            self._answer(200, "text/html; charset=utf-8", self.site.list_page(blog, page))
            return
        for key, post in data["posts"].items():
            if parts.path == f"/post/{data['blog_id']:x}_{post['hex']}":
                if post.get("deleted"):
                    break
                if post.get("private") and not self._logged_in():
                    login = f"http://{self.site.host('www')}/front/login?url={quote(self.path)}"
                    self._answer(302, "text/html", "", {"Location": login})
                    return
                self._answer(200, "text/html; charset=utf-8", self.site.post_page(blog, key))
                return
        self._answer(404, "text/html", "<html><body>404: 页面不存在</body></html>")

    def _www(self):
        parts = urlsplit(self.path)
        segments = parts.path.strip("/").split("/")
        if parts.path.startswith("/front/login"):
            self._answer(200, "text/html; charset=utf-8", self.site.login_shell())
        elif segments[:3] == ["front", "blog", "home-page"] and len(segments) == 4:
            self._answer(302, "text/html", "", {"Location": f"http://{self.site.host(segments[3])}/"})
        else:
            self._answer(404, "text/html", "<html><body>404</body></html>")

    def _api(self, form: dict):
        content_type, body = self.site.api.answer(urlsplit(self.path).path, form, logged_in=self._app_logged_in())
        self._answer(200, content_type, body)

    def _video(self):
        parts = urlsplit(self.path)
        videos = {
            post["video"] for blog in SITE["blogs"].values() for post in blog["posts"].values() if post.get("video")
        }
        if parts.path not in videos:
            self._answer(404, "text/html", "<html><body>404</body></html>")
        elif parts.query != SITE["video_sign"]:
            # The signed query is the permission to download: without it the CDN refuses.
            self._answer(403, "text/html", "<html><body>403 signature</body></html>")
        else:
            self._answer(200, "video/mp4", sample_mp4(parts.path))

    def _image(self, label: str):
        parts = urlsplit(self.path)
        referer = self.headers.get("Referer") or ""
        if label == "imglf3" and not urlsplit(referer).netloc.endswith(f".lofter.test:{self.site.port}"):
            page = "<html><head><title>403 Forbidden</title></head><body><center><h1>403 Forbidden</h1></center>"
            self._answer(403, "text/html", page + "<hr><center>nginx</center></body></html>" + " " * 150)
            return
        # The legacy host keeps the imglfN folder ("/imglf4/img/..."), so the rewritten address
        # of a legacy image that was never moved is not known here: a 404, as on the real CDN.
        path = parts.path
        if label == "pic" and parts.query != "w=800":
            path = ""  # on this host the query names the file
        if path not in KNOWN_IMAGES:
            self._answer(404, "text/html", "<html><body>404</body></html>")
            return
        original = self.site.original(parts.path)
        extension = parts.path.rsplit(".", 1)[-1]
        types = {"jpg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp"}
        if parts.query.startswith("imageView") and label != "pic":
            # The image service's resized copy: never the original (a GIF becomes a still JPEG).
            self._answer(200, "image/jpeg", images.jpeg(f"{parts.path}#thumbnail", size=(160, 120)))
        else:
            self._answer(200, types[extension], original)
