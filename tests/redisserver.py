"""A real redis-server for the tests, on a free loopback port, with its data in a temporary folder."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def missing() -> str | None:
    if not Path(REDIS_SERVER).exists():
        return "redis-server is not installed: ./dev test installs it (apt-get install redis-server)"
    return None


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class RedisServer:
    """``with RedisServer(tmp) as redis: redis.url`` -- started, ready, and stopped at the end."""

    def __init__(self, workdir: Path, *, password: str | None = None, host: str = "127.0.0.1", port: int = 0, argv=()):
        self.workdir = Path(workdir)
        self.password = password
        self.host = host
        self.port = port
        self.fixed_port = bool(port)
        self.extra = list(argv)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        who = f":{self.password}@" if self.password else ""
        return f"redis://{who}{self.host}:{self.port}/0"

    def command(self) -> list[str]:
        argv = [REDIS_SERVER, "--bind", self.host, "--port", str(self.port), "--dir", str(self.workdir),
                "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "notice"]  # fmt: skip
        if self.password:
            argv += ["--requirepass", self.password]
        return argv + self.extra

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for _attempt in range(5):  # the free port may be taken between the probe and the bind
            if not self.fixed_port:
                self.port = _free_port(self.host)
            self.process = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            seen = []
            for line in self.process.stdout:  # ends when redis-server exits
                seen.append(line)
                if "Ready to accept connections" in line:
                    # Keep reading, so that its log never fills the pipe and blocks it.
                    threading.Thread(target=self.process.stdout.read, daemon=True).start()
                    return self
            self.process.wait()
            if self.fixed_port:
                break
        raise RuntimeError("redis-server did not start:\n" + "".join(seen[-20:]))

    def client(self):
        import redis

        return redis.Redis(host=self.host, port=self.port, password=self.password, decode_responses=True)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc):
        self.stop()
