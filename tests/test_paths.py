from __future__ import annotations

import pytest

from imagescraper.paths import checked_relpath, clean_segment, image_file_name, item_folders, store_relpath


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("春日樱花", "春日樱花"),
        ("旅行/日记\n第1天 ✈", "旅行_日记 第1天 ✈"),
        ("..", "untitled"),
        (".", "untitled"),
        ("", "untitled"),
        (None, "untitled"),
        ("../../etc", "etc"),
        ("a/../b", "a_.._b"),
        (".hidden", "hidden"),
        ("a\\b", "a_b"),
        ("  spaced \t out  ", "spaced out"),
        ("zero\u200bwidth\u202eRTL", "zerowidthRTL"),
        ("bell\x07\x1b[31m", "bell[31m"),
        ('what?*:<>|"#%', "what"),
        ("e\u0301", "é"),
    ],
)
def test_clean_segment(text, expected):
    assert clean_segment(text) == expected


def test_clean_segment_caps_utf8_bytes_without_splitting_a_character():
    assert clean_segment("长" * 200, max_bytes=200) == "长" * 66  # 198 bytes: a 67th would not fit
    assert clean_segment("长" * 200, max_bytes=198) == "长" * 66
    assert clean_segment("长" * 200, max_bytes=197) == "长" * 65


def test_clean_segment_fallback_is_cleaned_too():
    assert clean_segment("...", fallback="../excerpt/x") == "excerpt_x"


def test_image_file_name_is_stable_readable_and_distinct():
    a = image_file_name("http://mywebserver.com/images/271947.jpg", ".jpg")
    assert a == image_file_name("http://mywebserver.com/images/271947.jpg", ".jpg")
    assert a.startswith("271947-") and a.endswith(".jpg") and len(a) == len("271947-") + 16 + 4
    assert a != image_file_name("http://somewebsrv.com/img/271947.jpg", ".jpg")
    assert image_file_name("http://h/%E6%98%A5.png", ".png").startswith("春-")
    assert image_file_name("http://h/", ".gif").startswith("image-")
    assert image_file_name("http://h/..%2F..%2Fx.jpg", ".jpg").startswith("x-")


def test_store_relpath_refuses_unsafe_parts():
    assert store_relpath(["blog", "post"], "a.jpg") == "blog/post/a.jpg"
    for bad in ["..", ".", "", "a/b", ".x", "a\\b", "x" * 256]:
        with pytest.raises(ValueError, match=r"unsafe path segment|path segment longer than 255 bytes"):
            store_relpath([bad], "a.jpg")


def test_checked_relpath_refuses_a_path_that_could_leave_the_store():
    assert checked_relpath("blog/post/a.jpg") == "blog/post/a.jpg"
    for bad in ["../a.jpg", "/etc/passwd", "a//b.jpg", "a/./b.jpg", "a/.hidden", "a\\..\\b.jpg", "a/"]:
        with pytest.raises(ValueError, match="unsafe path segment"):
            checked_relpath(bad)


def test_item_folders_name_blog_post_and_title():
    assert item_folders(post_title="春日樱花", blog_name="ceshi", post_id="6979321857") == [
        "ceshi",
        "春日樱花_6979321857",
    ]
    assert item_folders(post_title="..", blog_name="ceshi", post_id="1", post_excerpt="正文") == ["ceshi", "正文_1"]
    assert item_folders(post_title="../../x") == ["x"]
    assert item_folders(post_title=None) == ["untitled"]


@pytest.mark.parametrize(
    "title",
    ["../../escaped", "..", "a/b\\c", "two\nlines", ".hidden", "春日樱花 🌸", "长" * 200, "\x07\x1b[31mred\x7f"],
)
def test_a_hostile_title_makes_one_safe_folder(title):
    [folder] = item_folders(post_title=title)
    assert folder not in {"", ".", ".."} and not folder.startswith(".")
    assert "/" not in folder and "\\" not in folder
    assert not any(ord(c) < 32 or ord(c) == 127 for c in folder)
    assert len(folder.encode("utf-8")) <= 200
    assert checked_relpath(store_relpath([folder], "a.jpg")) == f"{folder}/a.jpg"
    if title.startswith("春日"):
        assert folder == "春日樱花 🌸"
