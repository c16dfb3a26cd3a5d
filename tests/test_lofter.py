"""End-to-end: the real `scrapy crawl lofter` command against the fake LOFTER on loopback."""

from __future__ import annotations

import io
import itertools
import json
import re

import pytest
from PIL import Image

from demo import images
from demo.crawling import crawl
from demo.fakelofter import SITE, FakeLofter

FAST = json.dumps({"lofter-pages": {"concurrency": 1, "delay": 0}})
ALL_PUBLIC = ("P1", "P2", "P4", "P5", "P6", "P11")
FOLDERS = {
    "ceshi/春日樱花_6979321857",
    "ceshi/动图_测试_6979321858",
    "ceshi/正文_6979321860",
    "ceshi/旅行_日记 第1天 ✈_6979321861",
    "ceshi/WebP 图_6979321862",
    "ceshi/问答：你最喜欢的照片？_6979321867",
}


@pytest.fixture(params=["mpost", "gray"])
def site(request):
    with FakeLofter(request.param) as running:
        yield running


@pytest.fixture
def plain_site():
    with FakeLofter("mpost") as running:
        yield running


def run(site, store, settings=None, **args):
    return crawl("lofter", store, args=args, settings={**site.settings(), "DOWNLOAD_SLOTS": FAST, **(settings or {})})


def _sha_set(files):
    return {images.sha256(body) for body in files.values()}


def _image_requests(site):
    return [s for s in site.requests if s.host.startswith("imglf")]


def assert_whole_blog(site, result):
    files = result.stored_files()
    assert _sha_set(files) == _sha_set(site.expected_images(*ALL_PUBLIC))
    assert {path.rsplit("/", 1)[0] for path in files} == FOLDERS
    gif = next(body for path, body in files.items() if path.endswith(".gif"))
    with Image.open(io.BytesIO(gif)) as animated:
        assert animated.n_frames == 3
    requested_hosts = {s.host.split(".")[0] for s in site.requests}
    assert "other" not in requested_hosts and "avaimg" not in requested_hosts  # reblog, avatars
    assert not any("UmVsYXRlZA" in s.path for s in site.requests)  # "related post" thumbnails
    image_requests = _image_requests(site)
    assert len(image_requests) >= len(files), image_requests
    assert all(s.path.split("?")[0] == s.path for s in image_requests), "only originals are requested"
    summary = result.summary
    assert summary["skipped"]["video-posts"] == 1 and summary["skipped"]["posts-without-images"] == 1


@pytest.mark.slow
def test_blog_by_name_from_theme_pages(site, tmp_path):
    result = run(site, tmp_path / "store", domain="ceshi", source="html")

    assert_whole_blog(site, result)
    pages = [s.path for s in site.seen("ceshi") if not s.path.startswith("/post/")]
    assert pages == ["/", "/?page=2", "/?page=3"]
    for page in site.seen("ceshi"):  # browser-like, as working clients send them (research 13)
        assert page.headers["user-agent"].startswith("Mozilla/5.0 ")
        assert page.headers["referer"] == "https://www.lofter.com/"
    referer = {s.path: s.headers.get("referer") for s in _image_requests(site)}
    assert referer["/img/a1b2c3d4e5f60718/UG9zdE9uZUltZ0E.jpg"] == site.post_url("ceshi", "P1")
    summary = result.summary
    assert summary["skipped"]["deleted-posts"] == 1
    assert summary["errors_by_reason"] == {"login-required": 1}  # the private post
    assert result.status == 1
    assert "LOFTER asks for a login for http://ceshi.lofter.test" in result.log
    assert "/post/12345678_1a0000009" in result.log


@pytest.mark.slow
def test_blog_by_name_from_the_api(plain_site, tmp_path):
    result = run(plain_site, tmp_path / "store", domain="ceshi", source="api")

    assert result.status == 0, result.log
    assert_whole_blog(plain_site, result)
    assert plain_site.seen("ceshi") == [], "API mode reads no theme page"
    records = {r["post_title"]: r for r in result.manifest()}
    spring = records["春日樱花"]
    assert spring["post_url"] == plain_site.post_url("ceshi", "P1")
    assert spring["tags"] == ["风景", "摄影"] and spring["published"] == "2024-05-01T02:00:00+08:00"
    assert spring["title"] == "春日樱花"


