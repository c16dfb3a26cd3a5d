"""Throwaway servers on this machine for the deployment tests.

A ``TestHost`` is a network namespace with its own address on a bridge, plus a mount namespace whose
root is an overlay of this machine's filesystem on a tmpfs: the host sees every installed package,
and everything it writes (/etc, /opt, /srv, /var) stays private and vanishes when it stops. A
deployment can so be applied for real, to several "servers" at once, without touching this machine.

systemd is not PID 1 here, so ``start_unit`` runs what an installed unit file names (ExecStartPre,
ExecStart, User, Group, WorkingDirectory, EnvironmentFile, Environment, UMask) exactly as written.

Addresses come from a /24 of 198.18.0.0/15 (set aside for network tests) that no interface or route
of this machine uses: the bridge is .1, the hosts .11, .12, ... Traffic stays between this
machine's namespaces.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

NEEDED_COMMANDS = ("ip", "unshare", "nsenter", "setpriv", "nginx", "systemd-analyze")

_HOLDER = r"""
set -e
mount -t tmpfs -o mode=0755 imagescraper-host "$1"
mkdir "$1/upper" "$1/work" "$1/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$1/upper,workdir=$1/work" "$1/root"
mount -t proc proc "$1/root/proc"
mount --rbind /dev "$1/root/dev"
mount -t sysfs sysfs "$1/root/sys"
mount -t tmpfs -o mode=0755 run "$1/root/run"
echo $$ > "$2"
exec chroot "$1/root" sleep infinity
"""


def missing_prerequisites() -> str | None:
    """Why the namespaced hosts cannot run here, or None."""
    if os.geteuid() != 0:
        return "the deployment tests need root (network and mount namespaces)"
    missing = [name for name in NEEDED_COMMANDS if not shutil.which(name) and not Path("/usr/sbin", name).exists()]
    if missing:
        return f"missing {', '.join(missing)}: run ./dev test as root, which installs them"
    probe = subprocess.run(["unshare", "--net", "--mount", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"namespaces are not available here: {probe.stderr.strip()}"
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def free_subnet() -> ipaddress.IPv4Network:
    """A /24 of 198.18.0.0/15 that overlaps nothing this machine already routes to."""
    used = []
    for line in _ip("-4", "route", "show", "table", "all").stdout.splitlines():
        word = line.split()[0] if line.split() else ""
        if word in ("local", "broadcast", "unreachable", "blackhole"):
            word = line.split()[1]
        if word != "default":
            try:
                used.append(ipaddress.ip_network(word, strict=False))
            except ValueError:
                pass
    for candidate in ipaddress.ip_network("198.18.0.0/15").subnets(new_prefix=24):
        if not any(candidate.overlaps(net) for net in used):
            return candidate
    raise RuntimeError("no free /24 in 198.18.0.0/15 for the test hosts")


class Network:
    """A bridge in this machine's namespace that the hosts hang off."""

    def __init__(self, tag: str):
        self.tag = tag
        self.bridge = f"isbr{tag}"
        self.hosts: list[TestHost] = []
        self.subnet = free_subnet()
        self.gateway = str(self.subnet[1])

    def __enter__(self) -> Network:
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        return self

    def add_host(self, name: str, workdir: Path) -> TestHost:
        host = TestHost(self, name, str(self.subnet[11 + len(self.hosts)]), workdir)
        self.hosts.append(host)
        host.start()
        return host

    def __exit__(self, *exc):
        for host in self.hosts:
            host.stop()
        _ip("link", "del", self.bridge, check=False)


@dataclass
class Unit:
    path: str
    service: dict[str, list[str]]

    def get(self, key: str, default: str = "") -> str:
        values = self.service.get(key)
        return values[-1] if values else default


