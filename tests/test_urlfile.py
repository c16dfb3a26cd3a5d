"""End-to-end: the real `scrapy crawl urlfile` command against the loopback image server."""

from __future__ import annotations

import hashlib
import io
from collections import Counter

import pytest
from PIL import Image

from demo import images
from demo.crawling import crawl
from tests.conftest import SAMPLES


def _by_name(files: dict[str, bytes]) -> dict[str, bytes]:
    return {path.rsplit("/", 1)[-1]: body for path, body in files.items()}


@pytest.mark.slow
def test_every_format_is_stored_byte_for_byte(run_urlfile, server):
    result = run_urlfile([server.url(path) for path in SAMPLES])

    assert result.status == 0, result.log
    files = result.stored_files()
    assert len(files) == 4
    by_sha = {hashlib.sha256(body).hexdigest(): path for path, body in files.items()}
    for path, original in SAMPLES.items():
        assert images.sha256(original) in by_sha, f"{path} not stored byte for byte"
    names = sorted(_by_name(files))
    assert {name.rsplit(".", 1)[1] for name in names} == {"jpg", "png", "gif", "webp"}
    folder = {path.split("/")[0] for path in files}
    assert folder == {f"127.0.0.1_{server.port}"}
    gif = next(body for name, body in _by_name(files).items() if name.endswith(".gif"))
    with Image.open(io.BytesIO(gif)) as animated:
        assert animated.n_frames == 3
    png = next(body for name, body in _by_name(files).items() if name.endswith(".png"))
    with Image.open(io.BytesIO(png)) as transparent:
        assert transparent.mode == "RGBA" and transparent.getpixel((0, 0))[3] == 0
    assert any(name.startswith("271947-") for name in names), "the original file name is recognisable"


@pytest.mark.slow
def test_bad_lines_are_skipped_with_a_warning_and_counted(run_urlfile, server, tmp_path):
    good = server.url("/photos/271947.jpg")
    lines = [
        "\ufeff# a comment after a byte-order mark",
        "",
        f"   {good}   ",
        "file:///etc/passwd",
        "data:image/png;base64,iVBORw0KGgo=",
        "ftp://example.com/a.jpg",
        "s3://bucket/a.jpg",
        "javascript:alert(1)",
        "images/relative.jpg",
        "http://",
        "http://exa mple.com/a.jpg",
        "http://user:secret@example.com/a.jpg",
        "http://example.com:99999/a.jpg",
        "http://example.com/" + "a" * 3000 + ".jpg",
    ]
    url_file = tmp_path / "urls.txt"
    url_file.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    result = crawl(
        "urlfile",
        tmp_path / "store",
        args={"path": url_file},
        settings={"IMAGESCRAPER_ALLOW_HOSTS": server.allow_setting},
    )

    assert result.status == 0, result.log  # rejected lines are reported, not fatal
    assert len(result.stored_files()) == 1
    summary = result.summary
    assert summary["rejected_lines"] == 11
    assert summary["rejected_by_reason"] == {
        "credentials-in-url": 1,
        "malformed-url": 3,
        "relative-url": 1,
        "too-long": 1,
        "unsupported-scheme": 5,
    }
    for line_number in (4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14):
        assert f"urls.txt:{line_number}: skipped, " in result.log
    assert "urls.txt:4: skipped, uses the file: scheme" in result.log
    assert "rejected lines:  11" in result.log


@pytest.mark.slow
def test_one_bad_line_costs_one_line(server, tmp_path):
    """NUL, Latin-1 and escape codes in the middle of a list: those lines are skipped, the rest stored."""
    good = [server.url(path) for path in SAMPLES]
    data = b"".join(
        [
            good[0].encode() + b"\n",
            b"http://example.com/caf\xe9.jpg\n",
            good[1].encode() + b"\x00\n",
            good[2].encode() + b"\n",
            b"\x1b[31mhttp://example.com/red.jpg\n",
            good[3].encode(),
        ]
    )
    url_file = tmp_path / "urls.txt"
    url_file.write_bytes(data)
    result = crawl(
        "urlfile",
        tmp_path / "store",
        args={"path": url_file},
        settings={"IMAGESCRAPER_ALLOW_HOSTS": server.allow_setting},
    )

    assert result.status == 0, result.log
    stored = {images.sha256(body) for body in result.stored_files().values()}
    assert stored == {
        images.sha256(SAMPLES[path]) for path in ["/photos/271947.jpg", "/photos/moving.gif", "/photos/modern.webp"]
    }
    assert result.summary["rejected_by_reason"] == {"control-characters": 2, "invalid-encoding": 1}
    assert "urls.txt:2: skipped, is not valid UTF-8 text (at column 23)" in result.log
    assert "urls.txt:3: skipped, contains a NUL byte" in result.log
    assert "urls.txt:5: skipped, contains the control character U+001B (at column 1)" in result.log


