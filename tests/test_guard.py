"""The address guard: pure rules, then real crawls that try every way to reach inside."""

from __future__ import annotations

import asyncio
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, urlsplit

import pytest
from scrapy import Request
from twisted.internet import defer

from demo.imageserver import ImageServer
from imagescraper.config import parse_allow_hosts
from imagescraper.guard import (
    AddressGuardMiddleware,
    BlockedRequest,
    GuardedResolver,
    blocked_reason,
    literal_address,
)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.0.9",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",
        "64:ff9b::7f00:1",
    ],
)
def test_internal_addresses_are_blocked(address):
    assert blocked_reason(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::6810:84e5", "1.1.1.1"])
def test_public_addresses_pass(address):
    assert blocked_reason(address) is None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("::1", "::1"),
        ("example.com", None),
        ("localhost", None),
    ],
)
def test_literal_addresses_in_any_spelling(host, address):
    assert literal_address(host) == address


def test_allow_hosts_parsing():
    assert parse_allow_hosts(["127.0.0.1:8000", " Localhost:9000 ", "[::1]:80", ""]) == {
        ("127.0.0.1", 8000),
        ("localhost", 9000),
        ("::1", 80),
    }
    for bad in ["127.0.0.1", "host:port", ":80", "host:0", "host:70000"]:
        with pytest.raises(ValueError, match="is not host:port"):
            parse_allow_hosts([bad])


def _reasons(result) -> dict[str, str]:
    return {failure["url"]: failure["reason"] for failure in result.summary["failures"]}


SPELLINGS = ["localhost", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "127.1", "[::1]", "[::ffff:127.0.0.1]"]


@pytest.mark.slow
def test_only_the_exact_allowed_host_and_port_are_reached(run_urlfile, server):
    """The allowed server under another spelling, or another port of the same machine, is blocked.

    One crawl for every case (the pure rules above prove each spelling; this proves the crawl
    applies them): nothing reaches either server, and each URL fails as blocked-address.
    """
    with ImageServer() as other:
        other.add_image("/secret.jpg", b"never")
        urls = [f"http://{host}:{server.port}/photos/271947.jpg" for host in SPELLINGS] + [other.url("/secret.jpg")]
        server.forget_requests()

        result = run_urlfile(urls)

        assert result.status == 1
        assert _reasons(result) == dict.fromkeys(urls, "blocked-address")
        assert server.paths_requested() == [] and other.paths_requested() == []
        assert result.stored_files() == {}


INTERNAL_TARGETS = [
    "http://127.0.0.1:{other}/secret.jpg",
    "http://169.254.169.254/latest/meta-data/",
    "http://localhost:{other}/secret.jpg",
]


@pytest.mark.slow
def test_redirects_and_meta_refresh_are_checked_on_every_hop(run_urlfile, server):
    with ImageServer() as other:
        other.add_image("/secret.jpg", b"never")
        targets = [target.format(other=other.port) for target in INTERNAL_TARGETS]
        hops = {
            server.url(f"/{hop}?url={quote(target, safe='')}"): (hop, target)
            for hop in ("redirect-to", "refresh-to")
            for target in [*targets, "file:///etc/passwd"]
        }

        result = run_urlfile(list(hops))

        assert result.status == 1
        assert other.paths_requested() == []
        assert result.stored_files() == {}
        reasons = _reasons(result)
        assert set(reasons) == set(hops)
        for url, (hop, target) in hops.items():
            if target.startswith("file:"):
                # Scrapy's redirect middleware already refuses to follow it; the refresh page is no image.
                assert reasons[url] == ("http-302" if hop == "redirect-to" else "not-an-image"), url
            else:
                assert reasons[url] == "blocked-address", url
        details = {failure["url"]: failure["detail"] for failure in result.summary["failures"]}
        file_redirect = server.url(f"/redirect-to?url={quote('file:///etc/passwd', safe='')}")
        assert "a redirect to file:///etc/passwd that is not followed" in details[file_redirect]


# -- Proxies from the environment ----------------------------------------------------------------


