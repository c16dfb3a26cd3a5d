"""The gallery builder (imagescraper/gallery/): pages, thumbnails, links, escaping, incremental builds."""

from __future__ import annotations

import hashlib
import json
import os
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from PIL import Image

from demo import images
from demo.fakelofter.data import sample_mp4
from demo.storemaker import StoreMaker, folder_for
from imagescraper.gallery import thumbs
from imagescraper.gallery.build import GalleryLock
from imagescraper.startup_errors import StoreBusyError
from tests.gallerysite import CHINESE_200, HOSTILE_TAGS, HOSTILE_TITLES, builder, make_store, snapshot


class Page(HTMLParser):
    """Tags, attributes and text of one page."""

    def __init__(self, path: Path):
        super().__init__(convert_charrefs=True)
        self.path = path
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(self.text)

    def links(self) -> list[str]:
        found = []
        for _tag, attrs in self.tags:
            for name in ("href", "src"):
                if attrs.get(name):
                    found.append(attrs[name])
            for part in (attrs.get("srcset") or "").split(","):
                if part.strip():
                    found.append(part.split()[0])
        return found


@pytest.fixture
def site(tmp_path):
    store_root, gallery = tmp_path / "store", tmp_path / "gallery"
    store = make_store(store_root)
    report = builder(store_root, gallery).build()
    return store, store_root, gallery, report


def pages(gallery: Path) -> list[Path]:
    return sorted(p for p in gallery.rglob("*.html") if ".gallery" not in p.parts)


def test_a_first_build_makes_every_page_and_two_thumbnail_sizes(site):
    store, store_root, gallery, report = site
    assert report.full and report.new_records == store.count == 19
    assert report.thumbnails_made == 19 and not report.thumbnails_failed
    for line in store.manifest.read_text().splitlines():
        sha = json.loads(line)["sha256"]
        for size in (thumbs.SMALL, thumbs.LARGE):
            with Image.open(gallery / thumbs.thumb_path(sha, size)) as thumb:
                assert thumb.format == "WEBP" and thumb.width == thumb.height <= size
    with Image.open(
        gallery / thumbs.thumb_path(json.loads(store.manifest.read_text().splitlines()[0])["sha256"], 480)
    ) as t:
        assert t.size == (240, 240)  # a 320x240 photo: the crop is never enlarged
    index = Page(gallery / "index.html")
    assert "19 images in 2 folders (7 albums)" in index.all_text
    recent = (gallery / "recent.html").read_text(encoding="utf-8")
    assert recent.count('<section class="recent">') == 7  # one group per folder, newest first
    assert recent.index("js_2000/index.html") < recent.index("images.example/index.html")
    album = Page(gallery / "a" / "images.example" / "index.html")
    thumbnails = [attrs for tag, attrs in album.tags if tag == "img"]
    assert len(thumbnails) == 8
    for attrs in thumbnails:
        assert attrs["loading"] == "lazy" and attrs["width"] == "240" and attrs["height"] == "240" and attrs["alt"]
        assert attrs["srcset"].endswith("480w") and "240w" in attrs["srcset"]
    assert "Animated" in album.all_text
    assert [t["alt"] for t in thumbnails][:1] + [t["alt"] for t in thumbnails][6:7] == [
        "Image 1: p0", "Image 7: moving, animated"
    ]  # fmt: skip
    assert len(list((gallery / "static").glob("gallery-*.css"))) == 1
    # One page per image, in the album's folder.
    assert len(list((gallery / "a" / "images.example").glob("_*.html"))) == 8


def test_every_link_is_relative_encoded_and_lands_on_a_file(site):
    store, store_root, gallery, _ = site
    for page in pages(gallery):
        for link in Page(page).links():
            parts = urlsplit(link)
            if link == "#main":
                continue
            if parts.scheme:
                assert parts.scheme in ("http", "https"), (page, link)
                assert " " not in link and '"' not in link and "<" not in link
                continue
            assert not link.startswith("/") and not any(ord(c) > 127 or c in ' "<>' for c in link), (page, link)
            target = (page.parent / unquote(parts.path)).resolve()
            assert target.is_file(), (page, link)
            assert gallery.resolve() in target.parents or store_root.resolve() in target.parents


