from __future__ import annotations

import pytest

from demo import images
from demo.crawling import crawl
from demo.imageserver import ImageServer

# The sample set every urlfile test can use: path on the server -> original bytes.
SAMPLES = {
    "/photos/271947.jpg": images.jpeg("271947"),
    "/photos/alpha.png": images.png_with_alpha("alpha"),
    "/photos/moving.gif": images.animated_gif("moving"),
    "/photos/modern.webp": images.webp("modern"),
}


@pytest.fixture(scope="session")
def server():
    with ImageServer() as running:
        for path, body in SAMPLES.items():
            running.add_image(path, body)
        running.add_image("/broken/half.jpg", images.jpeg("half", size=(640, 480)))
        running.add_image("/broken/error-page.jpg", b"<!DOCTYPE html><html><body>403 Forbidden</body></html>")
        running.add_image("/broken/bomb.png", images.decompression_bomb())
        running.add_image("/broken/empty.jpg", b"")
        running.add_image("/broken/truncated.jpg", images.truncated(images.jpeg("cut", size=(640, 480))))
        yield running


@pytest.fixture
def run_urlfile(tmp_path, server):
    """Write the given lines to a URL file and crawl it into tmp_path/store."""

    def run(lines, *, store=None, settings=None, timeout=120, **args):
        url_file = tmp_path / "urls.txt"
        url_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        all_settings = {"IMAGESCRAPER_ALLOW_HOSTS": server.allow_setting, **(settings or {})}
        return crawl(
            "urlfile",
            store or tmp_path / "store",
            args={"path": url_file, **args},
            settings=all_settings,
            timeout=timeout,
        )

    return run