class _ProxyHandler(BaseHTTPRequestHandler):
    """A forward proxy for plain http: records each request's URL, then fetches it as is (like
    a real proxy, it passes a redirect back instead of following it)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.seen.append(self.path)
        target = urlsplit(self.path)
        upstream = http.client.HTTPConnection(target.netloc, timeout=10)
        upstream.request("GET", target.path + (f"?{target.query}" if target.query else ""))
        answer = upstream.getresponse()
        body = answer.read()
        self.send_response(answer.status)
        for name in ("Content-Type", "Location"):
            if answer.getheader(name):
                self.send_header(name, answer.getheader(name))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        upstream.close()


@pytest.fixture
def proxy_in_environment(monkeypatch):
    """A loopback proxy named in http_proxy/https_proxy, as a systemd unit or a shell might set it."""
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
    proxy.daemon_threads = True
    proxy.seen = []
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    address = f"http://127.0.0.1:{proxy.server_address[1]}"
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, address)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    yield proxy
    proxy.shutdown()
    proxy.server_close()


@pytest.mark.slow
def test_a_proxy_in_the_environment_is_not_used_by_default(run_urlfile, server, proxy_in_environment):
    url = server.url("/photos/271947.jpg")

    result = run_urlfile([url])

    assert result.status == 0, result.log
    assert proxy_in_environment.seen == []
    assert "Ignoring the http/https proxy set in the environment" in result.log
    [stored] = result.stored_files().values()
    assert stored == server.files["/photos/271947.jpg"][1]


@pytest.mark.slow
def test_with_the_environment_proxy_on_the_guard_checks_each_target_first(run_urlfile, server, proxy_in_environment):
    with ImageServer() as other:
        other.add_image("/secret.jpg", b"never")
        allowed = server.url("/photos/alpha.png")
        internal = [
            f"http://localhost:{other.port}/secret.jpg",
            f"http://127.0.0.1:{other.port}/secret.jpg",
            "http://169.254.169.254/latest/meta-data/",
            f"http://rebound.example:{other.port}/secret.jpg",  # a public-looking name with a private answer
            server.url(f"/redirect-to?url={quote(f'http://127.0.0.1:{other.port}/secret.jpg', safe='')}"),
        ]

        result = run_urlfile(
            [allowed, *internal],
            settings={"IMAGESCRAPER_PROXY_FROM_ENV": "true", "IMAGESCRAPER_RESOLVE": "rebound.example=127.0.0.1"},
        )

        assert other.paths_requested() == []
    assert result.summary["stored"] == 1
    assert result.summary["failed_by_reason"] == {"blocked-address": len(internal)}
    # Only what passed the guard went to the proxy: the allowed image, and the redirect's first hop.
    assert sorted(proxy_in_environment.seen) == sorted([allowed, internal[-1]])
    [stored] = result.stored_files().values()
    assert stored == server.files["/photos/alpha.png"][1]


def test_each_host_is_resolved_and_judged_once_per_run():
    """The middleware keeps its verdict per host: one DNS question for a host's thousand images, and a
    blocked host stays blocked (with the same message) for every later request and port."""
    asked = []
    answers = {"cdn.example": "93.184.215.14", "rebind.example": "10.0.0.5"}

    def resolve(host):
        asked.append(host)
        return defer.succeed(answers[host])

    guard = AddressGuardMiddleware(frozenset(), resolve)

    async def requests():
        for number in range(3):
            assert await guard.process_request(Request(f"https://cdn.example/{number}.jpg")) is None
        for port in (80, 8080):
            with pytest.raises(BlockedRequest, match=rf"rebind.example \(10.0.0.5\):{port} is a private address"):
                await guard.process_request(Request(f"http://rebind.example:{port}/x.jpg"))

    asyncio.run(requests())
    assert asked == ["cdn.example", "rebind.example"]


def test_a_name_allowed_on_one_port_is_judged_again_on_every_other():
    """The resolver lets any answer for an allowed name through, whatever the port; so for such a
    name the middleware keeps no verdict: an answer that turns internal is caught on the next request."""
    answers = iter(["93.184.215.14", "10.0.0.5", "10.0.0.5"])
    asked = []

    def resolve(host):
        asked.append(host)
        return defer.succeed(next(answers))

    guard = AddressGuardMiddleware(frozenset({("mirror.example", 8000)}), resolve)

    async def requests():
        assert await guard.process_request(Request("http://mirror.example:8000/a.jpg")) is None  # allowed pair
        assert await guard.process_request(Request("http://mirror.example/a.jpg")) is None  # public answer
        with pytest.raises(BlockedRequest, match=r"mirror.example \(10.0.0.5\):80 is a private address"):
            await guard.process_request(Request("http://mirror.example/b.jpg"))
        with pytest.raises(BlockedRequest, match=r"mirror.example \(10.0.0.5\):22 is a private address"):
            await guard.process_request(Request("http://mirror.example:22/c.jpg"))
        assert await guard.process_request(Request("http://mirror.example:8000/d.jpg")) is None

    asyncio.run(requests())
    assert asked == ["mirror.example"] * 3


def test_the_resolver_gives_a_name_allowed_on_some_port_its_first_answer_for_the_whole_run(monkeypatch):
    """Any answer passes the resolver for an allowed name, so the connection and the middleware's
    check of the name's other ports must see one address: a name that rebinds to an internal
    address keeps its first answer, and other names are still refused an internal one."""
    import scrapy.resolver

    answers = {"mirror.example": iter(["93.184.215.14", "10.0.0.5"]), "evil.example": iter(["10.0.0.6"])}
    asked = []

    def upstream(self, name, timeout=()):
        asked.append(name)
        return defer.succeed(next(answers[name]))

    monkeypatch.setattr(scrapy.resolver.CachingThreadedResolver, "getHostByName", upstream)
    monkeypatch.setattr(scrapy.resolver.dnscache, "limit", scrapy.resolver.dnscache.limit)  # restored after
    resolver = GuardedResolver(None, 0, 5.0, frozenset({"mirror.example"}), {"pinned.example": "10.9.9.9"})

    def resolve(name):
        outcome = []
        resolver.getHostByName(name).addBoth(outcome.append)
        return outcome[0]

    assert resolve("mirror.example") == "93.184.215.14"
    assert resolve("MIRROR.example") == "93.184.215.14"  # asked once, its first answer kept
    assert asked == ["mirror.example"]
    refused = resolve("evil.example")
    assert isinstance(refused.value, BlockedRequest) and "evil.example resolves to 10.0.0.6" in str(refused.value)
    fixed = resolve("pinned.example")  # IMAGESCRAPER_RESOLVE answers are checked like any other
    assert isinstance(fixed.value, BlockedRequest) and "pinned.example resolves to 10.9.9.9" in str(fixed.value)