def test_hostile_titles_and_tags_are_text(site):
    _, _, gallery, _ = site
    blog = Page(gallery / "a" / "ceshi" / "index.html")
    for title in HOSTILE_TITLES:
        assert title in blog.all_text
    for page in pages(gallery):
        parsed = Page(page)
        assert not [tag for tag, _ in parsed.tags if tag in ("script", "iframe", "object", "embed", "style")], page
        assert not [attrs for _, attrs in parsed.tags if any(name.startswith("on") for name in attrs)], page
        assert "style" not in {name for _, attrs in parsed.tags for name in attrs}, page
        assert "javascript:" not in " ".join(parsed.links()).lower()
    post = gallery / "a" / "ceshi" / "script_alert(1)__script_1000"
    album = Page(post / "index.html")
    assert "<script>alert(1)</script>" in album.all_text
    for tag in HOSTILE_TAGS:
        assert tag in album.all_text
    raw = (post / "index.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw and "<script>" not in raw
    assert '"onload' not in raw.replace("&#34;onload", "")
    chinese = next(p for p in (gallery / "a" / "ceshi").iterdir() if p.name.startswith("春日"))
    assert CHINESE_200 in Page(chinese / "index.html").all_text
    assert "https://ceshi.lofter.com/post/1cf5_1000" in [a.get("href") for _, a in album.tags]
    # "../x" names a folder inside the blog, not above it.
    assert not (gallery / "a" / "x").exists() and not (gallery / "x").exists()


def test_a_javascript_post_link_is_shown_as_text_only(site):
    _, _, gallery, _ = site
    js = gallery / "a" / "ceshi" / "js_2000"
    album = Page(js / "index.html")
    assert "javascript:alert(1)" in album.all_text  # shown, as text
    assert not [link for link in album.links() if link.strip().lower().startswith("javascript")]
    image_page = next(js.glob("_*.html"))
    parsed = Page(image_page)
    assert "javascript:alert(1)" in parsed.all_text
    assert not [link for link in parsed.links() if link.strip().lower().startswith("javascript")]
    assert 'http://images.example/a"b<c>.jpg' in parsed.all_text
    assert "http://images.example/a%22b%3Cc%3E.jpg" in parsed.links()


def test_an_image_page_has_the_original_neighbours_and_facts(site):
    store, store_root, gallery, _ = site
    album = Page(gallery / "a" / "images.example" / "index.html")
    second = next(attrs["href"] for tag, attrs in album.tags if tag == "a" and attrs.get("href", "").startswith("_"))
    first_page = Page(gallery / "a" / "images.example" / second)
    anchors = [attrs for tag, attrs in first_page.tags if tag == "a"]
    assert not [a for a in anchors if a.get("rel") == "prev"]
    nexts = [a for a in anchors if a.get("rel") == "next"]
    assert nexts and nexts[0]["accesskey"] == "n"
    following = Page(gallery / "a" / "images.example" / nexts[0]["href"])
    prev = [a for tag, a in following.tags if tag == "a" and a.get("rel") == "prev"]
    assert prev[0]["href"] == second and prev[0]["accesskey"] == "p"
    record = json.loads(store.manifest.read_text().splitlines()[0])
    text = first_page.all_text
    for fact in ("JPEG", f"{record['width']} × {record['height']}", record["url"], record["sha256"], "2026-11-01"):
        assert fact in text
    photo = next(attrs for tag, attrs in first_page.tags if tag == "img")
    assert unquote(photo["src"]).endswith(record["path"]) and photo["width"] == str(record["width"])
    gif_page = next(p for p in (gallery / "a" / "images.example").glob("_*.html") if "moving" in p.read_text())
    assert "Animated, 3 frames" in Page(gif_page).all_text


def test_pages_of_a_few_hundred(tmp_path):
    store_root, gallery = tmp_path / "store", tmp_path / "gallery"
    store = make_store(store_root)
    builder(store_root, gallery, page_size=3).build()
    album = gallery / "a" / "images.example"
    assert sorted(p.name for p in album.glob("*.html") if not p.name.startswith("_") or p.name.startswith("_p")) == [
        "_p2.html", "_p3.html", "index.html"
    ]  # fmt: skip
    second = Page(album / "_p2.html")
    rels = {a.get("rel"): a["href"] for tag, a in second.tags if tag in ("a", "link") and a.get("rel")}
    assert rels["prev"] == "index.html" and rels["next"] == "_p3.html"
    assert len([1 for tag, a in second.tags if tag == "img"]) == 3
    assert store.count == 19
    # All folders, three to a page: the two top folders fit; the blog's six posts take two pages.
    assert not (gallery / "_p2.html").exists()
    assert (gallery / "a" / "ceshi" / "_p2.html").exists() and not (gallery / "a" / "ceshi" / "_p3.html").exists()
    builder(store_root, tmp_path / "one-per-page", page_size=1).build()
    assert "Page 2 of 2" in Page(tmp_path / "one-per-page" / "_p2.html").all_text


def test_an_incremental_build_reads_only_new_lines_and_rewrites_only_what_changed(site, monkeypatch):
    store, store_root, gallery, _ = site
    before = snapshot(gallery)
    made = []
    real = thumbs.make_thumbnails
    monkeypatch.setattr(thumbs, "make_thumbnails", lambda *a: made.append(a[2]) or real(*a))
    title = HOSTILE_TITLES[2]
    extra = {"post_url": "https://ceshi.lofter.com/post/1cf5_1002", "post_title": title, "tags": [],
             "published": "2026-10-03T12:00:00+00:00"}  # fmt: skip
    new = store.add(images.jpeg("late"), folder_for(title, "1002", blog="ceshi"), "late-00000000000000ff.jpg",
                    title=title, extra=extra)  # fmt: skip
    # The same picture again under another URL: no second thumbnail.
    store.add(images.jpeg("late"), ["images.example"], "late-00000000000000ee.jpg", title="images.example")
    report = builder(store_root, gallery).build()
    assert not report.full and report.new_records == 2 and made == [new["sha256"]]
    after = snapshot(gallery)
    changed = {path for path in after if before.get(path) != after[path]}
    post = "a/ceshi/" + "/".join(new["path"].split("/")[1:2])
    expected_prefixes = (f"{post}/", "a/images.example/", "a/ceshi/index.html", "index.html", "recent.html",
                         ".gallery/", f"t/{new['sha256'][:2]}/")  # fmt: skip
    assert all(path.startswith(expected_prefixes) for path in changed), sorted(changed)
    # Image pages: the two new ones and the ones before them (whose "next" changed).
    image_pages = sorted(p for p in changed if p.rsplit("/", 1)[-1].startswith("_") and p.endswith(".html"))
    assert len(image_pages) == 4, image_pages
    untouched = [p for p in before if p.startswith("a/ceshi/") and p.count("/") == 3 and not p.startswith(post)]
    assert untouched and not set(untouched) & changed
    assert all(before[p] == after[p] for p in before if p.startswith("t/"))
    # Nothing new: nothing but the index pages' build time may change.
    again = builder(store_root, gallery).build()
    assert again.new_records == 0 and again.thumbnails_made == 0 and again.pages_written <= 2


def test_a_line_being_written_waits_for_the_next_build(site):
    store, store_root, gallery, _ = site
    record = store.add(images.jpeg("cut"), ["images.example"], "cut-0000000000000011.jpg", title="images.example")
    text = store.manifest.read_bytes()
    line = text[text.rindex(b"\n", 0, len(text) - 1) + 1 :]
    store.manifest.write_bytes(text[: -len(line)] + line[:20])
    assert builder(store_root, gallery).build().new_records == 0
    store.manifest.write_bytes(text)
    assert builder(store_root, gallery).build().new_records == 1
    assert record["sha256"] in (gallery / "recent.html").read_text(encoding="utf-8")


def test_a_replaced_manifest_is_read_again_from_the_start(site):
    store, store_root, gallery, _ = site
    lines = store.manifest.read_text().splitlines(keepends=True)
    replacement = store.manifest.with_suffix(".new")
    replacement.write_text("".join(lines[:5]))
    os.replace(replacement, store.manifest)
    report = builder(store_root, gallery).build()
    assert report.full and report.new_records == 5 and report.thumbnails_made == 0
    assert "5 images in 1 folder" in Page(gallery / "index.html").all_text
    assert not (gallery / "a" / "ceshi").exists()


def test_full_rebuild_flag_rewrites_pages_but_no_thumbnail(site):
    _, store_root, gallery, _ = site
    (gallery / "a" / "images.example" / "index.html").write_text("stale")
    (gallery / "a" / "gone").mkdir()
    (gallery / "a" / "gone" / "index.html").write_text("an album that is no more")
    report = builder(store_root, gallery).build(full=True)
    assert report.full and report.thumbnails_made == 0 and report.pages_removed >= 1
    assert "stale" not in (gallery / "a" / "images.example" / "index.html").read_text()
    assert not (gallery / "a" / "gone").exists()


def test_lines_pointing_outside_the_store_and_missing_files_are_left_out(tmp_path, caplog):
    store_root, gallery = tmp_path / "store", tmp_path / "gallery"
    store = make_store(store_root)
    good = json.loads(store.manifest.read_text().splitlines()[0])
    for path in ("../outside.jpg", "/etc/passwd", "a/../../x.jpg", ".imagescraper/lock", "images.example/.hidden.jpg"):
        store.append({**good, "path": path})
    store.append({**good, "sha256": "f" * 64, "path": "images.example/missing-0000000000000000.jpg"})
    with store.manifest.open("a") as out:
        out.write("not json\n")
    report = builder(store_root, gallery).build()
    assert report.skipped_lines == 6
    assert list(report.thumbnails_failed.values()) == [
        f"{store_root}/images.example/missing-0000000000000000.jpg is missing"
    ]
    assert "missing" in caplog.text
    assert not list(tmp_path.glob("gallery/**/outside*")) and "19 images" in Page(gallery / "index.html").all_text


def test_thumbnails_of_awkward_images(tmp_path):
    """A big JPEG (decoded at a reduced scale), EXIF rotation, 16-bit grey, CMYK and a TIFF."""
    sources = {}
    big = Image.new("RGB", (4000, 3000), "red")
    big.paste(Image.new("RGB", (4000, 1500), "blue"), (0, 1500))
    sources["big.jpg"] = (big, "JPEG", {})
    rotated = Image.new("RGB", (600, 300), "red")
    rotated.paste(Image.new("RGB", (300, 300), "blue"), (300, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°: shown 300 wide, 600 high
    sources["rotated.jpg"] = (rotated, "JPEG", {"exif": exif.tobytes()})
    sources["grey16.png"] = (Image.new("I;16", (300, 300), 40000), "PNG", {})
    sources["cmyk.jpg"] = (Image.new("CMYK", (300, 300), (0, 255, 255, 0)), "JPEG", {})
    sources["scan.tiff"] = (Image.new("RGB", (2000, 1000), "white"), "TIFF", {})
    for name, (image, fmt, params) in sources.items():
        image.save(tmp_path / name, fmt, **params)
        thumbs.make_thumbnails(tmp_path / name, tmp_path / "g", name.replace(".", "0").ljust(64, "0"), fmt)

    def thumb(name, size=480):
        return Image.open(tmp_path / "g" / thumbs.thumb_path(name.replace(".", "0").ljust(64, "0"), size))

    assert thumb("big.jpg").size == (480, 480) and thumb("big.jpg", 240).size == (240, 240)
    top, bottom = (
        thumb("big.jpg").convert("RGB").getpixel((240, 10)),
        thumb("big.jpg").convert("RGB").getpixel((240, 470)),
    )
    assert top[0] > 200 and bottom[2] > 200
    assert thumb("grey16.png").convert("L").getpixel((5, 5)) in range(150, 160)
    assert thumb("cmyk.jpg").convert("RGB").getpixel((5, 5))[1] < 60  # CMYK magenta + yellow: red
    assert thumb("rotated.jpg", 240).convert("RGB").getpixel((235, 5))[0] > 200  # the left half is now on top
    assert thumb("scan.tiff", "view").size == (1600, 800)
    assert thumbs.needs_view("TIFF") and not thumbs.needs_view("JPEG")


def test_one_build_at_a_time(site):
    _, store_root, gallery, _ = site
    with GalleryLock(gallery):
        with pytest.raises(StoreBusyError, match="is being built by another process"):
            builder(store_root, gallery).build()
    assert builder(store_root, gallery).build().new_records == 0


def test_images_dropped_by_checkstore_repair_leave_the_gallery(site):
    store, store_root, gallery, _ = site
    records = [json.loads(line) for line in store.manifest.read_text().splitlines()]
    first = records[0]
    post = [r for r in records if r["path"].startswith("ceshi/js_2000/")]
    for record in [first, *post]:
        store.append({"url": record["url"], "path": record["path"], "dropped": "size", "dropped_at": "2026-11-30"})
    report = builder(store_root, gallery).build()
    assert not report.full and report.new_records == 2
    album = gallery / "a" / "images.example"
    assert len(list(album.glob("_*.html"))) == 7
    assert "7 images" in Page(album / "index.html").all_text
    assert first["sha256"] not in (album / "index.html").read_text()
    assert not (gallery / "a" / "ceshi" / "js_2000").exists()
    assert "js_2000" not in (gallery / "a" / "ceshi" / "index.html").read_text()
    assert "17 images in 2 folders (6 albums)" in Page(gallery / "index.html").all_text
    assert first["sha256"] not in (gallery / "recent.html").read_text()
    # The same from scratch.
    builder(store_root, gallery).build(full=True)
    assert "17 images in 2 folders (6 albums)" in Page(gallery / "index.html").all_text
    assert len(list(album.glob("_*.html"))) == 7 and not (gallery / "a" / "ceshi" / "js_2000").exists()


def _add_video(store, folders: list[str], name: str, title: str, post_id: str) -> dict:
    """A video line as the pipeline writes it for lofter -a videos=true: an MP4, no pixels known."""
    body = sample_mp4(name)
    path = "/".join([*folders, name])
    (store.root / path).parent.mkdir(parents=True, exist_ok=True)
    (store.root / path).write_bytes(body)
    record = {"url": f"https://vod.example/{name}", "path": path, "sha256": hashlib.sha256(body).hexdigest(),
              "bytes": len(body), "width": None, "height": None, "format": "MP4", "frames": None, "title": title,
              "stored_at": "2026-11-02T10:00:00+00:00", "post_url": f"https://ceshi.lofter.com/post/1cf5_{post_id}",
              "post_title": title, "tags": [], "published": "", "media": "video",
              "fetched_from": f"https://vod.example/{name}?sign=1"}  # fmt: skip
    store.append(record)
    return record


def test_videos_are_shown_and_counted_as_videos_never_as_unreadable_images(tmp_path, caplog):
    store_root, gallery = tmp_path / "store", tmp_path / "gallery"
    store = make_store(store_root)
    only = _add_video(store, folder_for("视频", "3000", blog="ceshi"), "clip-0000000000000a01.mp4", "视频", "3000")
    mixed_folder = folder_for("混合", "3001", blog="ceshi")
    picture = store.add(images.jpeg("mixed"), mixed_folder, "pic-0000000000000a02.jpg", title="混合",
                        extra={"post_title": "混合"})  # fmt: skip
    _add_video(store, mixed_folder, "clip-0000000000000a03.mp4", "混合", "3001")
    with caplog.at_level("WARNING"):
        report = builder(store_root, gallery).build()
    assert report.thumbnails_failed == {} and report.videos_read == 2 and report.records_read == store.count + 2
    assert "leaves out" not in caplog.text and "0 images unreadable" in report.summary()
    assert "2 videos among them" in report.summary()
    album = gallery / "a" / "ceshi" / "视频_3000"
    page = Page(album / "index.html")
    assert "1 video ·" in page.all_text and "0 images" not in page.all_text
    tiles = [attrs for tag, attrs in page.tags if tag == "a" and attrs.get("class") == "videotile"]
    assert len(tiles) == 1 and not [a for t, a in page.tags if t == "img"]
    video_page = Page(album / unquote(tiles[0]["href"]))
    [video] = [attrs for tag, attrs in video_page.tags if tag == "video"]
    assert "controls" in video and (album / unquote(video["src"])).resolve() == (store_root / only["path"]).resolve()
    assert "About this video" in video_page.all_text and "Dimensions" not in video_page.all_text
    # The blog's page: a poster-less card for the video post, the picture as the mixed post's cover.
    blog = Page(gallery / "a" / "ceshi" / "index.html")
    assert "1 video" in blog.all_text and "1 image and 1 video" in blog.all_text
    covers = [attrs["src"] for tag, attrs in blog.tags if tag == "img"]
    assert any(picture["sha256"] in src for src in covers)
    assert not any(only["sha256"] in src for src in covers)
    assert "and 2 videos in 2 folders (9 albums)" in Page(gallery / "index.html").all_text
    assert "1 video" in Page(gallery / "recent.html").all_text or "2 videos" in Page(gallery / "recent.html").all_text


def test_a_title_that_says_nothing_shows_the_folder_name(tmp_path):
    store_root, gallery = tmp_path / "store", tmp_path / "gallery"
    store = make_store(store_root)
    # The pipeline names the folder after the excerpt when the title cleans to nothing.
    store.add(images.jpeg("dots"), ["ceshi", "晚霞的照片_3002"], "d-0000000000000a04.jpg", title="..",
              extra={"post_title": ".."})  # fmt: skip
    builder(store_root, gallery).build()
    blog = Page(gallery / "a" / "ceshi" / "index.html")
    titles = [text.strip() for text in blog.text if text.strip()]
    assert "晚霞的照片_3002" in titles and ".." not in titles
    album = Page(gallery / "a" / "ceshi" / "晚霞的照片_3002" / "index.html")
    assert [t.strip() for t in album.text if t.strip()][:1] != [".."] and "晚霞的照片_3002" in album.all_text
    assert ".." not in [t.strip() for t in album.text]


def test_counts_agree_with_what_a_build_did(site):
    store, store_root, gallery, first = site
    on_disk = len(pages(gallery))
    assert first.pages_total == on_disk == first.pages_written and first.pages_unchanged == 0
    full = builder(store_root, gallery).build(full=True)
    assert full.full and full.records_read == store.count and full.new_records == 0
    assert full.pages_written + full.pages_unchanged == on_disk and full.pages_written <= 2  # the build time
    assert f"{store.count} manifest records read (0 new)" in full.summary()
    again = builder(store_root, gallery).build()
    assert again.records_read == again.new_records == 0
    assert again.pages_written == 0 and again.pages_unchanged == on_disk
    assert f"0 pages written, {on_disk} unchanged" in again.summary()


def test_one_of_everything_is_singular(tmp_path):
    store_root, gallery = tmp_path / "store", tmp_path / "gallery"
    store = StoreMaker(store_root)
    store.add(images.jpeg("one"), ["solo"], "one-0000000000000a05.jpg", title="solo")
    report = builder(store_root, gallery).build()
    summary = report.summary()
    for phrase in ("1 manifest record read (1 new)", "1 thumbnail made", "1 album rendered", "0 manifest lines"):
        assert phrase in summary, summary
    assert "1 image in 1 folder," in Page(gallery / "index.html").all_text
    assert "The newest 1 image," in Page(gallery / "recent.html").all_text
    assert "1 image" in Page(gallery / "a" / "solo" / "index.html").all_text
    assert "1 images" not in " ".join(Page(p).all_text for p in pages(gallery))
