"""The pipeline in-process, as Scrapy's own media pipeline tests do it: a crawler from
``get_crawler``, the engine's download replaced by a dict of answers, real image bytes, and
the store on disk checked afterwards. Each test takes milliseconds.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field

import pytest
from PIL import Image
from scrapy import Spider
from scrapy.exceptions import CannotResolveHostError, DownloadTimeoutError
from scrapy.http import HtmlResponse, Response
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from demo import images
from demo.crawling import REPO, stored_files
from imagescraper import runstats
from imagescraper.items import ImageItem
from imagescraper.pipelines import OriginalImagesPipeline
from imagescraper.scrapy_compat import MEDIA_LOGGER
from imagescraper.startup_errors import InputError
from tests.conftest import SAMPLES

JPEG = images.jpeg("pipeline-jpeg")
PNG = images.png_with_alpha("pipeline-png")
GIF = images.animated_gif("pipeline-gif", frames=4)
WEBP = images.webp("pipeline-webp")


class FakeEngine:
    """Answers ``download_async`` from a dict: URL -> bytes, (status, bytes), or an exception."""

    def __init__(self, answers: dict):
        self.answers = answers
        self.requested: list[str] = []

    async def download_async(self, request):
        self.requested.append(request.url)
        answer = self.answers[request.url]
        if isinstance(answer, BaseException):
            raise answer
        status, body = answer if isinstance(answer, tuple) else (200, answer)
        if body.lstrip().startswith(b"<"):
            return HtmlResponse(request.url, status=status, body=body, request=request)
        return Response(request.url, status=status, body=body, request=request)


class Run:
    """One pipeline over one store, as a crawl would open it."""

    def __init__(self, store, answers, *, replace=False, pipeline_class=OriginalImagesPipeline, **settings):
        project = Settings()
        project.setmodule("imagescraper.settings")
        values = {name: project[name] for name in project.attributes}
        crawler = get_crawler(
            Spider, {**values, "TWISTED_REACTOR_ENABLED": False, "IMAGES_STORE": str(store), **settings}
        )
        spider = Spider("test")
        spider.replace = replace
        crawler.spider = spider
        crawler.engine = self.engine = FakeEngine(answers)
        self.crawler = crawler
        self.pipeline = pipeline_class.from_crawler(crawler)
        self.pipeline.open_spider()
        self.store = store

    def process(self, item):
        return asyncio.run(self.pipeline.process_item(item))

    def close(self):
        self.pipeline.close_spider()
        self.pipeline.image_store.close()

    def stat(self, key):
        return self.crawler.stats.get_value(key, 0)

    def manifest(self) -> list[dict]:
        path = self.store / ".imagescraper" / "manifest.jsonl"
        return [json.loads(line) for line in path.read_text("utf-8").splitlines()] if path.exists() else []

    def files(self) -> dict[str, bytes]:
        return {
            p.relative_to(self.store).as_posix(): p.read_bytes()
            for p in self.store.rglob("*")
            if p.is_file() and not p.relative_to(self.store).parts[0] == ".imagescraper"
        }


@pytest.fixture
def run(tmp_path):
    opened = []

    def make(answers, **kwargs):
        opened.append(Run(tmp_path / "store", answers, **kwargs))
        return opened[-1]

    yield make
    for each in opened:
        each.close()


FORMATS = {
    "http://img.test/a.jpg": (JPEG, ".jpg", "JPEG", 1),
    "http://img.test/b.png": (PNG, ".png", "PNG", 1),
    "http://img.test/c.gif": (GIF, ".gif", "GIF", 4),
    "http://img.test/d.webp": (WEBP, ".webp", "WEBP", 1),
}


def test_every_format_is_stored_byte_for_byte_with_its_manifest_line(run):
    pipeline = run({url: body for url, (body, *_) in FORMATS.items()})
    item = pipeline.process(ImageItem(image_urls=list(FORMATS), post_title="Holiday 2026"))

    files = pipeline.files()
    assert sorted(files.values()) == sorted(body for body, *_ in FORMATS.values())
    assert pipeline.stat(runstats.STORED) == 4
    records = {record["url"]: record for record in pipeline.manifest()}
    for url, (body, extension, fmt, frames) in FORMATS.items():
        record = records[url]
        assert record["path"].startswith("Holiday 2026/") and record["path"].endswith(extension)
        assert files[record["path"]] == body
        assert (record["format"], record["frames"], record["bytes"]) == (fmt, frames, len(body))
        assert record["sha256"] == images.sha256(body)
        assert record["title"] == "Holiday 2026"
        with Image.open(io.BytesIO(body)) as original:
            assert (record["width"], record["height"]) == original.size
        assert record["stored_at"].endswith("+00:00")
    assert [image["status"] for image in item.images] == ["downloaded"] * 4


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((404, b"not here"), "http-404"),
        ((403, b"<html><body>Forbidden</body></html>"), "http-403"),
        (b"<!DOCTYPE html><html><body>a login page</body></html>", "not-an-image"),
        (b"", "empty"),
        (images.truncated(images.jpeg("cut", size=(640, 480))), "truncated"),
        (images.decompression_bomb(), "decompression-bomb"),
        (DownloadTimeoutError("took longer than 15 s"), "timeout"),
        (CannotResolveHostError("no such host"), "dns-error"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_each_failure_is_counted_logged_once_and_writes_nothing(run, caplog, answer, reason):
    url = "http://img.test/broken.jpg"
    pipeline = run({url: answer})
    with caplog.at_level(logging.WARNING):
        item = pipeline.process(ImageItem(image_urls=[url, url], post_title="t"))
    assert pipeline.files() == {} and pipeline.manifest() == []
    assert item.images == []
    assert pipeline.stat(runstats.FAILED) == 1
    assert pipeline.stat(f"{runstats.FAILED_BY}{reason}") == 1
    failures = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Failed ")]
    assert len(failures) == 1 and failures[0].startswith(f"Failed {url}: {reason} (")
    # the media pipeline's own traceback for the same failure is filtered out
    assert not [r for r in caplog.records if r.name == MEDIA_LOGGER]


def test_an_image_smaller_than_images_min_width_is_refused(run):
    url = "http://img.test/small.jpg"
    pipeline = run({url: JPEG}, IMAGES_MIN_WIDTH=1000)
    pipeline.process(ImageItem(image_urls=[url], post_title="t"))
    assert pipeline.stat(f"{runstats.FAILED_BY}too-small") == 1
    assert pipeline.files() == {}


def test_a_stored_image_is_not_requested_again_unless_replace(run, tmp_path):
    url = "http://img.test/a.jpg"
    first = run({url: JPEG})
    first.process(ImageItem(image_urls=[url], post_title="t"))
    first.close()

    again = run({url: JPEG})
    item = again.process(ImageItem(image_urls=[url], post_title="t"))
    assert again.engine.requested == []
    assert again.stat(runstats.ALREADY_PRESENT) == 1 and again.stat(runstats.STORED) == 0
    assert item.images[0]["status"] == "uptodate"
    again.close()

    newer = images.jpeg("a newer version")
    replaced = run({url: newer}, replace=True)
    replaced.process(ImageItem(image_urls=[url], post_title="t"))
    assert replaced.engine.requested == [url]
    assert list(replaced.files().values()) == [newer]
    assert len(replaced.manifest()) == 2  # the history stays in the manifest


def test_a_cut_stored_file_is_fetched_again(run):
    url = "http://img.test/a.jpg"
    first = run({url: JPEG})
    first.process(ImageItem(image_urls=[url], post_title="t"))
    (path,) = first.files()
    first.close()
    (first.store / path).write_bytes(JPEG[:100])

    again = run({url: JPEG})
    again.process(ImageItem(image_urls=[url], post_title="t"))
    assert again.engine.requested == [url]
    assert again.files() == {path: JPEG}


def test_a_plain_dict_item_works_and_gets_its_results(run):
    url = "http://img.test/a.png"
    pipeline = run({url: PNG})
    item = pipeline.process({"image_urls": [url], "post_title": "从字典来的", "blog_name": "someone", "post_id": "42"})
    assert list(pipeline.files()) == [item["images"][0]["path"]]
    assert item["images"][0]["path"].startswith("someone/从字典来的_42/")


@dataclass
class UserItem:
    """A user's own item class without a field for the results: it simply goes without them."""

    image_urls: list[str]
    post_title: str
    extra: dict = field(default_factory=dict)


