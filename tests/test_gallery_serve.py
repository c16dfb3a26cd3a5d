"""The loopback server of `scrapy gallery --serve` (and of the browser tests)."""

from __future__ import annotations

import http.client

import pytest

from demo.fakelofter.data import sample_mp4
from imagescraper.gallery.serve import CONTENT_SECURITY_POLICY, GalleryServer
from tests.gallerysite import builder, make_store


@pytest.fixture
def served(tmp_path):
    store_root, gallery = tmp_path / "store", tmp_path / "gallery"
    make_store(store_root)
    builder(store_root, gallery).build()
    (tmp_path / "secret.txt").write_text("outside both folders")
    (store_root / "images.example" / "link.jpg").symlink_to(tmp_path / "secret.txt")
    with GalleryServer(gallery, store_root) as server:
        yield server


def get(server, path: str, method: str = "GET"):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.putrequest(method, path, skip_accept_encoding=True)
    connection.endheaders()
    response = connection.getresponse()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


@pytest.mark.slow
def test_the_gallery_and_originals_are_served_with_the_headers(served):
    status, headers, body = get(served, "/")
    assert status == 302 and headers["location"] == "/gallery/index.html"
    status, headers, body = get(served, "/gallery/index.html")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8" and b"All folders" in body
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
    status, headers, body = get(served, "/gallery/a/images.example/")
    assert status == 200 and b"images.example" in body
    status, headers, body = get(served, "/store/images.example/p0-0000000000000000.jpg")
    assert status == 200 and headers["content-type"] == "image/jpeg" and body[:2] == b"\xff\xd8"
    assert served.url.startswith("http://127.0.0.1:")


@pytest.mark.slow
@pytest.mark.parametrize(
    "path",
    [
        "/secret.txt",
        "/store/.imagescraper/manifest.jsonl",
        "/gallery/.gallery/state.json",
        "/store/images.example/link.jpg",
        "/gallery/../secret.txt",
        "/gallery/%2e%2e/secret.txt",
        "/store/",
        "/gallery/a/images.example",
    ],
)
def test_nothing_else_is_served(served, path):
    status, _, body = get(served, path)
    assert status in (301, 404) and b"outside both folders" not in body and b"sha256" not in body


@pytest.mark.slow
def test_a_stored_video_is_served_as_mp4_and_the_pages_may_play_it(served, tmp_path):
    clip = sample_mp4("served")
    (tmp_path / "store" / "images.example" / "clip-0000000000000a01.mp4").write_bytes(clip)
    status, headers, body = get(served, "/store/images.example/clip-0000000000000a01.mp4")
    assert status == 200 and headers["content-type"] == "video/mp4" and body == clip
    assert "media-src 'self'" in CONTENT_SECURITY_POLICY.split("; ")
