"""End-to-end: the lofter spider against the fake LOFTER's app API, as research/lofter.md section 13
says working clients talk to the real one.

Each test is one behaviour of the real `scrapy crawl lofter` command. The exact form and headers
of every API call are asserted against the notes (written out here, not taken from the code).
"""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from demo import images
from demo.crawling import crawl
from demo.fakelofter import API_PAGE_CAP, MANY, SITE, FakeLofter, sample_mp4

FAST = json.dumps({"lofter-pages": {"concurrency": 1, "delay": 0}})
TOKEN = "tok-SECRET-1234567890"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
# research/lofter.md section 13 (lftr, RSSHub, Loftify add the last four to gallery-dl's form).
BLOG_FORM = {
    "method": "getPostLists",
    "limit": "50",
    "supportposttypes": "1,2,3,4,5,6",
    "postdigestnew": "1",
    "checkpwd": "1",
    "needgetpoststat": "1",
}


@pytest.fixture
def site():
    with FakeLofter("mpost") as running:
        yield running


def run(site, store, settings=None, **args):
    return crawl("lofter", store, args=args, settings={**site.settings(), "DOWNLOAD_SLOTS": FAST, **(settings or {})})


def api_calls(site, path=None):
    return [s for s in site.seen("api") if path is None or s.path.split("?")[0] == path]


def assert_app_headers(calls, *, login=None):
    """Every call: a POST form with a browser's User-Agent and LOFTER's Referer, and the login header
    (``lofter-phone-login-auth`` or ``authorization``) only when one was given."""
    assert calls
    for call in calls:
        assert call.method == "POST"
        assert call.headers["user-agent"] == FIREFOX
        assert call.headers["referer"] == "https://www.lofter.com/"
        assert call.headers["content-type"] == "application/x-www-form-urlencoded"
        sent = {name for name in ("lofter-phone-login-auth", "authorization") if name in call.headers}
        assert sent == ({login} if login else set())


def folders(result):
    return {path.rsplit("/", 1)[0] for path in result.stored_files()}


@pytest.mark.slow
def test_a_big_blog_is_read_whole_by_the_servers_cursor(site, tmp_path):
    result = run(site, tmp_path / "store", domain="many", source="api")

    assert result.status == 0, result.log[-3000:]
    calls = api_calls(site, "/v2.0/blogHomePage.api")
    assert all(call.path == "/v2.0/blogHomePage.api?product=lofter-android-7.9.10" for call in calls)
    assert [call.form for call in calls[:2]] == [
        {**BLOG_FORM, "offset": "0", "blogdomain": "many.lofter.com"},
        {**BLOG_FORM, "offset": str(API_PAGE_CAP), "blogdomain": "many.lofter.com"},
    ]
    # The server gives 47 a call, not the 50 asked: page * size would skip 3 posts a page.
    assert [int(call.form["offset"]) for call in calls] == list(range(0, MANY, API_PAGE_CAP))
    assert_app_headers(calls)
    assert result.summary["stored"] == MANY // 100
    assert result.summary["skipped"]["posts-without-images"] == MANY - MANY // 100
    assert (
        f"{MANY} post(s) listed: {MANY // 100} with images or a video queued, {MANY - 17} skipped, 0 with" in result.log
    )
    assert "page limit" not in result.log and result.summary["stopped_early"] is None

    limited = run(site, tmp_path / "limited", domain="many", source="api", max_pages=2)
    line = "Blog 'many': stopped at the page limit: page 2 of max_pages=2; pass -a max_pages=4 (or more) for more"
    assert line in limited.log
    assert limited.summary["stopped_early"] == line
    assert f"  {line}" in limited.log.split("imagescraper summary")[1], "the summary says it too"
    assert limited.summary["skipped"]["posts-without-images"] + limited.summary["stored"] == 2 * API_PAGE_CAP