def test_a_user_dataclass_item_without_a_result_field_works(run):
    url = "http://img.test/a.gif"
    pipeline = run({url: GIF})
    item = pipeline.process(UserItem([url], "mine", extra={"source": "my spider"}))
    assert isinstance(item, UserItem)
    (record,) = pipeline.manifest()
    assert record["path"].startswith("mine/") and record["source"] == "my spider"


def test_images_urls_field_and_images_result_field_are_honoured(run):
    url = "http://img.test/a.webp"
    pipeline = run({url: WEBP}, IMAGES_URLS_FIELD="pictures", IMAGES_RESULT_FIELD="saved")
    item = pipeline.process({"pictures": [url], "post_title": "t"})
    assert item["saved"][0]["checksum"] == images.sha256(WEBP)
    assert "images" not in item


@pytest.mark.parametrize("setting", [{"IMAGES_THUMBS": {"small": (50, 50)}}, {"IMAGES_EXPIRES": 30}])
def test_stock_settings_this_pipeline_does_not_follow_are_refused(tmp_path, setting):
    (name,) = setting
    with pytest.raises(InputError, match=f"setting {name} is not supported"):
        Run(tmp_path / "store", {}, **setting)


def test_file_path_reads_only_the_header(run, monkeypatch):
    loads = []
    monkeypatch.setattr(Image.Image, "load", lambda self: loads.append(self) or None)
    pipeline = run({})
    url = "http://img.test/photos/271947.jpg"
    request = pipeline.pipeline.get_media_requests({"image_urls": [url], "post_title": "t"}, None)[0]
    path = pipeline.pipeline.file_path(request, Response(url, body=PNG), item={"post_title": "t"})
    assert path.startswith("t/271947-") and path.endswith(".png")
    assert loads == []


