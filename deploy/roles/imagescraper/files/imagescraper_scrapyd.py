#!/usr/bin/env python3
"""Talk to the scrapyd of this server: schedule a job unless it is already queued or running,
rebuild a job's gallery once its run has ended, show what ran, roll back or prune egg versions.

Installed on every server as /opt/imagescraper/bin/imagescraper-scrapyd and run by the
imagescraper-schedule@NAME timers. Standard library only, so it works before the egg is deployed.
scrapyd answers errors with HTTP 200 and {"status": "error"}: every answer's JSON is checked.

Exit status: 0 done (or nothing to do), 1 scrapyd refused or failed, 2 bad configuration.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import posixpath
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:6800/"
DEFAULT_PROJECT = "imagescraper"
DEFAULT_JOBS_DIR = "/etc/imagescraper/jobs"
ENV_FILE_HINT = "/etc/imagescraper/scrapyd.env"
JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class Problem(Exception):
    """One line for the operator, and the exit status that goes with it."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Job:
    name: str
    spider: str
    args: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def store(self) -> str | None:
        return self.settings.get("IMAGES_STORE")


def load_job(jobs_dir: Path, name: str) -> Job:
    """Read jobs_dir/NAME.json, written by the playbook from the inventory."""
    if not JOB_NAME.fullmatch(name):
        raise Problem(f"job name {name!r} is not valid: use letters, digits, '-' and '_'", 2)
    path = jobs_dir / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in jobs_dir.glob("*.json"))) or "none"
        raise Problem(f"no job file {path} (jobs defined here: {known}): add the job to the inventory", 2) from None
    except (OSError, ValueError) as exc:
        raise Problem(f"job file {path} cannot be read as JSON ({exc}): re-run the playbook", 2) from None
    if not isinstance(data, dict) or not isinstance(data.get("spider"), str) or not data["spider"]:
        raise Problem(f"job file {path} names no spider: re-run the playbook", 2)
    args, settings = data.get("args", {}), data.get("settings", {})
    if not isinstance(args, dict) or not isinstance(settings, dict):
        raise Problem(f"job file {path}: 'args' and 'settings' must be objects", 2)
    return Job(name, data["spider"], {k: str(v) for k, v in args.items()}, {k: str(v) for k, v in settings.items()})


def job_id(name: str, now: float) -> str:
    """Job ids start with the job name, so the log file says which job it was and a running
    job can be recognised among several jobs of the same spider (one per LOFTER blog)."""
    return f"{name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now))}"


def active_run(listing: dict, name: str) -> tuple[str, dict] | None:
    """The pending or running job of listjobs.json that belongs to job NAME, if any."""
    for state in ("running", "pending"):
        for entry in listing.get(state) or []:
            if is_run_of(entry, name):
                return state, entry
    return None


def is_run_of(entry: dict, name: str) -> bool:
    # The whole id, not a prefix: names contain "-", so "lofter-a-2026..." is no run of "lofter".
    return bool(re.fullmatch(rf"{re.escape(name)}-\d{{8}}T\d{{6}}Z", str(entry.get("id", ""))))


class Scrapyd:
    def __init__(self, url: str, project: str, username: str, password: str, timeout: float = 30):
        self.url = url if url.endswith("/") else url + "/"
        self.project = project
        self.timeout = timeout
        self._auth = None
        if username or password:
            token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
            self._auth = f"Basic {token}"

    def call(self, endpoint: str, params: dict | list | None = None, post: bool = False) -> dict:
        query = urllib.parse.urlencode(params or {}, doseq=True)
        url = urllib.parse.urljoin(self.url, endpoint)
        data = None
        if post:
            data = query.encode("ascii")
        elif query:
            url = f"{url}?{query}"
        request = urllib.request.Request(url, data=data, method="POST" if post else "GET")
        if self._auth:
            request.add_header("Authorization", self._auth)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                raise Problem(
                    f"scrapyd at {self.url} refused the credentials: check SCRAPYD_USERNAME and "
                    f"SCRAPYD_PASSWORD (on a server: {ENV_FILE_HINT})"
                ) from None
            raise Problem(f"scrapyd at {self.url} answered {endpoint} with HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Problem(
                f"cannot reach scrapyd at {self.url} ({reason}): is imagescraper-scrapyd.service running?"
            ) from None
        try:
            answer = json.loads(body)
        except ValueError:
            raise Problem(f"scrapyd at {self.url} answered {endpoint} with something that is not JSON") from None
        if not isinstance(answer, dict) or answer.get("status") != "ok":
            message = answer.get("message", answer) if isinstance(answer, dict) else answer
            raise Problem(f"scrapyd refused {endpoint}: {message}")
        return answer

    def listjobs(self) -> dict:
        try:
            return self.call("listjobs.json", {"project": self.project})
        except Problem as exc:
            if "not found" in str(exc):
                raise Problem(
                    f"scrapyd has no project {self.project!r} yet: upload the egg first "
                    "(ansible-playbook ... --tags upload, see README 'Deployment')"
                ) from None
            raise

    def versions(self) -> list[str]:
        return list(self.call("listversions.json", {"project": self.project}).get("versions", []))