@pytest.mark.slow
def test_a_utf16_list_with_a_bom_is_read(server, tmp_path):
    lines = [server.url("/photos/271947.jpg"), "# saved as Unicode by Notepad", server.url("/photos/alpha.png")]
    url_file = tmp_path / "urls.txt"
    url_file.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-16-le"))
    result = crawl(
        "urlfile",
        tmp_path / "store",
        args={"path": url_file},
        settings={"IMAGESCRAPER_ALLOW_HOSTS": server.allow_setting},
    )

    assert result.status == 0, result.log
    assert len(result.stored_files()) == 2
    assert result.summary["stored"] == 2 and result.summary["rejected_lines"] == 0


@pytest.mark.slow
def test_urls_as_a_browser_takes_them(run_urlfile, server):
    """Upper-case scheme, spaces and Chinese in the path and query, an internationalised host name."""
    spaced = server.add_image("/summer%20photos/beach%201.jpg", images.jpeg("beach"))
    chinese = server.add_image("/%E7%9B%B8%E5%86%8C/%E6%98%A5%E6%97%A5.png", images.png_with_alpha("spring"))
    idna_host = "xn--bcher-kva.example"
    lines = [
        server.url("/photos/alpha.png").replace("http://", "HTTP://"),
        spaced.replace("%20", " "),
        server.url("/photos/moving.gif?size=large&caption=a day at the beach"),
        server.url("/相册/春日.png"),
        f"http://BÜCHER.example:{server.port}/photos/modern.webp",
        f"http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ:{server.port}/photos/271947.jpg",  # IDNA maps it to localhost: blocked
    ]
    server.forget_requests()
    result = run_urlfile(
        lines,
        settings={
            "IMAGESCRAPER_ALLOW_HOSTS": f"{server.allow_setting},{idna_host}:{server.port}",
            "IMAGESCRAPER_RESOLVE": f"{idna_host}=127.0.0.1",
        },
    )

    assert result.summary["stored"] == 5, result.log
    assert result.summary["rejected_lines"] == 0
    assert result.summary["failed_by_reason"] == {"blocked-address": 1}
    [blocked] = result.summary["failures"]
    assert blocked["url"] == f"http://localhost:{server.port}/photos/271947.jpg"
    requested = server.paths_requested()
    assert "/summer%20photos/beach%201.jpg" in requested
    assert "/photos/moving.gif?size=large&caption=a%20day%20at%20the%20beach" in requested
    assert "/%E7%9B%B8%E5%86%8C/%E6%98%A5%E6%97%A5.png" in requested
    assert "/photos/271947.jpg" not in requested
    hosts = {request.headers["host"] for request in server.requests}
    assert f"{idna_host}:{server.port}" in hosts
    stored = {images.sha256(body) for body in result.stored_files().values()}
    assert images.sha256(SAMPLES["/photos/modern.webp"]) in stored
    assert images.sha256(server.files["/summer%20photos/beach%201.jpg"][1]) in stored
    assert chinese and images.sha256(server.files["/%E7%9B%B8%E5%86%8C/%E6%98%A5%E6%97%A5.png"][1]) in stored


@pytest.mark.slow
def test_duplicates_are_downloaded_once(run_urlfile, server):
    url = server.url("/photos/modern.webp")
    server.forget_requests()
    result = run_urlfile([url, url, url.replace("127.0.0.1", "127.0.0.1"), f"{url}#fragment"])

    assert result.status == 0, result.log
    assert len(result.stored_files()) == 1
    assert server.paths_requested().count("/photos/modern.webp") == 1
    assert result.summary["skipped"] == {"duplicate-urls": 3}


FAILURES = {
    "/status/404/gone.jpg": "http-404",
    "/status/410/gone.jpg": "http-410",
    "/broken/error-page.jpg": "not-an-image",
    "/broken/bomb.png": "decompression-bomb",
    "/broken/empty.jpg": "empty",
    "/broken/truncated.jpg": "truncated",
    "/truncated/broken/half.jpg": "truncated",
    "/reset/x.jpg": "connection-lost",
    "/huge/40": "too-large",
    "/huge-chunked/40": "too-large",
}


@pytest.mark.slow
def test_each_failure_is_rejected_named_and_counted(run_urlfile, server):
    """Every kind of failure in one run; test_pipelines checks each reason in-process as well."""
    urls = {server.url(path): reason for path, reason in FAILURES.items()}
    result = run_urlfile(list(urls), settings={"RETRY_TIMES": 0})

    assert result.status == 1, result.log
    assert result.stored_files() == {}
    assert result.manifest() == []
    assert {failure["url"]: failure["reason"] for failure in result.summary["failures"]} == urls
    assert result.summary["failed_by_reason"] == dict(Counter(urls.values()))
    for url, reason in urls.items():
        assert result.log.count(f"Failed {url}: {reason} (") == 1, url
    assert "Traceback" not in result.log
    assert list((result.store / ".imagescraper" / "incoming").iterdir()) == []