class EscapingPipeline(OriginalImagesPipeline):
    def file_path(self, request, response=None, info=None, *, item=None):
        return "../outside.jpg"


def test_a_file_path_override_cannot_leave_the_store(run, tmp_path):
    url = "http://img.test/a.jpg"
    pipeline = run({url: JPEG}, pipeline_class=EscapingPipeline)
    pipeline.process(ImageItem(image_urls=[url], post_title="t"))
    assert not (tmp_path / "outside.jpg").exists()
    assert pipeline.files() == {} and pipeline.manifest() == []
    assert pipeline.stat(f"{runstats.FAILED_BY}error") == 1


USER_SPIDER = """
import scrapy


class MySpider(scrapy.Spider):
    name = "mine"

    def __init__(self, base, **kwargs):
        super().__init__(**kwargs)
        self.base = base

    async def start(self):
        yield {"image_urls": [self.base + "/photos/271947.jpg", self.base + "/photos/alpha.png"], "post_title": "Mine"}
        yield {"image_urls": [self.base + "/photos/moving.gif"], "post_title": "../../escape"}
"""


@pytest.mark.slow  # a spider of its own has no all_handed_over(): Scrapy notices the end on its 5 s heartbeat
def test_a_users_own_spider_yielding_dicts_works_end_to_end(tmp_path, server):
    """The pipeline is the project's; the spider is anybody's, as long as it yields image_urls."""
    (tmp_path / "userspiders").mkdir()
    (tmp_path / "userspiders" / "__init__.py").write_text("")
    (tmp_path / "userspiders" / "mine.py").write_text(USER_SPIDER)
    store = tmp_path / "store"
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "mine", "-a", f"base={server.base}"]
        + ["-s", f"IMAGES_STORE={store}", "-s", "SPIDER_MODULES=userspiders"]
        + ["-s", f"IMAGESCRAPER_ALLOW_HOSTS={server.allow_setting}"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    stored = stored_files(store)
    assert sorted(stored.values()) == sorted(
        SAMPLES[p] for p in ("/photos/271947.jpg", "/photos/alpha.png", "/photos/moving.gif")
    )
    assert {path.split("/")[0] for path in stored} == {"Mine", "escape"}
    assert re.search(r"^  stored:\s+3$", result.stderr, re.M), result.stderr[-3000:]


def test_spider_fields_never_replace_the_stores_own_and_are_named_once(run, caplog):
    url = "http://img.test/fields.jpg"
    hostile = {"url": "http://evil/x.jpg", "path": "../../etc/passwd", "sha256": "0" * 64, "bytes": 1}
    pipeline = run({url: JPEG})
    with caplog.at_level(logging.WARNING):
        pipeline.process(ImageItem(image_urls=[url], post_title="t", extra={**hostile, "post_url": "http://blog/1"}))
        pipeline.process(ImageItem(image_urls=[url], post_title="t", extra=hostile))  # a second item, same URL

    (record,) = pipeline.manifest()
    assert record["url"] == url and not record["path"].startswith("..")
    assert (record["sha256"], record["bytes"]) == (images.sha256(JPEG), len(JPEG))
    assert record["post_url"] == "http://blog/1"
    assert pipeline.files() == {record["path"]: JPEG}
    warned = sorted(r.getMessage() for r in caplog.records if "left out of the manifest" in r.getMessage())
    assert warned == [
        f"Spider field {name!r} left out of the manifest: the store owns that name"
        for name in ("bytes", "path", "sha256", "url")
    ]
    pipeline.pipeline.image_store.flush()
    entry = pipeline.pipeline.image_store.index.get(url)
    assert (entry.path, entry.sha256, json.loads(entry.extra)) == (
        record["path"],
        record["sha256"],
        {"post_url": "http://blog/1"},
    )


def test_a_folder_replaced_by_a_symlink_is_never_written_through(tmp_path, caplog):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "t").symlink_to(outside)
    url = "http://img.test/linked.jpg"
    pipeline = Run(tmp_path / "store", {url: JPEG})
    try:
        pipeline.process(ImageItem(image_urls=[url], post_title="t"))
    finally:
        pipeline.close()
    assert list(outside.iterdir()) == []
    assert pipeline.stat(f"{runstats.FAILED}/error") == 1
    assert "is not a folder of the store; see scrapy checkstore --repair" in caplog.text


