"""The fleet's shared frontier: one URL list split between N servers through Redis.

Redis's reliable-queue pattern, per frontier (``IMAGESCRAPER_FRONTIER_NAME``, key prefix
``imagescraper:<name>:``)::

    queue              list of entries waiting for any worker
    mine:<worker>      entries only <worker> may take (a replace of an image it holds)
    processing:<worker> what <worker> has taken and not yet settled (LMOVE/BLMOVE moves here)
    alive:<worker>     the worker's lease: a key that expires unless renewed
    workers            set of registered workers
    seen               set of URL fingerprints ever queued: claimed or done
    stored             hash fingerprint -> the worker whose store holds the image
    failed             sorted set of entries that failed, scored by when
    failreason         hash fingerprint -> why it failed
    count:stored / count:failed   hash worker -> images it holds / failures it settled
    files              hash URL-file sha256 -> "added"
    adding             set of workers adding a URL file right now
    replacing          hash URL-file sha256 -> worker that queued a replace round

An entry is ``<16 hex fingerprint> <flag> <url>``; the flag is ``n`` (new) or ``r`` (fetch
again, a replace round). Every change is one Lua script, so it is applied whole or not at all:
a worker that dies, or loses Redis, never leaves half an acknowledgement behind. The scripts
name their keys themselves, so the frontier needs one Redis server, not a cluster.
"""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from imagescraper import frontier_scripts as scripts
from imagescraper.startup_errors import InputError, StartupError

DEFAULT_PORT = 6379
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


class FrontierUnavailable(StartupError):
    """Redis cannot be reached when a run starts: nothing has been fetched yet."""


