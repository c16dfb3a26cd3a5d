"""A loopback HTTP server for the tests and the demo: static images plus hostile behaviours.

``ImageServer`` is a stdlib ``ThreadingHTTPServer`` on port 0 in a daemon thread. It serves
``files`` (path -> (content type, bytes)) and a few dynamic paths, and records every request
so tests can say which URLs were fetched and with which headers:

    /status/<code>/<name>            that status with a small HTML body
    /flaky/<key>/<code>/<n>/<path>   answer <code> the first <n> times, then serve <path>
    /retry-after/<key>/<s>/<path>    503 with "Retry-After: <s>" once, then serve <path>
    /throttle/<code>/<s>/<name>      always <code> (429, 503) with "Retry-After: <s>"
    /redirect/<n>/<path>             302 n times, then serve <path>
    /redirect-to?url=<url>           302 to any URL
    /refresh-to?url=<url>            200 HTML page with a meta refresh to any URL
    /hang/<name>                     accept, read the request, never answer
    /drip/<name>                     headers, then one byte a second
    /reset/<name>                    close the connection with a TCP reset
    /truncated/<path>                Content-Length of the whole file, half the bytes, close
    /slow/<ms>/<path>                serve <path> after <ms> milliseconds
    /huge/<mb>                       a body of <mb> MiB; /huge-chunked/<mb> without length
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CONTENT_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".gif": "image/gif", ".webp": "image/webp"}


@dataclass(frozen=True)
class SeenRequest:
    path: str
    headers: dict[str, str]
    at: float


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        owner = self.server.owner
        owner.record(SeenRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, time.monotonic()))
        with owner.answering():
            self._answer()

    def _answer(self):
        parts = urlsplit(self.path)
        segments = parts.path.lstrip("/").split("/")
        route = getattr(self, f"_route_{segments[0].replace('-', '_')}", None)
        if route is not None:
            route(segments[1:], parse_qs(parts.query))
        else:
            self._serve_path(parts.path)

    # -- plain files ----------------------------------------------------------------------------
    def _serve_path(self, path: str):
        found = self.server.owner.files.get(path)
        if found is None:
            self._send(404, "text/html", b"<html><body>404 Not Found</body></html>")
        else:
            self._send(200, *found)

    def _send(self, status: int, content_type: str, body: bytes, extra: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    # -- dynamic behaviours ---------------------------------------------------------------------
    def _route_status(self, rest, _query):
        code = int(rest[0])
        self._send(code, "text/html", f"<html><body>error {code}</body></html>".encode())

    def _route_flaky(self, rest, _query):
        key, code, times = rest[0], int(rest[1]), int(rest[2])
        if self.server.owner.count(f"flaky/{key}") <= times:
            self._send(code, "text/html", b"<html><body>try again</body></html>")
        else:
            self._serve_path("/" + "/".join(rest[3:]))

    def _route_retry_after(self, rest, _query):
        key, seconds = rest[0], rest[1]
        if self.server.owner.count(f"retry-after/{key}") == 1:
            self._send(503, "text/html", b"<html><body>busy</body></html>", {"Retry-After": seconds})
        else:
            self._serve_path("/" + "/".join(rest[2:]))

    def _route_throttle(self, rest, _query):
        code, seconds = int(rest[0]), rest[1]
        self._send(code, "text/html", b"<html><body>slow down</body></html>", {"Retry-After": seconds})

    def _route_redirect(self, rest, _query):
        hops, path = int(rest[0]), "/" + "/".join(rest[1:])
        target = f"/redirect/{hops - 1}{path}" if hops > 1 else path
        self._send(302, "text/html", b"", {"Location": target})

    def _route_redirect_to(self, _rest, query):
        self._send(302, "text/html", b"", {"Location": query["url"][0]})

    def _route_refresh_to(self, _rest, query):
        page = f'<html><head><meta http-equiv="refresh" content="0;url={query["url"][0]}"></head></html>'
        self._send(200, "text/html", page.encode())

    def _route_hang(self, _rest, _query):
        self.server.owner.stopping.wait()
        self.close_connection = True

    def _route_drip(self, _rest, _query):
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        while not self.server.owner.stopping.wait(1.0):
            try:
                self.wfile.write(b"\xff")
                self.wfile.flush()
            except OSError:
                break
        self.close_connection = True

    def _route_reset(self, _rest, _query):
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _route_truncated(self, rest, _query):
        content_type, body = self.server.owner.files["/" + "/".join(rest)]
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True

    def _route_slow(self, rest, _query):
        if self.server.owner.stopping.wait(int(rest[0]) / 1000):
            return
        self._serve_path("/" + "/".join(rest[1:]))

    def _route_huge(self, rest, _query):
        self._send(200, "image/jpeg", b"\xff" * (int(rest[0]) * 1024 * 1024))

    def _route_huge_chunked(self, rest, _query):
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"\xff" * 65536
        try:
            for _ in range(int(rest[0]) * 16):
                self.wfile.write(chunk)
        except OSError:
            pass
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: ImageServer


class ImageServer:
    def __init__(self, files: dict[str, tuple[str, bytes]] | None = None, port: int = 0, host: str = "127.0.0.1"):
        self.files: dict[str, tuple[str, bytes]] = dict(files or {})
        self.requests: list[SeenRequest] = []
        self.stopping = threading.Event()
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        # Requests being answered right now, and the most there ever were at once.
        self.in_flight = 0
        self.max_in_flight = 0
        self._httpd = _Server((host, port), _Handler)
        self._httpd.owner = self
        self.host = host
        self.port = self._httpd.server_address[1]
        self.base = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def add_image(self, path: str, body: bytes) -> str:
        content_type = CONTENT_TYPES.get(path[path.rfind(".") :], "application/octet-stream")
        self.files[path] = (content_type, body)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    @property
    def allow_setting(self) -> str:
        return f"{self.host}:{self.port}"

    def record(self, request: SeenRequest):
        with self._lock:
            self.requests.append(request)

    @contextmanager
    def answering(self):
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1

    def count(self, key: str) -> int:
        with self._lock:
            self._counts[key] += 1
            return self._counts[key]

    def paths_requested(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def forget_requests(self):
        with self._lock:
            self.requests.clear()

    def __enter__(self) -> ImageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