@pytest.mark.slow
def test_404_is_not_retried_but_500_is_until_it_succeeds(run_urlfile, server):
    server.forget_requests()
    flaky = server.url("/flaky/f500/500/2/photos/271947.jpg")
    result = run_urlfile([server.url("/status/404/not-retried.jpg"), flaky])

    assert result.status == 1  # the 404
    assert result.summary["stored"] == 1
    assert result.summary["failed_by_reason"] == {"http-404": 1}
    requested = server.paths_requested()
    assert requested.count("/status/404/not-retried.jpg") == 1
    assert requested.count("/flaky/f500/500/2/photos/271947.jpg") == 3
    assert images.sha256(SAMPLES["/photos/271947.jpg"]) in {images.sha256(b) for b in result.stored_files().values()}


@pytest.mark.slow
def test_503_with_retry_after_waits_that_long(run_urlfile, server):
    server.forget_requests()
    result = run_urlfile([server.url("/retry-after/ra1/2/photos/alpha.png")])

    assert result.status == 0, result.log
    times = [r.at for r in server.requests if r.path.startswith("/retry-after/ra1/")]
    assert len(times) == 2
    assert times[1] - times[0] >= 1.9


@pytest.mark.slow
def test_retry_after_is_capped(run_urlfile, server):
    server.forget_requests()
    result = run_urlfile(
        [server.url("/retry-after/ra2/3600/photos/alpha.png")], settings={"IMAGESCRAPER_RETRY_AFTER_MAX": 1}
    )

    assert result.status == 0, result.log
    times = [r.at for r in server.requests if r.path.startswith("/retry-after/ra2/")]
    assert 0.9 <= times[1] - times[0] < 10


@pytest.mark.slow
def test_timeouts_are_failures_with_their_reason(run_urlfile, server):
    result = run_urlfile(
        [server.url("/hang/a.jpg"), server.url("/drip/b.jpg")], settings={"DOWNLOAD_TIMEOUT": 1, "RETRY_TIMES": 0}
    )

    assert result.status == 1
    assert result.summary["failed_by_reason"] == {"timeout": 2}


@pytest.mark.slow
def test_a_redirect_chain_is_followed(run_urlfile, server):
    url = server.url("/redirect/3/photos/moving.gif")
    result = run_urlfile([url])

    assert result.status == 0, result.log
    [stored] = result.stored_files().values()
    assert stored == SAMPLES["/photos/moving.gif"]
    assert result.manifest()[0]["url"] == url


@pytest.mark.slow
def test_a_rerun_fetches_only_what_is_missing_or_cut_and_replace_fetches_all(run_urlfile, server):
    urls = [server.url(path) for path in SAMPLES]
    first = run_urlfile(urls)
    stored = first.stored_files()
    assert len(stored) == 4
    server.forget_requests()

    second = run_urlfile(urls)
    assert second.status == 0, second.log
    assert server.paths_requested() == []
    assert second.summary["already_present"] == 4 and second.summary["stored"] == 0
    assert second.stored_files() == stored and len(second.manifest()) == 4

    by_url = {record["url"]: first.store / record["path"] for record in first.manifest()}
    jpg, png = by_url[server.url("/photos/271947.jpg")], by_url[server.url("/photos/alpha.png")]
    jpg.unlink()
    png.write_bytes(png.read_bytes()[:100])
    third = run_urlfile(urls)
    assert third.status == 0, third.log
    assert sorted(server.paths_requested()) == ["/photos/271947.jpg", "/photos/alpha.png"]
    assert third.stored_files() == stored
    server.forget_requests()

    replaced = run_urlfile(urls, replace="true")
    assert replaced.status == 0, replaced.log
    assert sorted(server.paths_requested()) == sorted(SAMPLES)
    assert replaced.summary["stored"] == 4 and replaced.stored_files() == stored


@pytest.mark.slow
def test_a_title_never_leaves_the_store(run_urlfile, server, tmp_path):
    """test_paths proves every hostile title; this proves the spider's -a title goes through it."""
    store = tmp_path / "deep" / "store"
    result = run_urlfile([server.url("/photos/271947.jpg")], store=store, title="../../escaped\n")

    assert result.status == 0, result.log
    assert list(result.stored_files()) == [f"escaped/{name}" for name in _by_name(result.stored_files())]
    assert [p for p in tmp_path.rglob("*.jpg") if store not in p.parents] == []


@pytest.mark.slow
def test_a_bad_argument_or_input_file_stops_at_once(run_urlfile, tmp_path, server):
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(SAMPLES["/photos/271947.jpg"])
    cases = {
        str(tmp_path / "missing.txt"): "does not exist",
        str(tmp_path): "is a directory",
        str(binary): "is not a UTF-8 text file",
    }
    for path, message in cases.items():
        result = crawl("urlfile", tmp_path / "store", args={"path": path})
        assert result.status == 2, result.log
        assert message in result.log
        assert "Traceback" not in result.log
    result = crawl("urlfile", tmp_path / "store", args={"pth": "x"})
    assert result.status == 2 and "unknown argument 'pth'" in result.log
    result = crawl("urlfile", tmp_path / "store", args={"path": binary, "replace": "maybe"})
    assert result.status == 2 and "replace='maybe' is not true or false" in result.log
