"""The downloader keeps a host to its concurrency limit, however many images wait for it."""

from __future__ import annotations

import pytest

from demo import images
from demo.crawling import crawl
from demo.imageserver import ImageServer

LIMIT = 4


@pytest.fixture
def queued_set(tmp_path):
    """40 small images answered after 100 ms each, so that many requests wait in the queue."""
    with ImageServer() as server:
        for n in range(40):
            server.add_image(f"/q/{n:02d}.png", images.png_with_alpha(f"q{n}"))
        urls = [server.url(f"/slow/100/q/{n:02d}.png") for n in range(40)]
        url_file = tmp_path / "urls.txt"
        url_file.write_text("\n".join(urls) + "\n")
        yield server, url_file


def _run(tmp_path, server, url_file, **settings):
    return crawl(
        "urlfile",
        tmp_path / "store",
        args={"path": url_file},
        settings={
            "IMAGESCRAPER_ALLOW_HOSTS": server.allow_setting,
            "CONCURRENT_REQUESTS": LIMIT,
            "CONCURRENT_REQUESTS_PER_DOMAIN": LIMIT,
            # every image handed over at once: all 40 requests queue at the host's slot
            "IMAGESCRAPER_ITEMS_IN_FLIGHT": 40,
            **settings,
        },
    )


def test_a_host_never_gets_more_than_its_concurrency_limit(tmp_path, queued_set):
    server, url_file = queued_set
    result = _run(tmp_path, server, url_file)
    assert result.status == 0, result.log[-3000:]
    assert result.summary["stored"] == 40
    assert 1 < server.max_in_flight <= LIMIT


def test_scrapy_s_own_downloader_still_overshoots_the_limit(tmp_path, queued_set):
    """Why downloader.py exists. When this fails, Scrapy has fixed the race: drop the subclass."""
    server, url_file = queued_set
    result = _run(tmp_path, server, url_file, DOWNLOADER="scrapy.core.downloader.Downloader")
    assert result.status == 0, result.log[-3000:]
    assert server.max_in_flight > LIMIT
