"""deploy/ applied for real: to one host with Ansible's local connection, then to a fleet of two
over SSH with one command. Each host is a network namespace with a private overlay of this
machine's filesystem (tests/testhosts.py); its services are started with the commands its
installed unit files name, since systemd is not PID 1 here."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import posixpath
import re
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from demo import images
from demo.crawling import REPO
from demo.imageserver import ImageServer
from imagescraper.gallery.serve import CONTENT_SECURITY_POLICY
from tests.test_deploy_files import checks_ran, recap_ok
from tests.testhosts import Network, TestHost, missing_prerequisites

WHY_NOT = missing_prerequisites()
pytestmark = [
    pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or ""),
    pytest.mark.timeout(900),
    pytest.mark.deploy,
    pytest.mark.slow,
]

ANSIBLE_PLAYBOOK = str(Path(sys.executable).with_name("ansible-playbook"))
PASSWORD = f"test-{secrets.token_hex(10)}"
UNITS = "/etc/systemd/system"
HELPER = ["/opt/imagescraper/venv/bin/python", "/opt/imagescraper/bin/imagescraper-scrapyd"]


def corpus(prefix: str) -> dict[str, bytes]:
    """A few real images of every kind the store keeps, different for each host."""
    bodies = {}
    for n in range(4):
        bodies[f"/{prefix}/photo-{n}.jpg"] = images.jpeg(f"{prefix}-j{n}", size=(200 + n * 10, 150))
    bodies[f"/{prefix}/alpha.png"] = images.png_with_alpha(f"{prefix}-png")
    bodies[f"/{prefix}/moving.gif"] = images.animated_gif(f"{prefix}-gif")
    bodies[f"/{prefix}/small.webp"] = images.webp(f"{prefix}-webp")
    return bodies


def serve(server: ImageServer, bodies: dict[str, bytes], tmp: Path, name: str, delay_ms: int) -> Path:
    """Put the images on the test server and write the URL file a job will read. Each image is
    delayed, so that a job lasts long enough to be seen running."""
    lines = ["# test URL file", ""]
    for path, body in bodies.items():
        server.add_image(path, body)
        lines.append(server.url(f"/slow/{delay_ms}{path}"))
    url_file = tmp / f"{name}.txt"
    url_file.write_text("\n".join(lines) + "\n")
    return url_file


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory) -> Path:
    """The hosts have no route to a package index: they install from wheels fetched here
    beforehand, which they see through their overlay of this machine's filesystem."""
    wheels = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--only-binary=:all:",
         "-r", str(REPO / "deploy" / "requirements.txt"), "-d", str(wheels)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return wheels


def inventory(tmp: Path, hosts: dict[str, dict], server: ImageServer, wheels: Path) -> Path:
    data = {
        "imagescraper": {
            "vars": {
                "imagescraper_pip_extra_args": f"--no-index --find-links {wheels}",
                "ansible_python_interpreter": "/usr/bin/python3",
                "imagescraper_scrapyd_password": PASSWORD,
                "imagescraper_systemd": False,
                "imagescraper_scrapyd_poll_interval": 1,
                # Two at a time with delayed answers: a job lasts a few seconds.
                "imagescraper_job_settings": {
                    "IMAGESCRAPER_ALLOW_HOSTS": server.allow_setting,
                    "CONCURRENT_REQUESTS": 2,
                },
            },
            "hosts": hosts,
        }
    }
    path = tmp / "inventory.yml"
    path.write_text(json.dumps(data, indent=1))  # JSON is YAML
    return path


def playbook(argv_prefix: list[str], inventory_path: Path, *extra: str) -> str:
    argv = [*argv_prefix, ANSIBLE_PLAYBOOK, "-i", str(inventory_path), str(REPO / "deploy" / "site.yml"), *extra]
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "deploy" / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    env.pop("SCRAPYD_PASSWORD", None)
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600, cwd=REPO)
    assert result.returncode == 0, f"ansible-playbook {' '.join(extra)} failed:\n{result.stdout[-8000:]}{result.stderr}"
    return result.stdout


def start_services(host: TestHost, logs: Path):
    """What systemd would do at boot, with the units the playbook installed."""
    host.start_unit("/lib/systemd/system/nginx.service", logs / f"{host.name}-nginx.log")
    host.start_unit(f"{UNITS}/imagescraper-scrapyd.service", logs / f"{host.name}-scrapyd.log")


