"""deploy/ without servers: the playbook parses and lints, the inventory checks refuse bad values,
the pins match pyproject.toml, scrapy.cfg holds no password, and the scrapyd helper's pure parts."""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from demo.crawling import REPO

DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
HELPER_PATH = DEPLOY / "roles" / "imagescraper" / "files" / "imagescraper_scrapyd.py"

_spec = importlib.util.spec_from_file_location("imagescraper_scrapyd", HELPER_PATH)
helper = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = helper  # dataclasses look their module up there
_spec.loader.exec_module(helper)

pytestmark = pytest.mark.deploy


def ansible(tool: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / tool), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ANSIBLE_CONFIG": str(DEPLOY / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", **(env or {})},
    )


@pytest.mark.slow  # runs ansible-playbook or ansible-lint
def test_playbook_syntax():
    result = ansible("ansible-playbook", "-i", "deploy/inventory.example.yml", "deploy/site.yml", "--syntax-check")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow  # runs ansible-playbook or ansible-lint
def test_ansible_lint_production_profile():
    result = ansible("ansible-lint", "--offline", "--profile", "production", "deploy/site.yml")
    assert result.returncode == 0, result.stdout + result.stderr


GOOD = {
    "ansible_connection": "local",
    "ansible_python_interpreter": sys.executable,
    "imagescraper_scrapyd_password": "a-good-long-password",
    "imagescraper_url_files": [{"name": "main", "src": "/dev/null"}],
    "imagescraper_lofter_blogs": ["yurisa123"],
}