class TestHost:
    __test__ = False

    def __init__(self, network: Network, name: str, address: str, workdir: Path):
        self.network = network
        self.name = name
        self.address = address
        self.netns = f"imgs{network.tag}{name}"
        self.workdir = workdir
        self.pid = 0
        self._holder: subprocess.Popen | None = None

    def start(self):
        index = len(self.network.hosts)
        outside = f"isv{self.network.tag}{index}"
        _ip("netns", "add", self.netns)
        _ip("link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", self.netns)
        _ip("link", "set", outside, "master", self.network.bridge, "up")
        inside = ["ip", "netns", "exec", self.netns, "ip"]
        subprocess.run([*inside, "addr", "add", f"{self.address}/24", "dev", "eth0"], check=True)
        subprocess.run([*inside, "link", "set", "eth0", "up"], check=True)
        subprocess.run([*inside, "link", "set", "lo", "up"], check=True)
        mnt = self.workdir / "mnt"
        pidfile = self.workdir / "holder.pid"
        mnt.mkdir(parents=True)
        self._holder = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, "unshare", "--mount", "--propagation", "private", "--fork",
             "sh", "-c", _HOLDER, "holder", str(mnt), str(pidfile)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while not (pidfile.exists() and pidfile.read_text().strip()):
            if self._holder.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"host {self.name} did not start: {self._holder.stderr.read()}")
            time.sleep(0.05)
        self.pid = int(pidfile.read_text())
        # The chroot is in place once the holder has exec'd sleep.
        while Path(f"/proc/{self.pid}/comm").read_text().strip() != "sleep":
            time.sleep(0.05)

    def stop(self):
        # Everything started in the host (services, crawls) lives in its network namespace.
        pids = _ip("netns", "pids", self.netns, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._holder:
            self._holder.wait(timeout=10)
        _ip("netns", "del", self.netns, check=False)

    # --- running things inside -------------------------------------------------------------------

    def command(self, argv: list[str], cwd: str = "/") -> list[str]:
        # nsenter's --wd=DIR would resolve DIR outside the host's root: change directory inside.
        return ["nsenter", "-t", str(self.pid), "-m", "-n", "-r", "-w", "--", "env", f"--chdir={cwd}", *argv]

    def run(self, argv: list[str], *, cwd: str = "/", check: bool = True, timeout: float = 300, env=None, **kwargs):
        result = subprocess.run(
            self.command(argv, cwd), capture_output=True, text=True, timeout=timeout, env=env, **kwargs
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"on {self.name}: {shlex.join(argv)} exited {result.returncode}\n"
                f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
            )
        return result

    def read(self, path: str) -> str:
        return self.run(["cat", path]).stdout

    # --- systemd units, run by hand --------------------------------------------------------------

    def unit(self, path: str, instance: str = "") -> Unit:
        service: dict[str, list[str]] = {}
        section = ""
        for raw in self.read(path).splitlines():
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            if section == "Service":
                key, _, value = line.partition("=")
                service.setdefault(key.strip(), []).append(value.strip().replace("%i", instance).replace("%%", "%"))
        return Unit(path, service)

    def unit_command(self, unit: Unit, exec_line: str) -> tuple[list[str], str]:
        """The argv that runs one Exec line of a unit as systemd would: its user, group, umask,
        environment and working directory. Returns (argv, working directory)."""
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        for env_file in unit.service.get("EnvironmentFile", []):
            for line in self.read(env_file.lstrip("-")).splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    key, _, value = line.partition("=")
                    env[key.strip()] = value.strip().strip('"')
        for assignment in unit.service.get("Environment", []):
            for pair in shlex.split(assignment):
                key, _, value = pair.partition("=")
                env[key] = value
        argv = shlex.split(exec_line)
        if argv and argv[0][:1] in "-@+!":
            argv[0] = argv[0].lstrip("-@+!")
        wrapped = ["sh", "-c", f'umask {unit.get("UMask", "0022")} && exec "$@"', "unit", *argv]
        user = unit.get("User")
        if user:
            group = unit.get("Group", user)
            wrapped = ["setpriv", f"--reuid={user}", f"--regid={group}", "--init-groups", "--", *wrapped]
        home = "/root" if not user else self.run(["getent", "passwd", user]).stdout.split(":")[5]
        env.setdefault("HOME", home)
        full = ["env", "-i", *(f"{k}={v}" for k, v in env.items()), *wrapped]
        return full, unit.get("WorkingDirectory", "/").lstrip("-") or "/"

    def run_unit(self, path: str, instance: str = "", timeout: float = 120) -> subprocess.CompletedProcess:
        """Run a oneshot unit's ExecStart to its end."""
        unit = self.unit(path, instance)
        argv, cwd = self.unit_command(unit, unit.get("ExecStart"))
        return self.run(argv, cwd=cwd, check=False, timeout=timeout)

    def start_unit(self, path: str, log: Path, instance: str = "") -> Unit:
        """Start a long-running unit: ExecStartPre lines to completion, then ExecStart in the
        background (Type=forking commands daemonize themselves)."""
        unit = self.unit(path, instance)
        for line in unit.service.get("ExecStartPre", []):
            argv, cwd = self.unit_command(unit, line)
            self.run(argv, cwd=cwd)
        argv, cwd = self.unit_command(unit, unit.get("ExecStart"))
        if unit.get("Type") == "forking":
            self.run(argv, cwd=cwd)
        else:
            with open(log, "ab") as out:
                subprocess.Popen(self.command(argv, cwd), stdout=out, stderr=subprocess.STDOUT)
        return unit