@pytest.mark.slow
def test_unknown_blog_and_login_answers_are_said_without_falling_back(site, tmp_path):
    unknown = run(site, tmp_path / "unknown", domain="nosuchblog")
    assert unknown.status == 1
    assert "LOFTER: blog 'nosuchblog' does not exist or is not visible (API status 4200)" in unknown.log
    assert site.seen("nosuchblog") == [], "4200 is an answer about the blog: no theme page is read"
    assert api_calls(site)[0].form["blogdomain"] == "nosuchblog.lofter.com"

    deleted = site.post_url("ceshi", "P8")
    gone = run(site, tmp_path / "gone", domain=deleted)
    assert gone.status == 1 and gone.summary["errors_by_reason"] == {"not-found": 1}
    assert f"LOFTER: post {deleted} does not exist or is not visible (API status 4200)" in gone.log
    assert not any(s.path.startswith("/post/") for s in site.seen("ceshi")), "no fallback to the post page"

    locked = run(site, tmp_path / "locked", domain="locked")
    assert locked.status == 1 and locked.summary["errors_by_reason"] == {"login-required": 1}
    assert "LOFTER: blog 'locked' needs a login (API status 401)" in locked.log
    assert "-s IMAGESCRAPER_LOFTER_LOGIN_HEADER='lofter-phone-login-auth: VALUE'" in locked.log
    for cookie in ("LOFTER_SESS (QQ, WeChat or Weibo)", "NTES_SESS (NetEase e-mail)", "LOFTER-PHONE-LOGIN-AUTH (phone"):
        assert cookie in locked.log
    assert site.seen("locked") == []

    site.requests.clear()
    header = {"IMAGESCRAPER_LOFTER_LOGIN_HEADER": f"lofter-phone-login-auth: {TOKEN}"}
    logged_in = run(site, tmp_path / "logged-in", settings=header, domain="locked")
    assert logged_in.status == 0, logged_in.log[-3000:]
    assert logged_in.summary["stored"] == 1
    assert_app_headers(api_calls(site), login="lofter-phone-login-auth")
    assert api_calls(site)[0].headers["lofter-phone-login-auth"] == TOKEN
    image_requests = [s for s in site.requests if s.host.startswith("imglf")]
    assert image_requests and not any("lofter-phone-login-auth" in s.headers for s in image_requests)
    assert TOKEN not in logged_in.log
    meta = logged_in.store / ".imagescraper"
    assert all(TOKEN not in path.read_text("utf-8") for path in meta.iterdir() if path.suffix in (".json", ".jsonl"))


@pytest.mark.slow
def test_a_failing_api_falls_back_to_pages_without_a_gap(site, tmp_path):
    site.api_fails_from = 4  # the second API page fails; theme pages hold 4, then 7 posts
    result = run(site, tmp_path / "store", settings={"IMAGESCRAPER_LOFTER_POSTS_PER_PAGE": 4}, domain="ceshi")

    assert "reading the blog's pages instead" in result.log
    expected = site.expected_images("P1", "P2", "P4", "P5", "P6", "P11")
    assert {images.sha256(b) for b in result.stored_files().values()} == {images.sha256(b) for b in expected.values()}
    assert result.summary["errors_by_reason"] == {"login-required": 1}  # P9, private, seen on the pages only


@pytest.mark.slow
def test_every_image_a_post_has(site, tmp_path):
    result = run(site, tmp_path / "store", domain="neu", source="api")

    assert result.status == 0, result.log[-3000:]
    assert result.summary["stored"] == 5 and result.summary["failed"] == 0
    files = result.stored_files()
    assert folders(result) == {
        "neu/置顶_20401094657",
        "neu/外链图片_20401094658",
        "neu/旧图床_20401094659",
        "neu/长图_20401094660",
        "neu/只有首图_20401094661",
    }
    posts = SITE["blogs"]["neu"]["posts"]
    for key in ("N1", "N2", "N3", "N4", "N5"):
        [(_label, path, _query)] = posts[key].get("images", []) + posts[key].get("inline", [])
        assert site.original(path) in files.values(), key
    # A non-LOFTER host keeps its query (it names the file there).
    assert any(s.host.startswith("pic.elsewhere") and s.path == "/photos/Elsewhere.jpg?w=800" for s in site.requests)
    # The rewritten legacy address answered 404, the old one had the file: one image, stored once.
    legacy = [s.host.split(":")[0] + s.path for s in site.requests if "TGVnYWN5" in s.path]
    assert legacy == [
        "imglf4.lf127.test/img/5a5a5a5a5a5a5a5a/TGVnYWN5.jpg",
        "nos.netease.test/imglf4/img/5a5a5a5a5a5a5a5a/TGVnYWN5.jpg",
    ]
    strip = next(r for r in result.manifest() if r["post_title"] == "长图")
    assert (strip["width"], strip["height"]) == (1080, 60000)
    with Image.open(io.BytesIO(files[strip["path"]])) as image:
        assert image.size == (1080, 60000)


@pytest.mark.slow
def test_video_posts_with_videos_true(site, tmp_path):
    link = site.post_url("ceshi", "P10")
    skipped = run(site, tmp_path / "default", domain=link)
    assert skipped.status == 0 and skipped.summary["skipped"] == {"video-posts": 1}
    assert "pass -a videos=true" in skipped.log
    assert not site.seen("vodfake")

    result = run(site, tmp_path / "store", domain=link, videos="true")
    assert result.status == 0, result.log[-3000:]
    assert api_calls(site, "/oldapi/post/detail.api")[-1].form == {"targetblogid": "305419896", "postid": "6979321866"}
    assert_app_headers(api_calls(site))
    [(path, body)] = result.stored_files().items()
    assert path.startswith("ceshi/一段视频_6979321866/") and path.endswith(".mp4")
    assert body == sample_mp4("/video/abc.mp4")
    [record] = result.manifest()
    assert record["media"] == "video" and record["format"] == "MP4" and record["post_url"] == link
    [fetched] = site.seen("vodfake")
    assert fetched.path == f"/video/abc.mp4?{SITE['video_sign']}", "the signed query is kept"
    assert fetched.headers["referer"] == link

    from_page = run(site, tmp_path / "html", domain=link, videos="true", source="html")
    assert from_page.status == 0 and list(from_page.stored_files().values()) == [sample_mp4("/video/abc.mp4")]