@pytest.mark.slow
def test_auto_uses_the_api_and_falls_back_to_pages(plain_site, tmp_path):
    result = run(plain_site, tmp_path / "auto", domain="ceshi")
    assert result.status == 0, result.log
    assert plain_site.seen("ceshi") == []

    broken_api = {"IMAGESCRAPER_LOFTER_API_URL": f"http://api.lofter.test:{plain_site.port}/broken"}
    fallback = run(
        plain_site, tmp_path / "fallback", settings=broken_api, domain=f"http://ceshi.lofter.test:{plain_site.port}/"
    )
    assert re.search(
        r"^\S+ \S+ \[lofter\] INFO: LOFTER API could not give blog 'ceshi' \(LOFTER API error 400: unknown method\); "
        r"reading the blog's pages instead$",
        fallback.log,
        re.M,
    ), fallback.log
    assert_whole_blog(plain_site, fallback)
    # The pages have what the API would have given, and the private post the pages cannot read is said.
    assert fallback.summary["stored"] == 10 and fallback.summary["failed"] == 0
    assert fallback.summary["errors_by_reason"] == {"login-required": 1}
    assert fallback.status == 1 and fallback.summary["exit_status"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("source", ["api", "html", "auto"])
def test_a_post_link_downloads_that_post(plain_site, tmp_path, source):
    link = plain_site.post_url("ceshi", "P1")
    result = run(plain_site, tmp_path / "store", domain=link, source=source)

    assert result.status == 0, result.log
    files = result.stored_files()
    assert _sha_set(files) == _sha_set(plain_site.expected_images("P1"))
    assert {path.rsplit("/", 1)[0] for path in files} == {"ceshi/春日樱花_6979321857"}
    assert not any(s.path.startswith("/?page=2") for s in plain_site.requests)


@pytest.mark.slow
def test_start_page_and_max_pages_mean_the_same_in_both_modes(plain_site, tmp_path):
    html = run(plain_site, tmp_path / "html", domain="ceshi", source="html", start_page=2, max_pages=1)
    pages = [s.path for s in plain_site.seen("ceshi") if not s.path.startswith("/post/")]
    assert pages == ["/?page=2", "/?page=3"]  # page 3 only looked at: it is empty, so no page-limit line
    assert "page limit" not in html.log
    api = run(
        plain_site,
        tmp_path / "api",
        settings={"IMAGESCRAPER_LOFTER_POSTS_PER_PAGE": 4},
        domain="ceshi",
        source="api",
        start_page=2,
        max_pages=1,
    )
    expected = _sha_set(plain_site.expected_images("P5", "P6", "P11"))
    assert _sha_set(html.stored_files()) == expected
    assert _sha_set(api.stored_files()) == expected
    assert api.status == 0


@pytest.mark.slow
def test_the_login_shell_is_reported_not_taken_for_an_empty_blog(tmp_path):
    with FakeLofter("mpost", login_wall=True) as walled:
        result = run(walled, tmp_path / "store", domain="ceshi", source="html")
        assert result.status == 1
        assert result.stored_files() == {}
        assert result.summary["errors_by_reason"] == {"login-required": 1}
        assert "LOFTER asks for a login for http://ceshi.lofter.test" in result.log
        assert "IMAGESCRAPER_LOFTER_COOKIES" in result.log
        assert "has no posts" not in result.log

        cookies = {"IMAGESCRAPER_LOFTER_COOKIES": "LOFTER_SESS=ok; other=1"}
        logged_in = run(walled, tmp_path / "logged-in", settings=cookies, domain="ceshi", source="html")
        assert logged_in.status == 0, logged_in.log
        expected = _sha_set(walled.expected_images(*ALL_PUBLIC, "P9"))
        assert _sha_set(logged_in.stored_files()) == expected  # the private post too
        assert not any("cookie" in s.headers for s in _image_requests(walled)), "cookies stay with pages"


@pytest.mark.slow
def test_rerun_requests_no_image_and_replace_fetches_all(plain_site, tmp_path):
    store = tmp_path / "store"
    first = run(plain_site, store, domain="ceshi", source="api")
    stored = first.stored_files()
    plain_site.requests.clear()

    second = run(plain_site, store, domain="ceshi", source="api")
    assert second.status == 0
    assert _image_requests(plain_site) == []
    assert second.summary["already_present"] == 10 and second.summary["stored"] == 0
    assert second.stored_files() == stored

    third = run(plain_site, store, domain="ceshi", source="api", replace="true")
    assert third.summary["stored"] == 10
    assert len(_image_requests(plain_site)) == 10
    assert third.stored_files() == stored


@pytest.mark.slow
def test_referer_protected_host_never_yields_its_error_page(plain_site, tmp_path):
    """Without the post as Referer, imglf3 answers 403 with HTML: rejected, never stored."""
    protected = plain_site.image_url("imglf3", SITE["blogs"]["ceshi"]["posts"]["P1"]["images"][0][1])
    url_file = tmp_path / "urls.txt"
    url_file.write_text(protected + "\n")
    result = crawl("urlfile", tmp_path / "store", args={"path": url_file}, settings=plain_site.settings())
    assert result.status == 1
    assert result.stored_files() == {}
    assert result.summary["failed_by_reason"] == {"http-403": 1}

    via_post = run(plain_site, tmp_path / "lofter", domain=plain_site.post_url("ceshi", "P1"))
    referers = [s.headers.get("referer") for s in _image_requests(plain_site) if s.host.startswith("imglf3")]
    assert plain_site.post_url("ceshi", "P1") in referers
    assert via_post.status == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("source", "message"),
    [
        pytest.param(
            "html", r"Blog 'nosuchblog' does not exist \(HTTP 404 for http://nosuchblog\.lofter\.test:\d+/\)", id="html"
        ),
        pytest.param(
            "api", r"LOFTER: blog 'nosuchblog' does not exist or is not visible \(API status 4200\)", id="api"
        ),
        pytest.param(
            "auto", r"LOFTER: blog 'nosuchblog' does not exist or is not visible \(API status 4200\)", id="auto"
        ),
    ],
)
def test_unknown_blog_is_one_clear_error(plain_site, tmp_path, source, message):
    result = run(plain_site, tmp_path / "store", domain="nosuchblog", source=source)
    assert result.status == 1
    assert result.summary["errors_by_reason"] == {"not-found": 1}
    # The error line itself: the start-up line names the blog too.
    assert len(re.findall(rf"^\S+ \S+ \[lofter\] ERROR: {message}$", result.log, re.M)) == 1, result.log
    assert "Traceback" not in result.log


