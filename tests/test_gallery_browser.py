"""The gallery in a real browser: Debian's Chromium driven by Playwright, served with the
production headers (imagescraper/gallery/serve.py sends what nginx sends).

Screenshots of the index and an album page are saved under test-artifacts/gallery/ for a person
to look at. axe-core comes from the axe-playwright-python package (its bundled axe.min.js).
"""

from __future__ import annotations

import hashlib
import shutil
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from demo import images
from demo.crawling import REPO
from demo.fakelofter.data import sample_mp4
from demo.storemaker import StoreMaker
from imagescraper.gallery.serve import CONTENT_SECURITY_POLICY, GalleryServer
from tests.gallerysite import builder, make_store

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--disable-quic"]  # fmt: skip
ARTIFACTS = REPO / "test-artifacts" / "gallery"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is installed by ./dev test")
pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is installed by ./dev test (apt)"),
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    store_root, gallery_dir = root / "store", root / "gallery"
    store = make_store(store_root)
    for n in range(180):  # screens more than Chromium's lazy-load margin: the lower ones must wait
        store.add(images.jpeg(f"many-{n}", size=(360, 270)), ["many photos"], f"m{n:02d}-{n:016x}.jpg",
                  title="many photos")  # fmt: skip
    builder(store_root, gallery_dir).build()
    with GalleryServer(gallery_dir, store_root) as server:
        yield server, gallery_dir


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


