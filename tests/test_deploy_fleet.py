"""Fleet mode deployed for real: one Redis host and three workers on the network-namespace hosts of
tests/testhosts.py, set up with one ansible-playbook command over SSH. The three workers share a
list of 3,000 URLs; one is killed with kill -9 in the middle and started again, as its next timer
would; every image ends up stored exactly once in the fleet and can be fetched from every server.

The jobs run the way scrapyd runs them (the service's user, umask, environment files, the job
file's arguments and settings, the server's venv), from this checkout instead of an egg: the egg
upload and scrapyd's scheduling have their own tests in test_deploy.py.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import secrets
import shlex
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from demo import images
from demo.crawling import REPO
from demo.imageserver import ImageServer
from tests.redisserver import missing as redis_missing
from tests.test_deploy import _port_open, playbook, start_sshd, verify_units, wait_for, wheelhouse  # noqa: F401
from tests.testhosts import Network, TestHost, missing_prerequisites

WHY_NOT = missing_prerequisites() or redis_missing()
pytestmark = [pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or ""), pytest.mark.deploy, pytest.mark.slow,
              pytest.mark.timeout(1200)]  # fmt: skip

COUNT = 3000
FRONTIER_PASSWORD = secrets.token_hex(16)
SCRAPYD_PASSWORD = f"test-{secrets.token_hex(10)}"
STORE = "/srv/imagescraper/images/urls-main"
VENV_PYTHON = "/opt/imagescraper/venv/bin/python"


def job_command(host: TestHost) -> tuple[list[str], str]:
    """The crawl scrapyd would start for job urls-main: its spider, arguments and settings from the
    installed job file, run as the scrapyd unit's user with its environment files."""
    job = json.loads(host.read("/etc/imagescraper/jobs/urls-main.json"))
    line = [VENV_PYTHON, "-m", "scrapy", "crawl", job["spider"]]
    line += [f"-a{name}={value}" for name, value in job["args"].items()]
    line += [f"-s{name}={value}" for name, value in job["settings"].items()]
    unit = host.unit("/etc/systemd/system/imagescraper-scrapyd.service")
    argv, _ = host.unit_command(unit, shlex.join(line))
    return argv, str(REPO)


def start_job(host: TestHost, logs: Path, attempt: int = 1) -> subprocess.Popen:
    argv, cwd = job_command(host)
    log = open(logs / f"{host.name}-job-{attempt}.log", "wb")  # noqa: SIM115 - closed with the process
    # nsenter, env, setpriv and sh all exec: the process is the crawl itself, so kill -9 reaches it.
    return subprocess.Popen(host.command(argv, cwd), stdout=log, stderr=subprocess.STDOUT)


def stored_hashes(host: TestHost) -> dict[str, str]:
    """path under the store -> SHA-256, for every image the worker holds."""
    out = host.run(["sh", "-c", f"cd {STORE} && find . -type f -not -path './.imagescraper/*' -exec sha256sum {{}} +"])
    return {line.split("  ", 1)[1][2:]: line.split()[0] for line in out.stdout.splitlines() if line.strip()}


def manifest_lines(host: TestHost) -> int:
    result = host.run(["sh", "-c", f"cat {STORE}/.imagescraper/manifest.jsonl 2>/dev/null | wc -l"], check=False)
    return int(result.stdout.strip() or 0)


class Browser:
    """One keep-alive HTTP connection to a server's nginx."""

    def __init__(self, address: str):
        self.connection = http.client.HTTPConnection(address, 80, timeout=20)

    def get(self, path: str) -> tuple[int, bytes]:
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        return response.status, response.read()


