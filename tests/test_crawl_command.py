"""`scrapy crawl` as the project defines it: a mistake on the command line is one line and exit 2."""

from __future__ import annotations

import pytest

from demo.crawling import crawl


@pytest.mark.slow
@pytest.mark.parametrize(
    ("spider", "settings", "message"),
    [
        ("nosuchspider", {}, "there is no spider 'nosuchspider' in this project: use one of lofter, urlfile"),
        ("urlfile", {"CONCURRENT_REQUESTS": "abc"}, "setting CONCURRENT_REQUESTS='abc' is not a whole number"),
    ],
)
def test_a_command_line_mistake_is_one_line_and_exit_status_2(tmp_path, spider, settings, message):
    url_file = tmp_path / "urls.txt"
    url_file.write_text("http://example.com/a.jpg\n")
    result = crawl(spider, tmp_path / "store", args={"path": url_file}, settings=settings)
    assert result.status == 2, result.log[-3000:]
    assert message in result.log
    assert "Traceback" not in result.log