class Watched:
    """A page whose console errors, failed or foreign requests and dialogs are recorded."""

    def __init__(self, browser, server, **context):
        self.context = browser.new_context(viewport={"width": 1280, "height": 800}, **context)
        self.page = self.context.new_page()
        self.server = server
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.page.on(
            "console", lambda m: m.type in ("error", "warning") and self.problems.append(f"{m.type}: {m.text}")
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("dialog", lambda d: self.problems.append(f"dialog: {d.message}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        # Leaving a page cancels its thumbnails still loading (ERR_ABORTED): not a failure.
        self.page.on(
            "requestfailed",
            lambda r: "ERR_ABORTED" in (r.failure or "") or self.problems.append(f"failed: {r.url} {r.failure}"),
        )

    def open(self, path: str):
        response = self.page.goto(self.server.base + path)
        assert response.status == 200, path
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        self.page.wait_for_load_state("load")
        return response

    def close(self):
        self.context.close()


def album_path(server, folder: str) -> str:
    return urlsplit(server.url).path.rsplit("/", 1)[0] + "/a/" + folder + "/index.html"


VISIBLE = """() => [...document.querySelectorAll('main img')].filter(img => {
    const r = img.getBoundingClientRect();
    return r.bottom > 0 && r.top < innerHeight && r.width > 0;
})"""


def wait_for_visible_thumbnails(page) -> list[dict]:
    """Every thumbnail on the screen, once each has loaded (or failed: naturalWidth 0)."""
    page.wait_for_function(f"() => ({VISIBLE})().every(img => img.complete)")
    return page.evaluate(f"() => ({VISIBLE})().map(img => ({{src: img.currentSrc, natural: img.naturalWidth}}))")


def test_pages_load_under_the_production_policy_with_nothing_foreign(gallery, browser):
    server, gallery_dir = gallery
    watched = Watched(browser, server)
    base = urlsplit(server.url).path.rsplit("/", 1)[0]
    try:
        image_page = next((gallery_dir / "a" / "images.example").glob("_*.html")).name
        for path in (server.url[len(server.base):], f"{base}/recent.html", album_path(server, "ceshi"),
                     album_path(server, "images.example"), f"{base}/a/images.example/{image_page}"):  # fmt: skip
            watched.open(path)
            shown = wait_for_visible_thumbnails(watched.page)
            assert shown and all(t["natural"] > 0 for t in shown), (path, shown)
            sheets = watched.page.evaluate("() => document.styleSheets.length")
            assert sheets == 1, path
        assert not watched.problems, watched.problems
        assert watched.requests and all(url.startswith(server.base + "/") for url in watched.requests)
    finally:
        watched.close()


def test_thumbnails_below_the_screen_wait_for_scrolling(gallery, browser):
    server, _ = gallery
    watched = Watched(browser, server)
    try:
        watched.open(album_path(server, "many%20photos"))
        thumbs = watched.page.evaluate(
            "() => [...document.querySelectorAll('.grid img')].map(i => i.currentSrc || i.src)"
        )
        assert len(thumbs) == 180
        fetched = [url for url in watched.requests if "/t/" in url]
        assert thumbs[-1] not in fetched and len(fetched) < 120, len(fetched)
        watched.page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
        watched.page.wait_for_function(
            "() => { const i = [...document.querySelectorAll('.grid img')].pop();"
            " return i.complete && i.naturalWidth > 0; }"
        )
        assert any(url.split("/")[-1] == thumbs[-1].split("/")[-1] for url in watched.requests)
        assert not watched.problems, watched.problems
    finally:
        watched.close()


def tab_to_and_follow(page, rel: str) -> str:
    """Tab until the link with this rel has the focus, press Enter; returns where it went."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.getAttribute('rel')") == rel:
            break
    else:
        pytest.fail(f"Tab never reached the {rel} link")
    target = page.evaluate("() => document.activeElement.getAttribute('href')")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(target)
    return target


def test_the_keyboard_alone_reaches_an_image_and_steps_through(gallery, browser):
    server, _ = gallery
    watched = Watched(browser, server)
    page = watched.page
    try:
        watched.open(album_path(server, "images.example"))
        for _ in range(20):
            page.keyboard.press("Tab")
            if page.evaluate("() => !!document.activeElement.closest('.grid')"):
                break
        else:
            pytest.fail("Tab never reached the first thumbnail")
        first = page.evaluate("() => document.activeElement.getAttribute('href')")
        assert first == page.evaluate("() => document.querySelector('.grid a').getAttribute('href')")
        outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("none", ""), "focus must be visible"
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url.endswith(first)
        # Next, then previous, by Tab and Enter. (The links also carry accesskey="n"/"p", which
        # Chromium does not act on for keys synthesised through the DevTools protocol.)
        second_href = tab_to_and_follow(page, "next")
        assert page.evaluate("() => document.querySelector('a[rel=next]').accessKey") == "n"
        assert tab_to_and_follow(page, "prev") == first
        assert page.evaluate("() => document.querySelector('a[rel=prev]') === null")
        assert tab_to_and_follow(page, "next") == second_href
        assert not watched.problems, watched.problems
    finally:
        watched.close()


def test_dark_mode_follows_the_browser(gallery, browser):
    server, _ = gallery
    colours = {}
    for scheme in ("light", "dark"):
        watched = Watched(browser, server, color_scheme=scheme)
        try:
            watched.open(album_path(server, "images.example"))
            colours[scheme] = watched.page.evaluate(
                "() => [getComputedStyle(document.body).backgroundColor, getComputedStyle(document.body).color]"
            )
        finally:
            watched.close()
    assert colours["light"] != colours["dark"]
    assert colours["dark"][0] == "rgb(18, 19, 22)" and colours["light"][0] == "rgb(246, 245, 242)"


def _axe_source() -> str:
    return (resources.files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violations(gallery, browser, scheme):
    server, gallery_dir = gallery
    axe = _axe_source()
    base = urlsplit(server.url).path.rsplit("/", 1)[0]
    image_page = next((gallery_dir / "a" / "images.example").glob("_*.html")).name
    watched = Watched(browser, server, color_scheme=scheme)
    try:
        for path in (server.url[len(server.base):], f"{base}/recent.html", album_path(server, "ceshi"),
                     album_path(server, "images.example"), f"{base}/a/images.example/{image_page}"):  # fmt: skip
            watched.open(path)
            watched.page.evaluate(axe)
            result = watched.page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
            violations = [(v["id"], v["help"], [n["html"][:120] for n in v["nodes"][:3]]) for v in result["violations"]]
            assert not violations, (path, violations)
    finally:
        watched.close()


def test_hostile_titles_stay_text_in_the_browser(gallery, browser):
    server, _ = gallery
    watched = Watched(browser, server)
    try:
        watched.open(album_path(server, "ceshi"))
        page = watched.page
        assert page.evaluate("() => document.scripts.length") == 0
        titles = page.evaluate("() => [...document.querySelectorAll('.card-title')].map(e => e.textContent)")
        assert "<script>alert(1)</script>" in titles and '"onload=alert(1) x="' in titles
        assert page.evaluate("() => [...document.querySelectorAll('*')].some(e => e.hasAttribute('onload'))") is False
        assert not watched.problems, watched.problems
    finally:
        watched.close()


def test_screenshots_for_a_person_to_look_at(gallery, browser):
    server, _ = gallery
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    for scheme in ("light", "dark"):
        watched = Watched(browser, server, color_scheme=scheme)
        try:
            for name, path in (
                ("index", server.url[len(server.base) :]),
                ("album", album_path(server, "images.example")),
                ("blog", album_path(server, "ceshi")),
            ):
                watched.open(path)
                watched.page.evaluate("() => Promise.all([...document.images].map(i => i.decode().catch(() => null)))")
                target = ARTIFACTS / f"{name}-{scheme}.png"
                watched.page.screenshot(path=str(target))
                assert target.stat().st_size > 10_000
        finally:
            watched.close()


PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
TOPS = "sel => [...document.querySelectorAll(sel)].map(e => e.getBoundingClientRect()).map(r => [r.top, r.width])"


def test_on_a_phone_two_cards_a_row_and_the_steps_on_one_line(gallery, browser):
    server, gallery_dir = gallery
    watched = Watched(browser, server)
    watched.context.close()
    watched.context = browser.new_context(**PHONE)
    watched.page = watched.context.new_page()
    base = urlsplit(server.url).path.rsplit("/", 1)[0]
    try:
        watched.open(album_path(server, "ceshi"))
        cards = watched.page.evaluate(TOPS, ".card")
        assert len(cards) >= 2 and cards[0][0] == cards[1][0] and all(width < 195 for _top, width in cards), cards
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        watched.page.screenshot(path=str(ARTIFACTS / "blog-phone.png"))
        for image_page in sorted((gallery_dir / "a" / "images.example").glob("_*.html"))[:3]:
            watched.open(f"{base}/a/images.example/{image_page.name}")
            steps = watched.page.evaluate(TOPS, ".steps > *")
            assert len(steps) == 3 and len({round(top) for top, _width in steps}) == 1, steps
            assert watched.page.evaluate("() => document.documentElement.scrollWidth") <= 390
        watched.page.screenshot(path=str(ARTIFACTS / "image-phone.png"))
        assert watched.problems == []
    finally:
        watched.close()


def test_a_video_plays_under_the_production_policy(tmp_path, browser):
    store_root, gallery_dir = tmp_path / "store", tmp_path / "gallery"
    store = StoreMaker(store_root)
    store.add(images.jpeg("beside"), ["ceshi", "视频_3000"], "pic-0000000000000a01.jpg", title="视频")
    body = sample_mp4("browser")
    path = "ceshi/视频_3000/clip-0000000000000a02.mp4"
    (store_root / path).write_bytes(body)
    store.append({"url": "https://vod.example/clip.mp4", "path": path, "sha256": hashlib.sha256(body).hexdigest(),
                  "bytes": len(body), "format": "MP4", "title": "视频", "stored_at": "2026-11-02T10:00:00+00:00",
                  "media": "video"})  # fmt: skip
    builder(store_root, gallery_dir).build()
    with GalleryServer(gallery_dir, store_root) as server:
        watched = Watched(browser, server)
        try:
            album = album_path(server, "%E8%A7%86%E9%A2%91_3000").replace("/a/", "/a/ceshi/")
            watched.open(album)
            watched.page.click("a.videotile")
            watched.page.wait_for_load_state("load")
            with watched.page.expect_response(lambda r: r.url.endswith(".mp4")) as fetched:
                watched.page.evaluate("() => document.querySelector('video').load()")
            assert fetched.value.status in (200, 206)
            assert fetched.value.headers["content-type"] == "video/mp4"
            assert not [p for p in watched.problems if "Refused" in p or "Content Security Policy" in p]
        finally:
            watched.close()