def schedule(scrapyd: Scrapyd, job: Job, now: float) -> str:
    running = active_run(scrapyd.listjobs(), job.name)
    if running:
        state, entry = running
        since = f" since {entry['start_time']}" if entry.get("start_time") else ""
        return f"job {job.name} is already {state} as {entry['id']}{since}; not scheduling another"
    params = [("project", scrapyd.project), ("spider", job.spider), ("jobid", job_id(job.name, now))]
    params += [("setting", f"{key}={value}") for key, value in sorted(job.settings.items())]
    params += sorted(job.args.items())
    answer = scrapyd.call("schedule.json", params, post=True)
    return f"scheduled job {job.name} ({job.spider}) as {answer.get('jobid')}"


def status(scrapyd: Scrapyd, jobs_dir: Path) -> list[str]:
    lines = []
    daemon = scrapyd.call("daemonstatus.json")
    lines.append(
        f"scrapyd {scrapyd.url}: {daemon.get('running', 0)} running, {daemon.get('pending', 0)} pending, "
        f"{daemon.get('finished', 0)} finished"
    )
    versions = scrapyd.versions()
    lines.append(f"egg versions (newest last): {' '.join(versions) or 'none uploaded'}")
    listing = scrapyd.listjobs() if versions else {}
    for path in sorted(jobs_dir.glob("*.json")):
        job = load_job(jobs_dir, path.stem)
        run = active_run(listing, job.name)
        lines.append(f"job {job.name} ({job.spider}): {run[0] + ' as ' + run[1]['id'] if run else 'idle'}")
        finished = [e for e in listing.get("finished", []) if is_run_of(e, job.name)]
        if finished:
            last = finished[-1]
            lines.append(f"  last finished: {last['id']} at {last.get('end_time')}, log {last.get('log_url')}")
        if job.store:
            lines.append(f"  last run: {last_run_line(Path(job.store))}")
    return lines


def last_run_line(store: Path) -> str:
    """The summary the job itself wrote at its end (see imagescraper/report.py)."""
    path = store / ".imagescraper" / "last-run.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"none yet ({path} does not exist)"
    except (OSError, ValueError) as exc:
        return f"unreadable {path}: {exc}"
    try:
        line = (
            f"{data['finished_at']} {data['finish_reason']}: stored {data['stored']}, "
            f"already present {data['already_present']}, failed {data['failed']}, "
            f"rejected lines {data['rejected_lines']}, exit status {data['exit_status']} "
            f"(details: {path})"
        )
        fleet = data.get("fleet")
        if fleet:  # fleet mode: the shared frontier's counts when the run ended
            line += (
                f"; fleet {fleet['list']}: queued {fleet['queued']}, in progress {fleet['in_progress']}, "
                f"done {fleet['done']}, failed {fleet['failed']}"
            )
        return line
    except (KeyError, TypeError):
        return f"unexpected content in {path}: re-run the job"


def rollback(scrapyd: Scrapyd) -> str:
    versions = scrapyd.versions()
    if len(versions) < 2:
        raise Problem(f"nothing to roll back to: scrapyd holds {len(versions)} version(s) of {scrapyd.project}")
    newest, previous = versions[-1], versions[-2]
    scrapyd.call("delversion.json", {"project": scrapyd.project, "version": newest}, post=True)
    return f"deleted version {newest}; new jobs now run version {previous}"


def prune(scrapyd: Scrapyd, keep: int) -> str:
    versions = scrapyd.versions()
    old = versions[:-keep] if len(versions) > keep else []
    for version in old:
        scrapyd.call("delversion.json", {"project": scrapyd.project, "version": version}, post=True)
    return f"kept {len(versions) - len(old)} version(s), deleted {len(old)}"


