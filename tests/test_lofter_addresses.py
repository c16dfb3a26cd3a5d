from __future__ import annotations

import pytest

from imagescraper.lofter.addresses import (
    BlogTarget,
    BlogUrls,
    CollectionTarget,
    PostTarget,
    TagTarget,
    decode_permalink,
    image_addresses,
    original_image_url,
)
from imagescraper.startup_errors import InputError

REAL = BlogUrls("https://{blog}.lofter.com")


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("yurisa123", BlogTarget("yurisa123")),
        ("Yurisa123", BlogTarget("yurisa123")),
        ("yurisa123.lofter.com", BlogTarget("yurisa123")),
        ("http://yurisa123.lofter.com", BlogTarget("yurisa123")),
        ("https://yurisa123.lofter.com/", BlogTarget("yurisa123")),
        ("https://yurisa123.lofter.com/?page=3", BlogTarget("yurisa123")),
        ("https://yurisa123.lofter.com/view", BlogTarget("yurisa123")),
        ("www.lofter.com/front/blog/home-page/yurisa123", BlogTarget("yurisa123")),
        ("https://www.lofter.com/front/blog/home-page/yurisa123", BlogTarget("yurisa123")),
        ("https://yurisa123.lofter.com/post/1cf5f941_12bd7e63c", PostTarget("yurisa123", 0x1CF5F941, 0x12BD7E63C)),
        (
            "http://yurisa123.lofter.com/post/1cf5f941_12bd7e63c?from=share",
            PostTarget("yurisa123", 0x1CF5F941, 0x12BD7E63C),
        ),
        ("https://www.lofter.com/tag/%E6%91%84%E5%BD%B1", TagTarget("摄影", "new")),
        ("https://www.lofter.com/tag/摄影/total", TagTarget("摄影", "total")),
        ("www.lofter.com/front/blog/collection/share?collectionId=20041806&incantation=x", CollectionTarget(20041806)),
    ],
)
def test_accepted_targets(text, target):
    assert REAL.parse_target(text) == target


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "yurisa 123",
        "https://example.com/",
        "ftp://yurisa123.lofter.com/",
        "https://yurisa123.lofter.com/tag/x",
        "www.lofter.com/blog/305419896",
        "https://www.lofter.com/",
        "../../etc",
        "yurisa123.lofter.com.evil.com",
        "https://www.lofter.com/tag/x/nonsense",
        "https://example.com/tag/x",
        "https://www.lofter.com/front/blog/collection/share?collectionId=abc",
    ],
)
def test_refused_targets(text):
    with pytest.raises(InputError, match="domain=|no blog given|collection="):
        REAL.parse_target(text)


def test_the_template_decides_the_hosts():
    fake = BlogUrls("http://{blog}.lofter.test:8080")
    assert fake.parse_target("http://ceshi.lofter.test:8080/post/12345678_1a0000001") == PostTarget(
        "ceshi", 0x12345678, 0x1A0000001
    )
    assert fake.home("ceshi") == "http://ceshi.lofter.test:8080/"
    assert fake.page("ceshi", 2) == "http://ceshi.lofter.test:8080/?page=2"
    # An address that is not one of this template's blogs.
    with pytest.raises(
        InputError, match=r"^domain='https://ceshi\.lofter\.example/' is not a LOFTER blog, post, tag or"
    ):
        fake.parse_target("https://ceshi.lofter.example/")
    with pytest.raises(InputError, match="must contain"):
        BlogUrls("https://lofter.com")


def test_decode_permalink_with_real_ids():
    assert decode_permalink("1e82da8c_1c98dae1b") == (511892108, 7676472859)
    assert decode_permalink("1faf7c47_34d42a638") == (531594311, 14181115448)
    assert PostTarget("x", 512451132, 5050614419).permalink == "1e8b623c_12d0a4293"


