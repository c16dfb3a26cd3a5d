"""deploy/'s nginx site, rendered from its template and run by the real nginx on loopback: the
fleet's fallback to the other servers takes at most so many requests at once from one client."""

from __future__ import annotations

import http.client
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jinja2
import pytest

from demo.crawling import REPO

TEMPLATE = REPO / "deploy" / "roles" / "imagescraper" / "templates" / "nginx-site.conf.j2"

pytestmark = [pytest.mark.deploy, pytest.mark.slow]


class _SlowPeer(BaseHTTPRequestHandler):
    """Another server of the fleet that does not hold the image either: 404, once the test lets it."""

    seen: list[str] = []
    lock = threading.Lock()
    answer = threading.Event()

    def do_GET(self):
        with self.lock:
            self.seen.append(self.headers.get("X-Imagescraper-Peer", ""))
        self.answer.wait(20)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fleet_site(tmp_path):
    """nginx serving the rendered site with one slow peer; yields (port, peer handler class)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.skip("nginx is not installed (./dev test installs it)")
    _SlowPeer.seen = []
    _SlowPeer.answer = threading.Event()
    peer = ThreadingHTTPServer(("127.0.0.1", 0), _SlowPeer)
    threading.Thread(target=peer.serve_forever, daemon=True).start()
    port = _free_port()
    # The folders nginx's workers read, as in a deployment: readable by them (pytest's own folder is not).
    served = Path(tempfile.mkdtemp(prefix="imagescraper-nginx-"))
    served.chmod(0o755)
    (served / "store").mkdir(mode=0o755)
    site = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True).from_string(
        TEMPLATE.read_text()
    )
    (tmp_path / "site.conf").write_text(
        site.render(
            ansible_managed="test",
            imagescraper_nginx_peers=[f"127.0.0.1:{peer.server_address[1]}"],
            imagescraper_peer_connections_per_client=4,
            imagescraper_http_listen=f"127.0.0.1:{port}",
            imagescraper_server_name="_",
            imagescraper_gallery_root=str(served / "gallery"),
            imagescraper_store_root=str(served / "store"),
        )
    )
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log; daemon off; worker_processes 1;\n"
        f"events {{ worker_connections 256; }}\n"
        f"http {{ access_log off; include {tmp_path}/site.conf; }}\n"
    )
    server = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"nginx did not start: {server.stderr.read().decode()}") from None
                time.sleep(0.05)
        yield port, _SlowPeer
    finally:
        server.terminate()
        server.wait(10)
        peer.shutdown()
        shutil.rmtree(served)


def _first(futures, count: int, timeout: float):
    """The first *count* of *futures* to finish."""
    done = []
    for future in as_completed(futures, timeout=timeout):
        done.append(future)
        if len(done) == count:
            return done
    raise AssertionError(f"only {len(done)} of {len(futures)} requests finished")


def _get(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_the_peer_fallback_takes_a_few_requests_at_once_from_one_client(fleet_site):
    port, peer = fleet_site
    # Twelve at once for images this server does not hold: four go on to the peer (which holds them
    # until the test lets it answer), the other eight are refused at once.
    with ThreadPoolExecutor(12) as pool:
        pending = [pool.submit(_get, port, f"/files/job/missing-{n}.jpg") for n in range(12)]
        refused = [future.result() for future in _first(pending, 8, timeout=20)]
        peer.answer.set()
        statuses = [future.result() for future in pending]
    assert refused == [429] * 8
    assert sorted(statuses) == [404] * 4 + [429] * 8
    assert peer.seen == ["1"] * 4  # asked as a peer, so the peer answers from its own disk only
    # One after another, nothing is refused.
    assert [_get(port, f"/files/job/later-{n}.jpg") for n in range(3)] == [404] * 3
    assert len(peer.seen) == 7
    # A peer's own request is answered from this server's disk, never passed on, never limited.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/files/job/elsewhere.jpg", headers={"X-Imagescraper-Peer": "1"})
    assert connection.getresponse().status == 404
    connection.close()
    assert len(peer.seen) == 7