def wait_until_idle(
    scrapyd: Scrapyd, name: str, timeout: float, poll: float = 2.0, clock=time.monotonic, sleep=time.sleep
) -> str:
    """Wait while a run of job NAME is pending or running, at most *timeout* seconds."""
    deadline = clock() + timeout
    while True:
        running = active_run(scrapyd.listjobs(), name)
        if running is None:
            return f"job {name} is idle"
        if clock() >= deadline:
            return (
                f"job {name} is still {running[0]} as {running[1]['id']} after {timeout:.0f} s; building what is stored"
            )
        sleep(poll)


def gallery_command(job: Job, gallery_root: str, stores_root: str, files_url: str, python: str) -> list[str]:
    """`scrapy gallery` for JOB, run by scrapyd's own egg runner, so the gallery is built by the
    same imagescraper version that scrapyd runs the crawls with (the newest egg)."""
    if not job.store:
        raise Problem(f"job {job.name} has no IMAGES_STORE setting: re-run the playbook", 2)
    relative = posixpath.relpath(posixpath.normpath(job.store), posixpath.normpath(stores_root))
    if relative.startswith(".."):
        raise Problem(f"job {job.name} stores images in {job.store}, outside {stores_root} that nginx serves", 2)
    return [
        python, "-m", "scrapyd.runner", "gallery", "--site-index",
        "-s", f"IMAGES_STORE={job.store}",
        "-s", f"IMAGESCRAPER_GALLERY_DIR={posixpath.join(gallery_root, job.name)}",
        "-s", f"IMAGESCRAPER_GALLERY_FILES_URL={files_url.rstrip('/')}/{relative}/",
        "-s", f"IMAGESCRAPER_GALLERY_TITLE={job.name}",
    ]  # fmt: skip


def build_gallery(scrapyd: Scrapyd, job: Job, opts: argparse.Namespace) -> list[str]:
    lines = [wait_until_idle(scrapyd, job.name, opts.wait)]
    command = gallery_command(job, opts.gallery_root, opts.stores_root, opts.files_url, sys.executable)
    env = {**os.environ, "SCRAPY_PROJECT": scrapyd.project}
    env.pop("SCRAPYD_PASSWORD", None)  # the build needs no credentials
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    report = [line for line in result.stdout.splitlines() if line.startswith("gallery:")]
    if result.returncode == 3:  # another build of this gallery is running: it will include this run
        return [*lines, f"gallery of job {job.name} is being built by another process; leaving it to that one"]
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if "ERROR" in line] or result.stderr.splitlines()[-5:]
        raise Problem(f"gallery of job {job.name} failed (exit status {result.returncode}): {' / '.join(errors)}")
    return lines + report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="imagescraper-scrapyd", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("SCRAPYD_URL", DEFAULT_URL))
    parser.add_argument("--project", default=DEFAULT_PROJECT)
    parser.add_argument("--jobs-dir", type=Path, default=Path(DEFAULT_JOBS_DIR))
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("schedule", help="schedule job NAME unless it is pending or running")
    one.add_argument("name")
    build = commands.add_parser("gallery", help="wait for job NAME's run to end, then update its gallery")
    build.add_argument("name")
    build.add_argument("--wait", type=float, default=300, help="seconds to wait for a running job (default 300)")
    build.add_argument("--gallery-root", default="/srv/imagescraper/gallery", help="one gallery per job in here")
    build.add_argument("--stores-root", default="/srv/imagescraper/images", help="the folder nginx serves as FILES_URL")
    build.add_argument("--files-url", default="/files/", help="where nginx serves --stores-root (default /files/)")
    commands.add_parser("status", help="what scrapyd holds and what each job did last")
    commands.add_parser("rollback", help="delete the newest egg version so new jobs run the previous one")
    keep = commands.add_parser("prune", help="delete all but the newest KEEP egg versions")
    keep.add_argument("--keep", type=int, default=5)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    scrapyd = Scrapyd(
        opts.url, opts.project, os.environ.get("SCRAPYD_USERNAME", ""), os.environ.get("SCRAPYD_PASSWORD", "")
    )
    try:
        if opts.command == "schedule":
            lines = [schedule(scrapyd, load_job(opts.jobs_dir, opts.name), time.time())]
        elif opts.command == "gallery":
            lines = build_gallery(scrapyd, load_job(opts.jobs_dir, opts.name), opts)
        elif opts.command == "status":
            lines = status(scrapyd, opts.jobs_dir)
        elif opts.command == "rollback":
            lines = [rollback(scrapyd)]
        else:
            if opts.keep < 1:
                raise Problem(f"--keep {opts.keep}: keep at least 1 version", 2)
            lines = [prune(scrapyd, opts.keep)]
    except Problem as problem:
        print(f"imagescraper-scrapyd: {problem}", file=sys.stderr)
        return problem.status
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