@dataclass(frozen=True)
class FrontierAddress:
    """A parsed ``IMAGESCRAPER_FRONTIER`` URL; ``str()`` never shows the password."""

    host: str
    port: int
    db: int
    password: str | None = field(default=None, repr=False)
    username: str | None = None
    tls: bool = False

    def __str__(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        who = f"{self.username or ''}:***@" if self.password else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{who}{host}:{self.port}/{self.db}"

    def client_options(self) -> dict:
        return {
            "host": self.host,
            "port": self.port,
            "db": self.db,
            "password": self.password,
            "username": self.username,
            "ssl": self.tls,
        }


def is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_frontier_url(text: str) -> FrontierAddress | None:
    """``redis://[[user]:password@]host[:port][/db]``, or None when empty (fleet mode off)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        parts = urlsplit(text)
        port = parts.port or DEFAULT_PORT
    except ValueError:
        parts, port = None, 0
    # Whatever is wrong, the message shows the URL without its password.
    # Everything between "://" and the last "@" may be a password (which may hold "/" or "@").
    shown = re.sub(r"^([^:/]*://).*@", r"\1***@", text) if "@" in text else text
    if parts is None or parts.scheme not in ("redis", "rediss") or not parts.hostname or not 0 < port < 65536:
        raise InputError(
            f"IMAGESCRAPER_FRONTIER={shown!r} is not a Redis URL: give redis://:PASSWORD@HOST:PORT/DB "
            "(for example redis://:secret@10.0.0.5:6379/0)"
        )
    db_text = parts.path.strip("/") or "0"
    if not db_text.isdigit() or parts.query or parts.fragment:
        raise InputError(f"IMAGESCRAPER_FRONTIER={shown!r}: the path must be a database number such as /0")
    password = unquote(parts.password) if parts.password else None
    if not password and not is_loopback(parts.hostname):
        raise InputError(
            f"IMAGESCRAPER_FRONTIER={shown!r} has no password: a frontier reached over the network needs "
            "one (requirepass in redis.conf; redis://:PASSWORD@HOST:PORT/DB)"
        )
    return FrontierAddress(
        host=parts.hostname,
        port=port,
        db=int(db_text),
        password=password,
        username=unquote(parts.username) if parts.username else None,
        tls=parts.scheme == "rediss",
    )


@dataclass(frozen=True)
class Entry:
    """One URL of the shared queue, as the scripts store it."""

    fingerprint: str  # 16 hex digits of the canonical URL
    url: str
    refetch: bool = False  # part of a replace round: fetch even if stored

    @classmethod
    def parse(cls, raw: str | bytes) -> Entry | None:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        fingerprint, flag, url = text[:16], text[17:18], text[19:]
        if len(text) < 20 or text[16] != " " or text[18] != " " or flag not in "nr":
            return None
        return cls(fingerprint, url, flag == "r")

    def __str__(self) -> str:
        return f"{self.fingerprint} {'r' if self.refetch else 'n'} {self.url}"


@dataclass
class WorkerView:
    name: str
    alive: bool
    holding: int
    stored: int
    failed: int


@dataclass
class FleetCounts:
    queued: int
    in_progress: int
    done: int
    failed: int
    workers: list[WorkerView]

    def as_dict(self) -> dict:
        return {
            "queued": self.queued,
            "in_progress": self.in_progress,
            "done": self.done,
            "failed": self.failed,
            "workers": [vars(w) for w in self.workers],
        }


class Frontier:
    """One worker's handle on the shared frontier (redis-py's asyncio client)."""

    def __init__(self, client, *, name: str, worker: str, lease: float):
        self.client = client
        self.prefix = f"imagescraper:{name}:"
        self.name = name
        self.worker = worker
        self.lease_ms = max(int(lease * 1000), 1000)
        self._scripts = {}
        for key, source in (
            ("add", scripts.ADD),
            ("take", scripts.TAKE),
            ("settle", scripts.SETTLE),
            ("heartbeat", scripts.HEARTBEAT),
            ("release", scripts.RELEASE),
            ("retry_failed", scripts.RETRY_FAILED),
            ("counts", scripts.COUNTS),
            ("adding_elsewhere", scripts.ADDING_ELSEWHERE),
        ):
            self._scripts[key] = client.register_script(source)

    async def _run(self, script: str, *args):
        return await self._scripts[script](args=[self.prefix, *args])

    def key(self, name: str) -> str:
        return self.prefix + name

    # -- a worker's life -----------------------------------------------------------------------
    async def heartbeat(self) -> int:
        """Renew this worker's lease; returns how many entries of dead workers went back."""
        return int(await self._run("heartbeat", self.worker, self.lease_ms))

    async def held(self) -> list[Entry]:
        """What this worker holds: after a crash, what its previous run took and never settled."""
        raw = await self.client.lrange(self.key(f"processing:{self.worker}"), 0, -1)
        return [entry for entry in map(Entry.parse, raw) if entry is not None]

    async def retry_failed(self, before: float) -> int:
        return int(await self._run("retry_failed", before))

    async def release(self) -> int:
        """A clean stop: give back what is still held and end the lease."""
        return int(await self._run("release", self.worker))

    # -- the URL list ----------------------------------------------------------------------------
    async def file_added(self, file_hash: str) -> bool:
        return await self.client.hget(self.key("files"), file_hash) is not None

    async def mark_file_added(self, file_hash: str) -> None:
        await self.client.hset(self.key("files"), file_hash, "added")

    async def add(self, batch: list[tuple[str, str]], *, refetch: bool = False) -> int:
        """Queue (fingerprint, url) pairs the frontier has never seen; with *refetch*, all of them."""
        if not batch:
            return 0
        flat = [value for pair in batch for value in pair]
        return int(await self._run("add", "r" if refetch else "n", *flat))

    async def start_replace_round(self, file_hash: str) -> bool:
        """True for the one worker that queues a replace round of this file; the others join it."""
        return bool(await self.client.hsetnx(self.key("replacing"), file_hash, self.worker))

    async def end_replace_rounds_if_drained(self) -> bool:
        counts = await self.counts()
        if counts.queued or counts.in_progress:
            return False
        await self.client.delete(self.key("replacing"))
        return True

    # -- taking and settling ---------------------------------------------------------------------
    async def take(self, count: int) -> list[Entry]:
        raw = await self._run("take", self.worker, count)
        return [entry for entry in map(Entry.parse, raw) if entry is not None]

    async def wait_for_one(self, timeout: float) -> Entry | None:
        """Block up to *timeout* s for an entry (BLMOVE), when the queue is empty but may fill."""
        raw = await self.client.blmove(
            self.key("queue"), self.key(f"processing:{self.worker}"), timeout, "LEFT", "RIGHT"
        )
        return Entry.parse(raw) if raw is not None else None

    async def settle(self, entry: Entry, *, stored: bool, reason: str = "") -> bool:
        """Acknowledge *entry*: stored here, or failed. False if this worker no longer held it
        (its lease had run out and another worker took it back)."""
        held = await self._run("settle", self.worker, str(entry), "stored" if stored else "failed", time.time(), reason)
        return int(held) == 1

    async def is_stored(self, fingerprint: str) -> str | None:
        owner = await self.client.hget(self.key("stored"), fingerprint)
        return owner.decode() if isinstance(owner, bytes) else owner

    async def begin_adding(self) -> None:
        await self.client.sadd(self.key("adding"), self.worker)

    async def end_adding(self) -> None:
        await self.client.srem(self.key("adding"), self.worker)

    async def adding_elsewhere(self) -> bool:
        """Whether a live worker is still adding a URL file (so an empty queue may fill again)."""
        return bool(await self._run("adding_elsewhere", self.worker))

    async def forget(self, worker: str) -> int:
        """A server gone for good (its disk with it): its images count as never fetched again.

        What it stored leaves the "stored" hash and the "seen" set, and the URL files are marked
        as not added, so the next run of any server queues those URLs again; what it held or was
        set aside for it goes back to the queue. Returns how many stored images were forgotten.
        """
        if await self.client.exists(self.key(f"alive:{worker}")):
            raise ValueError(f"worker {worker!r} is running (its lease is alive): stop it first")
        forgotten = 0
        cursor = 0
        while True:
            cursor, fields = await self.client.hscan(self.key("stored"), cursor, count=1000)
            mine = [
                fp for fp, owner in fields.items() if (owner.decode() if isinstance(owner, bytes) else owner) == worker
            ]
            if mine:
                async with self.client.pipeline(transaction=True) as batch:
                    batch.hdel(self.key("stored"), *mine)
                    batch.srem(self.key("seen"), *mine)
                    await batch.execute()
                forgotten += len(mine)
            if cursor == 0:
                break
        async with self.client.pipeline(transaction=True) as batch:
            batch.delete(self.key("files"))
            batch.hdel(self.key("count:stored"), worker)
            batch.hdel(self.key("count:failed"), worker)
            batch.srem(self.key("workers"), worker)
            await batch.execute()
        for source in (f"mine:{worker}", f"processing:{worker}"):
            while await self.client.lmove(self.key(source), self.key("queue"), "RIGHT", "LEFT") is not None:
                pass
        return forgotten

    async def failures(self, limit: int) -> list[tuple[str, str]]:
        """The latest *limit* failed URLs with their reasons, newest first."""
        raw = await self.client.zrevrange(self.key("failed"), 0, limit - 1)
        entries = [entry for entry in map(Entry.parse, raw) if entry is not None]
        if not entries:
            return []
        reasons = await self.client.hmget(self.key("failreason"), [entry.fingerprint for entry in entries])
        return [
            (entry.url, (reason.decode() if isinstance(reason, bytes) else reason) or "?")
            for entry, reason in zip(entries, reasons, strict=True)
        ]

    async def counts(self) -> FleetCounts:
        queued, done, failed, rows = await self._run("counts")
        workers = sorted(
            (
                WorkerView(
                    (name.decode() if isinstance(name, bytes) else name),
                    bool(alive),
                    int(holding),
                    int(stored),
                    int(failures),
                )
                for name, alive, holding, stored, failures in rows
            ),
            key=lambda view: view.name,
        )
        in_progress = sum(w.holding for w in workers)
        return FleetCounts(int(queued), in_progress, int(done), int(failed), workers)