def scrapyd_get(host: TestHost, endpoint: str, password: str | None = PASSWORD) -> tuple[int, dict | str]:
    """GET scrapyd's API from inside the host (it listens on the host's loopback only)."""
    code = (
        "import base64,json,sys,urllib.request as u\n"
        "r=u.Request('http://127.0.0.1:6800/'+sys.argv[1])\n"
        "t=base64.b64encode(('imagescraper:'+sys.argv[2]).encode()).decode()\n"
        "if sys.argv[2]: r.add_header('Authorization','Basic '+t)\n"
        "try:\n  f=u.urlopen(r,timeout=10); print(f.status); print(f.read().decode())\n"
        "except u.HTTPError as e: print(e.code); print(e.read().decode())\n"
    )
    out = host.run(["/usr/bin/python3", "-c", code, endpoint, password or ""]).stdout
    status, _, body = out.partition("\n")
    try:
        return int(status), json.loads(body)
    except ValueError:
        return int(status), body


def wait_for(what: str, predicate, timeout: float = 90, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def wait_for_scrapyd(host: TestHost):
    def up():
        try:
            return scrapyd_get(host, "daemonstatus.json")[0] == 200
        except AssertionError:
            return False

    wait_for(f"scrapyd on {host.name}", up)


def jobs(host: TestHost) -> dict:
    status, answer = scrapyd_get(host, "listjobs.json?project=imagescraper")
    assert status == 200 and answer["status"] == "ok", answer
    return answer


def schedule(host: TestHost, job: str) -> subprocess.CompletedProcess:
    return host.run_unit(f"{UNITS}/imagescraper-schedule@.service", instance=job)


def fetch(address: str, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One raw request to nginx on a host, from this machine: the path is sent as is."""
    connection = http.client.HTTPConnection(address, 80, timeout=10)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.resources: list[str] = []  # every href, src and srcset entry

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links += [value for name, value in attrs if name == "href" and value and value != "../"]
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.resources.append(value)
            elif name == "srcset" and value:
                self.resources += [part.split()[0] for part in value.split(",")]


def served_images(address: str, path: str = "/files/") -> dict[str, bytes]:
    """Walk nginx's folder listing of the stores and download every file it lists."""
    status, headers, body = fetch(address, path)
    assert status == 200, (path, status)
    assert headers["content-type"].startswith("text/html")
    parser = _Links()
    parser.feed(body.decode())
    found = {}
    for link in parser.links:
        target = path + link
        if link.endswith("/"):
            found.update(served_images(address, target))
        else:
            status, headers, data = fetch(address, target)
            assert status == 200, (target, status)
            found[target] = data
    return found


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def verify_units(host: TestHost, jobs_: list[str]):
    names = [f"{UNITS}/imagescraper-scrapyd.service"]
    for job in jobs_:
        names += [f"{UNITS}/imagescraper-schedule@{job}.service", f"{UNITS}/imagescraper-schedule@{job}.timer",
                  f"{UNITS}/imagescraper-gallery@{job}.service"]  # fmt: skip
    result = host.run(["systemd-analyze", "verify", *names], check=False)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if "imagescraper" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


def run_job_to_the_end(host: TestHost, job: str) -> tuple[str, str]:
    """Schedule twice in a row (the second must see the first running), wait for the end."""
    first = schedule(host, job)
    assert first.returncode == 0, first.stderr
    assert re.search(rf"scheduled job {job} \(urlfile\) as {job}-\d{{8}}T\d{{6}}Z", first.stdout), first.stdout
    job_id = first.stdout.split(" as ")[-1].strip()
    wait_for(f"{job_id} to run", lambda: any(j["id"] == job_id for j in jobs(host)["running"]))
    second = schedule(host, job)
    assert second.returncode == 0, second.stderr
    assert f"job {job} is already running as {job_id}" in second.stdout, second.stdout
    assert len(jobs(host)["pending"]) == 0
    try:
        wait_for(f"{job_id} to finish", lambda: any(j["id"] == job_id for j in jobs(host)["finished"]), timeout=120)
    except AssertionError as exc:
        log = host.run(
            ["sh", "-c", f"tail -c 4000 /var/lib/imagescraper/logs/imagescraper/*/{job_id}.log"], check=False
        )
        raise AssertionError(f"{exc}\n--- job log\n{log.stdout}{log.stderr}") from None
    return job_id, second.stdout


def check_served(host: TestHost, job: str, originals: dict[str, bytes], others: dict[str, bytes]):
    served = served_images(host.address)
    assert {sha(b) for b in served.values()} == {sha(b) for b in originals.values()}
    assert not {sha(b) for b in served.values()} & {sha(b) for b in others.values()}
    assert all(path.startswith(f"/files/{job}/") for path in served)
    types = {"jpg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp"}
    for path in served:
        status, headers, _ = fetch(host.address, path)
        assert headers["content-type"] == types[path.rsplit(".", 1)[1]], path
        assert headers["x-content-type-options"] == "nosniff"
        assert "default-src 'none'" in headers["content-security-policy"]
    return served


def build_gallery(host: TestHost, job: str) -> str:
    """What systemd starts after each schedule run (OnSuccess=): wait for the run, update the gallery."""
    schedule_unit = host.read(f"{UNITS}/imagescraper-schedule@.service")
    assert "OnSuccess=imagescraper-gallery@%i.service" in schedule_unit
    result = host.run_unit(f"{UNITS}/imagescraper-gallery@.service", instance=job, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"job {job} is idle" in result.stdout
    assert re.search(r"\(gallery full build: 7 manifest records read \(7 new\), ", result.stdout), result.stdout
    return result.stdout


def check_gallery(host: TestHost, job: str, originals: dict[str, bytes]):
    """The gallery through nginx: the page above the jobs, the job's index, its album, an image
    page, every link on them, the headers, and the original behind the image page's link."""
    build_gallery(host, job)
    status, headers, front = fetch(host.address, "/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert f'href="{job}/index.html"' in front.decode() and "7 images in 1 folder" in front.decode()
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
    seen = {}
    pages = [f"/{job}/index.html"]
    types = {"html": "text/html; charset=utf-8", "css": "text/css; charset=utf-8", "webp": "image/webp",
             "png": "image/png", "jpg": "image/jpeg", "gif": "image/gif"}  # fmt: skip
    while pages:
        page = pages.pop()
        status, headers, body = fetch(host.address, page)
        assert status == 200, page
        seen[page] = body
        if not page.endswith(".html"):
            continue
        parser = _Links()
        parser.feed(body.decode())
        for link in parser.resources:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(page), urlsplit(link).path))
            if link.startswith("/"):
                target = link
            if urlsplit(link).scheme or target in seen or link.startswith("#"):
                continue
            if target.endswith(".html") and "/_p" not in target:
                pages.append(target)
            else:
                status, headers, data = fetch(host.address, target)
                assert status == 200 and headers["content-type"] == types[target.rsplit(".", 1)[1]], target
                seen[target] = data
    image_pages = [p for p in seen if p.rsplit("/", 1)[1].startswith("_")]
    assert len(image_pages) == 7
    originals_linked = {p: b for p, b in seen.items() if p.startswith(f"/files/{job}/")}
    assert {sha(b) for b in originals_linked.values()} == {sha(b) for b in originals.values()}
    assert len([p for p in seen if p.startswith(f"/{job}/t/")]) == 14  # two sizes of 7 thumbnails


# --- one server, Ansible's local connection ----------------------------------------------------


@pytest.fixture(scope="module")
def one_server(tmp_path_factory, wheelhouse):
    tmp = tmp_path_factory.mktemp("deploy-one")
    with Network(f"{os.getpid() % 100000}a") as network:
        with ImageServer(host=network.gateway) as server:
            bodies = corpus("one")
            url_file = serve(server, bodies, tmp, "urls", delay_ms=1500)
            inv = inventory(
                tmp,
                {
                    "img1": {
                        "ansible_connection": "local",
                        "imagescraper_url_files": [{"name": "main", "src": str(url_file)}],
                        # Scheduled like the others, never run here (there is no LOFTER to reach).
                        "imagescraper_lofter_blogs": ["demo"],
                    }
                },
                server,
                wheelhouse,
            )
            host = network.add_host("img1", tmp / "img1")
            yield host, inv, bodies, server, tmp


@dataclass
class Deployed:
    """One server set up the way an operator does it, and what each step printed."""

    host: TestHost
    inventory: Path
    bodies: dict[str, bytes]
    tmp: Path
    first_apply: str
    second_apply: str
    schedule_before_egg: subprocess.CompletedProcess
    upload: str
    job_id: str


@pytest.fixture(scope="module")
def deployed(one_server) -> Deployed:
    """The playbook applied twice, the services started, the egg uploaded and job urls-main run to
    its end: what every test of the one server starts from, whichever of them runs and in any order.
    A test that changes this state puts it back before it ends."""
    host, inv, bodies, server, tmp = one_server
    on_host = host.command([])  # nsenter prefix: the playbook runs inside the host
    first = playbook(on_host, inv, "--skip-tags", "upload")
    second = playbook(on_host, inv, "--skip-tags", "upload")
    start_services(host, tmp)
    wait_for_scrapyd(host)
    early = schedule(host, "urls-main")  # before any egg
    upload = playbook(on_host, inv, "--tags", "upload")
    job_id, _ = run_job_to_the_end(host, "urls-main")
    return Deployed(host, inv, bodies, tmp, first, second, early, upload, job_id)


def test_playbook_applies_locally_and_the_job_is_served(deployed):
    host, bodies = deployed.host, deployed.bodies
    assert recap_ok(deployed.first_apply, "img1"), deployed.first_apply[-3000:]
    assert checks_ran(deployed.first_apply, "img1") == [], deployed.first_apply[-3000:]
    # A second application changes nothing but the pip check.
    assert recap_ok(deployed.second_apply, "img1") and re.search(r"changed=0\s", deployed.second_apply), (
        deployed.second_apply[-3000:]
    )

    verify_units(host, ["urls-main", "lofter-demo"])
    assert json.loads(host.read("/etc/imagescraper/jobs/lofter-demo.json"))["args"] == {"domain": "demo"}
    assert host.run(["id", "-u", "imagescraper"]).stdout.strip() != "0"
    assert host.run(["stat", "-c", "%a %U %G", "/etc/imagescraper/scrapyd.env"]).stdout.split() == [
        "640", "root", "imagescraper"
    ]  # fmt: skip
    assert PASSWORD not in host.read("/etc/scrapyd/scrapyd.conf")
    job_file = json.loads(host.read("/etc/imagescraper/jobs/urls-main.json"))
    assert job_file["spider"] == "urlfile" and job_file["args"] == {"path": "/etc/imagescraper/urls/main.txt"}
    assert job_file["settings"]["IMAGES_STORE"] == "/srv/imagescraper/images/urls-main"
    assert job_file["settings"]["CLOSESPIDER_TIMEOUT"] == "240"
    conf = host.read("/etc/scrapyd/scrapyd.conf")
    assert "bind_address = 127.0.0.1" in conf and "SqliteJobStorage" in conf
    assert int(re.search(r"jobs_to_keep\s*=\s*(\d+)", conf).group(1)) >= 7 * 24 * 12

    # Before any egg: the schedule command fails loudly.
    early = deployed.schedule_before_egg
    assert early.returncode == 1 and "upload the egg first" in early.stderr, early

    assert "scrapyd runs version" in deployed.upload

    log = host.read(f"/var/lib/imagescraper/logs/imagescraper/urlfile/{deployed.job_id}.log")
    assert "imagescraper summary" in log and re.search(r"^  stored: +7$", log, re.M), log[-3000:]
    status_out = host.run([*HELPER, "status"], env={**os.environ, "SCRAPYD_PASSWORD": PASSWORD,
                                                   "SCRAPYD_USERNAME": "imagescraper"})  # fmt: skip
    assert "job urls-main (urlfile): idle" in status_out.stdout
    assert "stored 7, already present 0, failed 0" in status_out.stdout, status_out.stdout

    check_served(host, "urls-main", bodies, {})
    check_gallery(host, "urls-main", bodies)


def test_nginx_refuses_what_is_not_an_image_of_the_store(deployed):
    host = deployed.host
    store = "/srv/imagescraper/images/urls-main"
    image = host.run(["sh", "-c", f"find {store} -name '*.jpg' | head -1"]).stdout.strip()
    assert image, "the deployed job stores the images"
    # Planted by someone with write access to the store: nginx must not follow or serve them.
    host.run(["ln", "-s", "/etc/passwd", f"{store}/leak.jpg"])
    host.run(["ln", "-s", image, f"{store}/alias.jpg"])
    host.run(["ln", "-s", "/etc", f"{store}/etcdir"])
    host.run(["sh", "-c", f"echo '<script>alert(1)</script>' > {store}/page.html && echo x > {store}/.hidden.jpg"])

    try:
        relative = "/files" + image[len("/srv/imagescraper/images") :]
        status, headers, body = fetch(host.address, relative)
        assert status == 200 and body[:2] == b"\xff\xd8"
        assert headers["x-content-type-options"] == "nosniff"
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script" not in csp.replace("default-src", "")
        for path in ("/files/urls-main/leak.jpg", "/files/urls-main/alias.jpg", "/files/urls-main/etcdir/passwd"):
            assert fetch(host.address, path)[0] in (403, 404), path
        for path in (
            "/files/urls-main/.imagescraper/manifest.jsonl",
            "/files/urls-main/.imagescraper/lock",
            "/files/urls-main/.imagescraper/last-run.json",
            "/files/urls-main/.imagescraper/",
            "/files/urls-main/.hidden.jpg",
            "/files/urls-main/page.html",
            "/urls-main/.gallery/state.json",
            "/urls-main/.gallery/lock",
        ):
            assert fetch(host.address, path)[0] == 404, path
        for path in (
            "/../etc/passwd",
            "/files/urls-main/../../etc/passwd",
            "/files/../../etc/passwd",
            "/files/%2e%2e/%2e%2e/etc/passwd",
            "/files..%2f..%2fetc/passwd",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/..%2f..%2fetc/passwd",
        ):
            status, _, body = fetch(host.address, path)
            assert status in (400, 403, 404) and b"root:" not in body, path
        assert fetch(host.address, "/files/urls-main/", method="POST")[0] == 405
        assert fetch(host.address, "/urls-main/index.html", method="POST")[0] == 405
        status, headers, listing = fetch(host.address, "/files/urls-main/")
        assert status == 200 and b".imagescraper" not in listing and b".hidden" not in listing
        assert (
            headers["x-content-type-options"] == "nosniff"
            and "default-src 'none'" in headers["content-security-policy"]
        )
    finally:
        planted = ["leak.jpg", "alias.jpg", "etcdir", "page.html", ".hidden.jpg"]
        host.run(["rm", "-f", *(f"{store}/{name}" for name in planted)])


def test_scrapyd_is_closed_without_credentials_and_to_other_hosts(deployed):
    host = deployed.host
    assert scrapyd_get(host, "daemonstatus.json", password=None)[0] == 401
    assert scrapyd_get(host, "daemonstatus.json", password="wrong-password-123")[0] == 401
    assert scrapyd_get(host, "daemonstatus.json")[0] == 200
    # From outside the host: nothing listens on 6800 there.
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection(host.address, 6800, timeout=5).request("GET", "/daemonstatus.json")
    listening = host.run(["ss", "-Hltn"]).stdout
    assert re.search(r"127\.0\.0\.1:6800\b", listening) and not re.search(r"(0\.0\.0\.0|\*|\[::\]):6800\b", listening)


def test_schedule_command_fails_loudly(deployed):
    host = deployed.host
    env = {**os.environ, "SCRAPYD_USERNAME": "imagescraper"}
    wrong = host.run([*HELPER, "schedule", "urls-main"], check=False, env={**env, "SCRAPYD_PASSWORD": "nope"})
    assert wrong.returncode == 1 and "refused the credentials" in wrong.stderr
    unknown = host.run([*HELPER, "schedule", "urls-other"], check=False, env={**env, "SCRAPYD_PASSWORD": PASSWORD})
    assert unknown.returncode == 2 and "jobs defined here: lofter-demo, urls-main" in unknown.stderr
    down = host.run([*HELPER, "--url", "http://127.0.0.1:6899/", "status"], check=False, env=env)
    assert down.returncode == 1 and "cannot reach scrapyd" in down.stderr


def test_upload_again_then_roll_back(deployed):
    host, inv = deployed.host, deployed.inventory
    before = scrapyd_get(host, "listversions.json?project=imagescraper")[1]["versions"]
    time.sleep(1.1)  # versions are timestamps in seconds
    playbook(host.command([]), inv, "--tags", "upload")
    after = scrapyd_get(host, "listversions.json?project=imagescraper")[1]["versions"]
    assert len(after) == len(before) + 1 and after[:-1] == before
    out = playbook(host.command([]), inv, "--tags", "rollback")
    assert f"new jobs now run version {before[-1]}" in out
    assert scrapyd_get(host, "listversions.json?project=imagescraper")[1]["versions"] == before


def test_a_job_removed_from_the_inventory_leaves_the_server(deployed):
    host, inv, bodies, tmp = deployed.host, deployed.inventory, deployed.bodies, deployed.tmp
    data = json.loads(inv.read_text())
    data["imagescraper"]["hosts"]["img1"]["imagescraper_lofter_blogs"] = []
    smaller = tmp / "smaller.yml"
    smaller.write_text(json.dumps(data))
    try:
        playbook(host.command([]), smaller, "--skip-tags", "upload")
        assert host.run(["ls", "/etc/imagescraper/jobs"]).stdout.split() == ["urls-main.json"]
        assert schedule(host, "lofter-demo").returncode == 2
        # The images of the remaining job are untouched.
        assert len(served_images(host.address)) == len(bodies)
    finally:
        # The other tests of this server expect both jobs: apply the whole inventory again.
        playbook(host.command([]), inv, "--skip-tags", "upload")
    assert host.run(["ls", "/etc/imagescraper/jobs"]).stdout.split() == ["lofter-demo.json", "urls-main.json"]


# --- a fleet of two, over SSH, with one command ------------------------------------------------


def start_sshd(host: TestHost, public_key: str, logs: Path):
    host.run(["sh", "-c", "mkdir -p -m 700 /root/.ssh /run/sshd && cat > /root/.ssh/authorized_keys"], input=public_key)
    with open(logs / f"{host.name}-sshd.log", "ab") as log:
        subprocess.Popen(
            host.command(["/usr/sbin/sshd", "-D", "-e", "-o", f"ListenAddress={host.address}",
                          "-o", "PermitRootLogin=prohibit-password", "-o", "PasswordAuthentication=no"]),
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip


def test_fleet_of_two_with_one_command(tmp_path, wheelhouse):
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    ssh_args = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5"
    with Network(f"{os.getpid() % 100000}b") as network, ImageServer(host=network.gateway) as server:
        corpora = {name: corpus(name) for name in ("img1", "img2")}
        hosts_vars = {}
        for name, bodies in corpora.items():
            url_file = serve(server, bodies, tmp_path, name, delay_ms=1500)
            host = network.add_host(name, tmp_path / name)
            start_sshd(host, key.with_suffix(".pub").read_text(), tmp_path)
            hosts_vars[name] = {
                "ansible_host": host.address,
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(key),
                "ansible_ssh_common_args": ssh_args,
                "imagescraper_url_files": [{"name": "main", "src": str(url_file)}],
            }
        inv = inventory(tmp_path, hosts_vars, server, wheelhouse)
        for host in network.hosts:
            wait_for(f"sshd on {host.name}", lambda h=host: _port_open(h.address, 22), timeout=20)

        out = playbook([], inv, "--skip-tags", "upload")
        assert recap_ok(out, "img1") and recap_ok(out, "img2"), out
        for host in network.hosts:
            verify_units(host, ["urls-main"])
            start_services(host, tmp_path)
            wait_for_scrapyd(host)
        upload = playbook([], inv, "--tags", "upload")
        versions = {
            host.name: scrapyd_get(host, "listversions.json?project=imagescraper")[1]["versions"]
            for host in network.hosts
        }
        assert versions["img1"] == versions["img2"] and len(versions["img1"]) == 1, (versions, upload[-2000:])

        for host in network.hosts:
            first = schedule(host, "urls-main")
            assert first.returncode == 0 and "scheduled job urls-main" in first.stdout, first
        for host in network.hosts:
            job_id = first_running(host)
            again = schedule(host, "urls-main")
            assert f"already running as {job_id}" in again.stdout, again
        for host in network.hosts:
            wait_for(f"the job on {host.name}", lambda h=host: not jobs(h)["running"] and jobs(h)["finished"], 120)
            other = corpora["img2" if host.name == "img1" else "img1"]
            check_served(host, "urls-main", corpora[host.name], other)
            check_gallery(host, "urls-main", corpora[host.name])


def first_running(host: TestHost) -> str:
    return wait_for(f"a running job on {host.name}", lambda: [j["id"] for j in jobs(host)["running"]])[0]


def _port_open(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=1).close()
        return True
    except OSError:
        return False