@pytest.mark.slow
def test_an_empty_blog_is_said_and_succeeds(plain_site, tmp_path):
    for source in ("html", "api"):
        result = run(plain_site, tmp_path / source, domain="empty", source=source)
        assert result.status == 0, result.log
        assert result.summary["skipped"] == {"empty-blogs": 1}
        assert "Blog 'empty' has no" in result.log


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"domain": "https://example.com/x"}, "is not a LOFTER blog, post, tag or collection"),
        ({}, "no blog given"),
        ({"domain": "ceshi", "start_page": "0"}, "start_page='0' is not a whole number"),
        ({"domain": "ceshi", "max_pages": "many"}, "max_pages='many' is not a whole number"),
        ({"domain": "ceshi", "source": "rss"}, "source='rss' is not one of auto, api, html"),
        ({"domain": "ceshi", "threads": "8"}, "unknown argument 'threads'"),
        ({"tag": "风景", "ranking": "hot"}, "ranking='hot' is not one of new, total, date, week, month"),
        ({"domain": "ceshi", "tag": "风景"}, "arguments domain and tag were both given: pass only one of them"),
        ({"collection": "abc"}, "collection='abc' is not a collection id"),
        ({"tag": "风景", "source": "html"}, "tags, collections, likes and shares are read through the API"),
    ],
)
def test_bad_arguments_stop_at_once(plain_site, tmp_path, args, message):
    result = crawl("lofter", tmp_path / "store", args=args, settings=plain_site.settings())
    assert result.status == 2
    assert message in result.log and "Traceback" not in result.log
    assert plain_site.requests == []


@pytest.mark.slow
def test_pages_and_api_calls_are_polite_by_default(plain_site, tmp_path):
    # The project's own page slot (one at a time, 0.5 s apart), without Scrapy's random +-50 % on the
    # delay, so that every gap must be the whole 0.5 s (less a little clock noise between processes).
    settings = {**plain_site.settings(), "DOWNLOAD_DELAY_JITTER": 0}
    result = crawl("lofter", tmp_path / "store", args={"domain": "ceshi", "source": "html"}, settings=settings)
    assert result.summary["stored"] == 10
    pages = sorted(plain_site.seen("ceshi"), key=lambda s: s.started)
    assert len(pages) == 13  # 3 list pages and 10 posts: every gap below is checked
    for earlier, later in itertools.pairwise(pages):
        assert later.started >= earlier.ended, "two page requests overlapped"
        assert later.started - earlier.started >= 0.49, (earlier.path, later.path)


@pytest.mark.slow
def test_theme_pages_say_when_the_page_limit_leaves_posts_unread(plain_site, tmp_path):
    result = run(plain_site, tmp_path / "store", domain="many", source="html", max_pages=1)

    line = "Blog 'many': stopped at the page limit: page 1 of max_pages=1; pass -a max_pages=2 (or more) for more"
    assert line in result.log and result.summary["stopped_early"] == line
    posts = [s for s in plain_site.seen("many") if s.path.startswith("/post/")]
    assert len(posts) == 20, "the next page was looked at, not read"
    assert result.status == 0


@pytest.mark.slow
def test_the_run_says_what_it_reads_and_leaves_each_post_to_debug(plain_site, tmp_path):
    result = run(plain_site, tmp_path / "store", domain="ceshi.lofter.com", videos="True")  # LOFTER's own address
    assert result.status == 0, result.log
    assert f"Running lofter on blog 'ceshi' with videos=true; images go to {tmp_path / 'store'}" in result.log
    assert "has no images" not in result.log  # one line per post would flood a terminal
    assert result.summary["skipped"] == {"posts-without-images": 1}
    assert "0 with an error" in result.log and "error(s) reading" not in result.log
    assert "rejected lines" not in result.log
    debug = run(plain_site, tmp_path / "debug", {"LOG_LEVEL": "DEBUG"}, domain="ceshi")
    assert "has no images" in debug.log and "Running lofter on blog 'ceshi'; images go to" in debug.log
    assert debug.log.count("pass -a videos=true to store their videos") == 1


@pytest.mark.slow
def test_an_unknown_blog_ends_with_words_that_match_the_error(plain_site, tmp_path):
    result = run(plain_site, tmp_path / "store", domain="nosuchblog")
    assert result.status == 1
    assert "0 with an error; 1 error(s) reading the blog, its pages or the API (see above)" in result.log
    assert "exit status:     1 (nothing could be read)" in result.log
    assert "some images are missing" not in result.log and "rejected lines" not in result.log