@pytest.mark.slow
def test_a_tag_lands_each_post_in_its_own_blog(site, tmp_path):
    result = run(site, tmp_path / "store", tag="风景")

    assert result.status == 0, result.log[-3000:]
    assert folders(result) == {"ceshi/春日樱花_6979321857", "other/别人的图_11542724609"}
    calls = api_calls(site)
    assert all(call.path == "/newapi/tagPosts.json" for call in calls)
    assert calls[0].form == {
        "tag": "风景",
        "type": "new",
        "offset": "0",
        "postTypes": "",
        "postYm": "",
        "recentDay": "0",
        "protectedFlag": "0",
        "range": "0",
        "firstpermalink": "null",
        "style": "0",
        "product": "lofter-android-7.9.10",
    }
    assert_app_headers(calls)

    site.requests.clear()
    by_link = run(
        site, tmp_path / "link", domain=f"http://www.lofter.test:{site.port}/tag/%E9%A3%8E%E6%99%AF/total", max_pages=1
    )
    assert api_calls(site)[0].form["type"] == "total"
    assert len(api_calls(site)) == 1 and "Tag '风景': stopped at the page limit" in by_link.log


@pytest.mark.slow
def test_a_collection_in_collection_order(site, tmp_path):
    result = run(site, tmp_path / "store", collection="777", settings={"IMAGESCRAPER_LOFTER_POSTS_PER_PAGE": 2})

    assert result.status == 0, result.log[-3000:]
    assert folders(result) == {"ceshi/正文_6979321860", "ceshi/春日樱花_6979321857", "other/别人的图_11542724609"}
    calls = api_calls(site)
    assert [call.form for call in calls] == [
        {"method": "getCollectionDetail", "collectionid": "777", "offset": "0", "limit": "2", "order": "1"},
        {"method": "getCollectionDetail", "collectionid": "777", "offset": "2", "limit": "2", "order": "1"},
    ]
    assert all(call.path == "/v1.1/postCollection.api?product=lofter-android-7.9.10" for call in calls)
    assert_app_headers(calls)


@pytest.mark.slow
def test_likes_need_the_login_header(site, tmp_path):
    refused = run(site, tmp_path / "refused", likes="true")
    assert refused.status == 2
    assert "-a likes=true reads your own likes, which needs your login" in refused.log
    assert site.requests == []

    header = {"IMAGESCRAPER_LOFTER_LOGIN_HEADER": f"Authorization: {TOKEN}"}
    likes = run(site, tmp_path / "likes", settings=header, likes="true")
    assert likes.status == 0, likes.log[-3000:]
    assert folders(likes) == {"other/别人的图_11542724609", "ceshi/WebP 图_6979321862"}
    calls = api_calls(site)
    assert [call.form for call in calls] == [
        {"method": "favorites", "offset": "0", "limit": "50", "returnData": "1"},
        {"method": "favorites", "offset": "1", "limit": "50", "returnData": "1"},
    ]
    assert all(call.headers["authorization"] == TOKEN for call in calls)
    assert all(call.path == "/v1.1/batchdata.api?product=lofter-android-7.9.10" for call in calls)
    assert_app_headers(calls, login="authorization")
    assert TOKEN not in likes.log

    site.requests.clear()
    shares = run(site, tmp_path / "shares", settings=header, shares="true")
    assert folders(shares) == {"ceshi/动图_测试_6979321858"}
    assert [call.form for call in api_calls(site)] == [
        {"method": "shares", "offset": "0", "limit": "50", "returnData": "1"}
    ]
    assert all(call.path == "/v1.1/batchdata.api?product=lofter-android-7.9.10" for call in api_calls(site))


@pytest.mark.slow
def test_new_only_stops_at_the_first_page_with_nothing_new(site, tmp_path):
    store = tmp_path / "store"
    per_page = {"IMAGESCRAPER_LOFTER_POSTS_PER_PAGE": 2}
    first = run(site, store, settings=per_page, domain="neu", source="api")
    assert first.summary["stored"] == 5
    assert len(api_calls(site)) == 3

    site.requests.clear()
    site.new_post = True  # pages: [new, N1 (pinned)], [N2, N3], [N4, N5]
    second = run(site, store, settings=per_page, domain="neu", source="api", new_only="true")
    assert second.status == 0
    assert [call.form["offset"] for call in api_calls(site)] == ["0", "2"]
    assert second.summary["stored"] == 1
    assert "new_only: page 2 holds no new post; not reading further" in second.log

    site.requests.clear()
    pinned = next(r for r in second.manifest() if r["post_title"] == "置顶")
    (store / pinned["path"]).unlink()  # the pinned post is not stored now, yet pinned posts do not count
    third = run(site, store, settings=per_page, domain="neu", source="api", new_only="true")
    assert [call.form["offset"] for call in api_calls(site)] == ["0"]
    assert third.summary["stored"] == 1  # the pinned post's image, listed on that page, is fetched again