@pytest.mark.parametrize(
    ("url", "original"),
    [
        (
            "https://imglf4.lf127.net/img/abc.png?imageView&thumbnail=1680x0&quality=96&stripmeta=0",
            "https://imglf4.lf127.net/img/abc.png",
        ),
        (
            "https://imglf3.lf127.net/img/0a0b/Z2lm.gif?imageView&thumbnail=500x0&type=jpg",
            "https://imglf3.lf127.net/img/0a0b/Z2lm.gif",
        ),
        # Nobody rewrites nosdn or ph.126 hosts (research 13): only the imageView query goes.
        ("http://imglf0.nosdn.127.net/img/TGVn.jpg?imageView", "http://imglf0.nosdn.127.net/img/TGVn.jpg"),
        ("http://imglf1.nosdn0.126.net/img/TGVn.jpg", "http://imglf1.nosdn0.126.net/img/TGVn.jpg"),
        ("http://imglf2.ph.126.net/abc==/123.jpg", "http://imglf2.ph.126.net/abc==/123.jpg"),
        ("http://nos.netease.com/imglf6/img/TmV0.gif?x", "http://imglf6.lf127.net/img/TmV0.gif"),
        ("https://imglf5.lf127.net/img/x.webp#frag", "https://imglf5.lf127.net/img/x.webp"),
        ("https://imglf4.lf127.net/img/R.jpg?imageView&thumbnail=164y164&enlarge=1", None),
        ("https://avaimg.lf127.net/img/a.jpg?imageView&thumbnail=64x64", None),
        ("http://imgsize.ph.126.net/?imgurl=http://img.ph.126.net/a.jpg_16x16x0x90.jpg", None),
        ("http://l.bst.126.net/rsc/img/bg.png", None),
        ("https://imglf4.lf127.net/img/readme.txt", None),
        ("javascript:alert(1)", None),
        ("data:image/png;base64,AAAA", None),
    ],
)
def test_original_image_url(url, original):
    assert original_image_url(url) == original


@pytest.mark.parametrize(
    ("url", "addresses"),
    [
        # Post content from the API: the author's <img> may be on any host, kept whole there.
        ("https://pic.example.org/a/b.jpg?w=800&sig=1", ["https://pic.example.org/a/b.jpg?w=800&sig=1"]),
        ("https://pic.example.org/avatar", ["https://pic.example.org/avatar"]),
        # On LOFTER's hosts the query is an imageView resize and goes, whatever the extension.
        ("https://imglf4.lf127.net/img/abc?imageView&thumbnail=500x0", ["https://imglf4.lf127.net/img/abc"]),
        # The one legacy form that is rewritten; its old address is the second place to look.
        (
            "http://nos.netease.com/imglf6/img/TmV0.gif?imageView",
            ["http://imglf6.lf127.net/img/TmV0.gif", "http://nos.netease.com/imglf6/img/TmV0.gif"],
        ),
        ("https://imglf4.lf127.net/img/R.jpg?imageView&thumbnail=164y164", []),
        ("ftp://pic.example.org/a.jpg", []),
    ],
)
def test_image_addresses_in_post_content(url, addresses):
    assert image_addresses(url, any_host=True) == addresses


def test_theme_pages_keep_only_lofter_post_images():
    assert image_addresses("https://pic.example.org/a/b.jpg") == []
    assert image_addresses("https://avaimg.lf127.net/img/a.jpg?imageView", any_host=False) == []


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("ceshi.lofter.com", BlogTarget("ceshi")),
        ("https://ceshi.lofter.com/", BlogTarget("ceshi")),
        ("https://ceshi.lofter.com/post/12345678_1a0000001", PostTarget("ceshi", 0x12345678, 0x1A0000001)),
        ("https://www.lofter.com/tag/摄影/week", TagTarget("摄影", "week")),
        ("https://www.lofter.com/front/blog/collection/share?collectionId=7", CollectionTarget(7)),
    ],
)
def test_lofter_addresses_are_understood_whatever_serves_the_pages(text, target):
    """People copy LOFTER's addresses; a mirror or the fake site only changes where they are read."""
    fake = BlogUrls("http://{blog}.lofter.test:8080")
    assert fake.parse_target(text) == target
    if isinstance(target, PostTarget):
        assert fake.post(target.blog, target.permalink) == "http://ceshi.lofter.test:8080/post/12345678_1a0000001"


@pytest.mark.parametrize(
    "text", ["ceshi.lofter.com.evil.com", "https://ceshi.lofter.com/tag/x", "https://www.lofter.com/"]
)
def test_lofter_addresses_that_name_nothing_stay_refused_under_a_mirror(text):
    with pytest.raises(InputError, match="is not a LOFTER blog"):
        BlogUrls("http://{blog}.lofter.test:8080").parse_target(text)