# -- video items (lofter -a videos=true) and second addresses -------------------------------------
def test_a_video_item_is_stored_as_sent_when_it_is_a_whole_mp4(run):
    from demo.fakelofter import sample_mp4

    video, cut = "http://vod.test/v.mp4?sign=abc", "http://vod.test/cut.mp4?sign=abc"
    answers = {video: sample_mp4("clip"), cut: sample_mp4("cut")[:-5], "http://vod.test/page.mp4": b"<html>x</html>"}
    pipeline = run(answers, IMAGESCRAPER_MAX_VIDEO_BYTES=4096)
    requests = pipeline.pipeline.get_media_requests(ImageItem(image_urls=[video], post_title="t", media="video"), None)
    assert requests[0].meta["download_maxsize"] == 4096, "a video has its own size limit"

    pipeline.process(ImageItem(image_urls=list(answers), post_title="视频", media="video"))
    [(path, body)] = pipeline.files().items()
    assert body == sample_mp4("clip") and path.startswith("视频/") and path.endswith(".mp4")
    [record] = pipeline.manifest()
    assert (record["media"], record["format"], record["fetched_from"]) == ("video", "MP4", video)
    assert record["url"] == "http://vod.test/v.mp4"
    assert pipeline.stat(runstats.STORED) == 1
    assert pipeline.stat(f"{runstats.FAILED_BY}truncated") == 1
    assert pipeline.stat(f"{runstats.FAILED_BY}not-a-video") == 1


def test_an_image_with_a_second_address_carries_it_to_the_downloader(run):
    first, second = "http://imglf4.lf127.test/img/a.jpg", "http://nos.netease.test/imglf4/img/a.jpg"
    pipeline = run({first: JPEG})
    item = ImageItem(image_urls=[first, "http://img.test/b.png"], post_title="t", alternates={first: second})
    requests = pipeline.pipeline.get_media_requests(item, None)
    assert [r.meta.get("alternate_url") for r in requests] == [second, None]
    assert "download_maxsize" not in requests[0].meta, "images keep DOWNLOAD_MAXSIZE"


def test_a_video_is_known_by_its_address_without_the_signature(run):
    """The signed query changes with every API answer; the next run must not store the file again."""
    from demo.fakelofter import sample_mp4

    signed_today, signed_tomorrow = "http://vod.test/v.mp4?resId=1&sign=aaa", "http://vod.test/v.mp4?resId=1&sign=bbb"
    first = run({signed_today: sample_mp4("clip")})
    first.process(ImageItem(image_urls=[signed_today], post_title="t", media="video"))
    [record] = first.manifest()
    assert record["url"] == "http://vod.test/v.mp4" and record["fetched_from"] == signed_today
    first.close()

    again = run({signed_tomorrow: sample_mp4("clip")})
    again.process(ImageItem(image_urls=[signed_tomorrow], post_title="t", media="video"))
    assert again.engine.requested == [] and again.stat(runstats.ALREADY_PRESENT) == 1
    assert len(again.files()) == 1