def check_inventory(tmp_path: Path, **overrides) -> subprocess.CompletedProcess:
    """Run only the inventory checks (check mode, tag "check") against this machine."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"imagescraper": {"hosts": {"here": {**GOOD, **overrides}}}}))
    return ansible(
        "ansible-playbook", "-i", str(inventory), "deploy/site.yml", "--check", "--tags", "check",
        env={"SCRAPYD_PASSWORD": ""},
    )  # fmt: skip


def recap_ok(out: str, host: str) -> bool:
    """The play recap shows the host ran tasks (ok=0 is a play that matched no host) and none failed."""
    return re.search(rf"^{re.escape(host)}\s*: ok=[1-9]\d* .*failed=0\b", out, re.M) is not None


def checks_ran(out: str, host: str) -> list[str]:
    """The inventory checks (tasks/check.yml) that did NOT run and pass on the host: [] when all did."""
    tasks = yaml.safe_load((DEPLOY / "roles" / "imagescraper" / "tasks" / "check.yml").read_text())
    checks = [task for task in tasks if task["name"].startswith("Check")]
    assert checks, "check.yml names no check"
    # Each task's block: its header, then one result line per host, in any order.
    blocks = {}
    for block in re.split(r"^TASK \[imagescraper : ", out, flags=re.M)[1:]:
        name, _, results = block.partition("] ")
        blocks.setdefault(name, []).append(results)
    host_name = re.escape(host)
    ok = re.compile(rf"^ok: \[{host_name}\]", re.M)
    ok_or_empty_loop = re.compile(rf"^(ok|skipping): \[{host_name}\]", re.M)  # a loop over [] is "skipping"
    missing = []
    for task in checks:
        passed = ok_or_empty_loop if "loop" in task else ok
        if not any(passed.search(results) for results in blocks.get(task["name"], [])):
            missing.append(task["name"])
    return missing


@pytest.mark.slow  # runs ansible-playbook or ansible-lint
def test_a_good_inventory_passes_the_checks(tmp_path):
    result = check_inventory(tmp_path)
    assert result.returncode == 0, result.stdout
    assert recap_ok(result.stdout, "here"), result.stdout
    assert checks_ran(result.stdout, "here") == [], result.stdout


@pytest.mark.slow  # runs ansible-playbook or ansible-lint
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"imagescraper_scrapyd_password": ""}, "imagescraper_scrapyd_password must be set"),
        ({"imagescraper_scrapyd_password": "short"}, "at least 12 characters"),
        ({"imagescraper_scrapyd_password": "has a space in it"}, "without spaces"),
        ({"imagescraper_every_minutes": 7}, "imagescraper_every_minutes=7 must divide 60"),
        ({"imagescraper_close_timeout": 290}, "imagescraper_close_timeout=290"),
        ({"imagescraper_url_files": [{"name": "../x", "src": "/dev/null"}]}, "give a name"),
        ({"imagescraper_url_files": [{"name": "a", "src": "/dev/null", "path": "/x"}]}, "exactly one of"),
        ({"imagescraper_url_files": [{"name": "a", "path": "relative.txt"}]}, "an absolute path"),
        ({"imagescraper_lofter_blogs": ["bad/name"]}, "NAME.lofter.com"),
        (
            {"imagescraper_url_files": [{"name": "a", "src": "/dev/null"}, {"name": "a", "src": "/dev/null"}]},
            "two jobs share a name",
        ),
        ({"imagescraper_url_files": [{"name": "a", "src": "/dev/null", "fleet": True}]}, 'needs the group "frontier"'),
        ({"imagescraper_peer_connections_per_client": 0}, "peer_connections_per_client one from 1 to 9999"),
        ({"imagescraper_peer_connections_per_client": 70000}, "imagescraper_peer_connections_per_client one from 1"),
    ],
)
def test_bad_inventory_values_are_refused_with_a_message(tmp_path, overrides, message):
    result = check_inventory(tmp_path, **overrides)
    assert result.returncode != 0
    assert message in result.stdout, result.stdout[-3000:]


@pytest.mark.slow  # runs ansible-playbook
@pytest.mark.parametrize("password", ["", "short-pass", "has/a/slash-0123456789"])
def test_a_fleet_needs_a_good_frontier_password(tmp_path, password):
    inventory = tmp_path / "inventory.yml"
    fleet_file = {"imagescraper_url_files": [{"name": "main", "src": "/dev/null", "fleet": True}]}
    inventory.write_text(
        json.dumps(
            {
                "imagescraper": {"hosts": {"here": {**GOOD, **fleet_file, "imagescraper_frontier_password": password}}},
                "frontier": {"hosts": {"redis1": {"ansible_host": "192.0.2.5"}}},
            }
        )
    )
    result = ansible(
        "ansible-playbook", "-i", str(inventory), "deploy/site.yml", "--check", "--tags", "check", "--limit", "here",
        env={"FRONTIER_PASSWORD": ""},
    )  # fmt: skip
    assert result.returncode != 0
    assert "imagescraper_frontier_password must be set" in result.stdout, result.stdout[-3000:]


@pytest.mark.slow  # runs ansible-playbook or ansible-lint
def test_the_password_comes_from_the_environment_when_the_inventory_has_none(tmp_path):
    inventory = tmp_path / "inventory.yml"
    hostvars = {k: v for k, v in GOOD.items() if k != "imagescraper_scrapyd_password"}
    inventory.write_text(json.dumps({"imagescraper": {"hosts": {"here": hostvars}}}))
    args = ("-i", str(inventory), "deploy/site.yml", "--check", "--tags", "check")
    assert ansible("ansible-playbook", *args, env={"SCRAPYD_PASSWORD": "from-the-environment"}).returncode == 0
    assert ansible("ansible-playbook", *args, env={"SCRAPYD_PASSWORD": ""}).returncode != 0


def test_server_pins_satisfy_the_project_dependencies():
    pins = {}
    for line in (DEPLOY / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"{line!r} is not pinned with =="
            pins[name.lower().replace("_", "-")] = version
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for dependency in project["dependencies"]:
        requirement = Requirement(dependency)
        name = requirement.name.lower()
        assert name in pins, f"{name} is missing from deploy/requirements.txt"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} does not satisfy {dependency}"
    assert Requirement("setuptools<81").specifier.contains(pins["setuptools"]), "scrapyd 1.6 needs setuptools<81"
    assert pins["scrapyd"] == "1.6.0" and pins["scrapyd-client"] == "2.0.3"


def test_scrapy_cfg_deploy_targets_take_the_password_from_the_environment():
    config = configparser.ConfigParser(interpolation=None)
    config.read(REPO / "scrapy.cfg")
    assert config["deploy"]["password"] == "$SCRAPYD_PASSWORD"
    targets = [s for s in config.sections() if s.startswith("deploy:")]
    assert targets
    for section in targets:
        assert config[section]["url"].startswith("http://127.0.0.1:"), "scrapyd is reached on loopback only"
        assert "password" not in config[section]


# --- the helper's pure parts ---------------------------------------------------------------------


def test_job_files_are_read_and_checked(tmp_path):
    (tmp_path / "urls-main.json").write_text(
        json.dumps({"spider": "urlfile", "args": {"path": "/x.txt"}, "settings": {"CLOSESPIDER_TIMEOUT": 240}})
    )
    job = helper.load_job(tmp_path, "urls-main")
    assert job == helper.Job("urls-main", "urlfile", {"path": "/x.txt"}, {"CLOSESPIDER_TIMEOUT": "240"})
    with pytest.raises(helper.Problem, match=r"jobs defined here: urls-main") as missing:
        helper.load_job(tmp_path, "urls-other")
    assert missing.value.status == 2
    with pytest.raises(helper.Problem, match="not valid"):
        helper.load_job(tmp_path, "../../etc/passwd")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(helper.Problem, match="cannot be read as JSON"):
        helper.load_job(tmp_path, "broken")
    (tmp_path / "nospider.json").write_text("{}")
    with pytest.raises(helper.Problem, match="names no spider"):
        helper.load_job(tmp_path, "nospider")


def test_a_job_is_recognised_by_its_id_prefix_only():
    listing = {
        "pending": [{"id": "lofter-abc-20260101T000000Z"}],
        "running": [{"id": "urls-main-20260101T000000Z", "start_time": "2026-01-01 00:00:00"}],
    }
    assert helper.active_run(listing, "urls-main")[0] == "running"
    assert helper.active_run(listing, "lofter-abc")[0] == "pending"
    assert helper.active_run(listing, "lofter-ab") is None  # a prefix of another job's name
    assert helper.active_run(listing, "urls") is None  # job "urls" vs. job "urls-main"
    assert helper.active_run({"running": [{"id": "urls-main-manual"}]}, "urls-main") is None
    assert helper.active_run({}, "urls-main") is None
    assert helper.job_id("urls-main", 0) == "urls-main-19700101T000000Z"


def test_last_run_summary_line(tmp_path):
    assert "none yet" in helper.last_run_line(tmp_path)
    meta = tmp_path / ".imagescraper"
    meta.mkdir()
    record = {"finished_at": "2026-11-21T00:00:00+00:00", "finish_reason": "finished", "stored": 3,
              "already_present": 1, "failed": 0, "rejected_lines": 2, "exit_status": 0}  # fmt: skip
    (meta / "last-run.json").write_text(json.dumps(record))
    line = helper.last_run_line(tmp_path)
    assert line.startswith("2026-11-21T00:00:00+00:00 finished: stored 3, already present 1, failed 0")
    fleet = {"list": "urls-main", "queued": 5, "in_progress": 2, "done": 90, "failed": 1}
    (meta / "last-run.json").write_text(json.dumps({**record, "fleet": fleet}))
    assert helper.last_run_line(tmp_path).endswith("; fleet urls-main: queued 5, in progress 2, done 90, failed 1")
    (meta / "last-run.json").write_text("[]")
    assert "unexpected content" in helper.last_run_line(tmp_path)


def test_helper_with_bad_arguments_says_so(tmp_path):
    result = subprocess.run(
        [sys.executable, str(HELPER_PATH), "--url", "http://127.0.0.1:9/", "prune", "--keep", "0"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "keep at least 1 version" in result.stderr


# --- the gallery ---------------------------------------------------------------------------------


def test_nginx_sends_the_gallery_policy_that_the_browser_tests_use():
    from imagescraper.gallery.serve import CONTENT_SECURITY_POLICY

    site = (DEPLOY / "roles" / "imagescraper" / "templates" / "nginx-site.conf.j2").read_text()
    policies = dict(re.findall(r'^\s+(\S+)\s+"([^"]+)";$', site, re.MULTILINE))
    assert policies["default"] == CONTENT_SECURITY_POLICY
    assert policies["~^/files/"].endswith("; sandbox") and "style-src" not in policies["~^/files/"]
    assert "script" not in CONTENT_SECURITY_POLICY and "default-src 'none'" in CONTENT_SECURITY_POLICY


def test_the_gallery_command_of_a_job():
    job = helper.Job("urls-main", "urlfile", {}, {"IMAGES_STORE": "/srv/imagescraper/images/urls-main"})
    argv = helper.gallery_command(job, "/srv/imagescraper/gallery", "/srv/imagescraper/images", "/files/", "/py")
    assert argv[:5] == ["/py", "-m", "scrapyd.runner", "gallery", "--site-index"]
    settings = dict(value.split("=", 1) for value in argv[6::2])
    assert settings == {
        "IMAGES_STORE": "/srv/imagescraper/images/urls-main",
        "IMAGESCRAPER_GALLERY_DIR": "/srv/imagescraper/gallery/urls-main",
        "IMAGESCRAPER_GALLERY_FILES_URL": "/files/urls-main/",
        "IMAGESCRAPER_GALLERY_TITLE": "urls-main",
    }
    elsewhere = helper.Job("x", "urlfile", {}, {"IMAGES_STORE": "/data/x"})
    with pytest.raises(helper.Problem, match="outside /srv/imagescraper/images that nginx serves"):
        helper.gallery_command(elsewhere, "/g", "/srv/imagescraper/images", "/files/", "/py")


def test_the_gallery_waits_for_the_run_to_end_but_not_forever():
    answers = [
        {"status": "ok", "running": [{"id": "urls-main-20260101T000000Z"}]},
        {"status": "ok", "pending": [], "running": [{"id": "urls-main-20260101T000000Z"}]},
        {"status": "ok", "running": [], "finished": [{"id": "urls-main-20260101T000000Z"}]},
    ]
    now = [0.0]

    class FakeScrapyd:
        def listjobs(self):
            return answers.pop(0)

    def sleep(seconds):
        now[0] += seconds

    idle = helper.wait_until_idle(FakeScrapyd(), "urls-main", 60, clock=lambda: now[0], sleep=sleep)
    assert idle == "job urls-main is idle" and now[0] == 4.0
    answers[:] = [{"status": "ok", "running": [{"id": "urls-main-20260101T000000Z"}]}] * 10
    now[0] = 0.0
    late = helper.wait_until_idle(FakeScrapyd(), "urls-main", 5, clock=lambda: now[0], sleep=sleep)
    assert "still running as urls-main-20260101T000000Z after 5 s; building what is stored" in late


@pytest.mark.slow  # runs ansible-playbook
@pytest.mark.parametrize(("address", "refused"), [("203.0.113.7", True), ("10.20.30.40", False)])
def test_the_frontier_never_binds_to_a_public_address(tmp_path, address, refused):
    inventory = tmp_path / "inventory.yml"
    fleet_file = {"imagescraper_url_files": [{"name": "main", "src": "/dev/null", "fleet": True}]}
    frontier_host = {
        "ansible_host": address,
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
    }
    inventory.write_text(
        json.dumps(
            {
                "imagescraper": {"hosts": {"here": {**GOOD, **fleet_file}}},
                "frontier": {"hosts": {"redis1": frontier_host}},
                "all": {"vars": {"imagescraper_frontier_password": "a-good-long-frontier-password"}},
            }
        )
    )
    result = ansible("ansible-playbook", "-i", str(inventory), "deploy/site.yml", "--check", "--limit", "redis1")
    said = f"imagescraper_frontier_address={address} must be the frontier host's private IP" in result.stdout
    assert said is refused, result.stdout[-3000:]
    if refused:
        assert result.returncode != 0