def test_three_workers_share_3000_urls_through_one_redis(tmp_path, wheelhouse):  # noqa: F811
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    ssh = {
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5",
    }
    with Network(f"{os.getpid() % 100000}f") as network, ImageServer(host=network.gateway) as server:
        originals = {}
        lines = []
        for n in range(COUNT):
            path = f"/fleet/{n:04d}.jpg"
            originals[path] = images.jpeg(f"fleet-{n}", size=(24, 16))
            server.add_image(path, originals[path])
            lines.append(server.url(f"/slow/40{path}"))  # 40 ms each: the run lasts long enough to kill
        url_file = tmp_path / "urls.txt"
        url_file.write_text("\n".join(lines) + "\n")

        frontier = network.add_host("fr", tmp_path / "fr")
        workers = [network.add_host(f"w{n}", tmp_path / f"w{n}") for n in (1, 2, 3)]
        for host in network.hosts:
            start_sshd(host, key.with_suffix(".pub").read_text(), tmp_path)
        inventory = {
            "imagescraper": {
                "vars": {
                    "imagescraper_pip_extra_args": f"--no-index --find-links {wheelhouse}",
                    "ansible_python_interpreter": "/usr/bin/python3",
                    "imagescraper_scrapyd_password": SCRAPYD_PASSWORD,
                    "imagescraper_frontier_password": FRONTIER_PASSWORD,
                    "imagescraper_systemd": False,
                    "imagescraper_frontier_per_host": 24,
                    "imagescraper_job_settings": {
                        "IMAGESCRAPER_ALLOW_HOSTS": server.allow_setting,
                        "CONCURRENT_REQUESTS": 8,
                        "IMAGESCRAPER_PROGRESS_LOG_INTERVAL": 0,
                    },
                },
                "hosts": {
                    host.name: {
                        "ansible_host": host.address,
                        **ssh,
                        "imagescraper_url_files": [{"name": "main", "src": str(url_file), "fleet": True}],
                    }
                    for host in workers
                },
            },
            "frontier": {
                "vars": {"imagescraper_frontier_password": FRONTIER_PASSWORD, "imagescraper_systemd": False},
                "hosts": {
                    "fr": {"ansible_host": frontier.address, **ssh, "imagescraper_frontier_address": frontier.address}
                },
            },
        }
        inv = tmp_path / "inventory.yml"
        inv.write_text(json.dumps(inventory, indent=1))
        for host in network.hosts:
            wait_for(f"sshd on {host.name}", lambda h=host: _port_open(h.address, 22), timeout=20)

        # One command deploys the whole fleet: Redis on fr, the workers and their nginx.
        out = playbook([], inv, "--skip-tags", "upload")
        for name in ("fr", "w1", "w2", "w3"):
            assert re.search(rf"{name}\s*: ok=\d+ .*failed=0", out), out[-4000:]
        assert FRONTIER_PASSWORD not in out

        frontier.start_unit("/lib/systemd/system/redis-server.service", tmp_path / "redis.log")
        wait_for("Redis on its private address", lambda: _port_open(frontier.address, 6379), timeout=30)
        listening = frontier.run(["ss", "-Hltn"]).stdout
        assert re.search(rf"{re.escape(frontier.address)}:6379\b", listening)
        assert not re.search(r"(0\.0\.0\.0|\*|\[::\]):6379\b", listening)
        cli = ["redis-cli", "-h", frontier.address, "--no-auth-warning"]
        assert "NOAUTH" in frontier.run([*cli, "ping"], check=False).stdout
        assert frontier.run([*cli, "-a", FRONTIER_PASSWORD, "config", "get", "appendonly"]).stdout.split() == [
            "appendonly", "yes"
        ]  # fmt: skip

        for host in workers:
            verify_units(host, ["urls-main"])
            job = json.loads(host.read("/etc/imagescraper/jobs/urls-main.json"))
            assert job["settings"]["IMAGESCRAPER_FRONTIER_NAME"] == "urls-main"
            assert job["settings"]["CONCURRENT_REQUESTS_PER_DOMAIN"] == "8"  # 24 for the fleet / 3 workers
            assert FRONTIER_PASSWORD not in host.read("/etc/imagescraper/jobs/urls-main.json")
            assert host.run(["stat", "-c", "%a %U %G", "/etc/imagescraper/frontier.env"]).stdout.split() == [
                "640", "root", "imagescraper"
            ]  # fmt: skip
            host.start_unit("/lib/systemd/system/nginx.service", tmp_path / f"{host.name}-nginx.log")
            wait_for(f"nginx on {host.name}", lambda h=host: _port_open(h.address, 80), timeout=20)

        # The three jobs start together; w2 is killed with kill -9 once it has stored some images.
        running = {host.name: start_job(host, tmp_path) for host in workers}
        w1, w2, w3 = workers
        wait_for("w2 to store images", lambda: manifest_lines(w2) >= 60, timeout=120, interval=0.1)
        running["w2"].kill()
        running["w2"].wait()
        for name in ("w1", "w3"):
            assert running[name].wait(timeout=300) == 0, (tmp_path / f"{name}-job-1.log").read_text()[-4000:]
        # Its next start (the next timer) finds what it held: stored ones are acknowledged, the rest fetched.
        again = start_job(w2, tmp_path, attempt=2)
        assert again.wait(timeout=300) == 0, (tmp_path / "w2-job-2.log").read_text()[-4000:]

        held = {host.name: stored_hashes(host) for host in workers}
        every = Counter(sha for share in held.values() for sha in share.values())
        assert set(every) == {images.sha256(body) for body in originals.values()}
        assert set(every.values()) == {1}, "an image is stored on two servers"
        assert all(len(share) > 0 for share in held.values()), {k: len(v) for k, v in held.items()}
        paths = {path for share in held.values() for path in share}
        assert len(paths) == COUNT  # the same path would be used on every server

        requests = Counter(path.rsplit("/slow/40", 1)[-1] for path in server.paths_requested())
        assert set(requests) == set(originals)
        # Fetched twice: only what w2 was downloading at the moment it was killed.
        assert sum(n - 1 for n in requests.values()) <= 2 * 8

        for host in workers:
            log = "".join((tmp_path / f"{host.name}-job-{n}.log").read_text() for n in (1, 2) if
                          (tmp_path / f"{host.name}-job-{n}.log").exists())  # fmt: skip
            assert FRONTIER_PASSWORD not in log
            assert FRONTIER_PASSWORD not in host.read(f"{STORE}/.imagescraper/last-run.json")
        summary = json.loads(w2.read(f"{STORE}/.imagescraper/last-run.json"))
        assert summary["exit_status"] == 0 and summary["fleet"]["done"] == COUNT
        assert summary["fleet"]["queued"] == 0 and summary["fleet"]["in_progress"] == 0

        # The operator's view, from a worker.
        status_argv, cwd = job_command(w1)
        status = w1.run([*status_argv[: status_argv.index(VENV_PYTHON) + 3], "frontier", "status",
                         "-sIMAGESCRAPER_FRONTIER_NAME=urls-main"], cwd=cwd)  # fmt: skip
        assert "  queued:      0\n  in progress: 0\n  done:        3000\n  failed:      0" in status.stdout
        assert FRONTIER_PASSWORD not in status.stdout and "redis://:***@" in status.stdout

        # Every image can be fetched from every server: its own share from disk, the rest from peers.
        by_path = {path: sha for share in held.values() for path, sha in share.items()}
        for host in workers:
            browser = Browser(host.address)
            sample = sorted(by_path) if host is w1 else sorted(by_path)[::10]
            for path in sample:
                status_code, body = browser.get(f"/files/urls-main/{path}")
                assert status_code == 200 and hashlib.sha256(body).hexdigest() == by_path[path], (host.name, path)
            # Nobody holds it: one round of peers, then 404. Meta files are never asked of peers.
            assert browser.get(f"/files/urls-main/{sorted(by_path)[0][:-4]}-missing.jpg")[0] == 404
            assert browser.get("/files/urls-main/.imagescraper/manifest.jsonl")[0] == 404
