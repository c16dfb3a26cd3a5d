"""Fleet mode of the urlfile spider: take URLs from the shared frontier, acknowledge each one.

With ``IMAGESCRAPER_FRONTIER`` set, a urlfile run on each server:

1. renews its lease and gives back to the queue what dead workers held (``frontier.py``);
2. hands over again what its own previous run took and never settled (a ``kill -9``): an image
   that run had stored is "already present" and acknowledged, the others are fetched;
3. adds the URL file's lines the frontier has never seen; a file whose content was added
   before is not read at all, and with ``replace=true`` the first server queues the whole file
   once for the fleet while the others join that round;
4. takes URLs until the queue is empty, the deadline comes or the run is stopped; each item
   is acknowledged by :class:`FleetPipeline` once the images pipeline has settled it.

Redis lost at any point stops the run (exit status 1). Every acknowledgement is one script, so
none is half-applied; what was not acknowledged is still in this worker's processing list.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import secrets
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from redis.exceptions import AuthenticationError, RedisError

from imagescraper import runstats
from imagescraper.config import ProjectConfig
from imagescraper.frontier import Entry, Frontier, FrontierAddress, FrontierUnavailable
from imagescraper.identity import url_fingerprint
from imagescraper.items import ImageItem
from imagescraper.store import META_DIR
from imagescraper.urllist import BadUrl, RejectedLine, check_url, read_url_lines

logger = logging.getLogger(__name__)

ADD_BATCH = 500
WORKER_FILE = "frontier-worker"
MIN_REDIS = (6, 2)  # LMOVE and BLMOVE


def worker_name(store_root: Path) -> str:
    """This store's name in the fleet, kept in the store so a restarted run finds what it held."""
    path = Path(store_root) / META_DIR / WORKER_FILE
    try:
        name = path.read_text("ascii").strip()
        if re.fullmatch(r"[A-Za-z0-9_.-]{1,80}", name):
            return name
    except (OSError, UnicodeDecodeError):
        pass
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:40] or "worker"
    name = f"{host}-{secrets.token_hex(3)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{WORKER_FILE}.{os.getpid()}")
    temp.write_text(name + "\n", "ascii")
    os.replace(temp, path)
    return name


def check_reachable(address: FrontierAddress, timeout: float = 5.0) -> None:
    """One synchronous PING before the crawl starts: Redis down means exit 2, nothing fetched."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # One attempt: redis-py would otherwise retry a refused connection for several seconds.
    client = redis.Redis(
        **address.client_options(), socket_connect_timeout=timeout, socket_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )
    try:
        client.ping()
        version = str(client.info("server").get("redis_version", "0"))
    except AuthenticationError:
        raise FrontierUnavailable(
            f"frontier {address} refused the password: check IMAGESCRAPER_FRONTIER; nothing was fetched"
        ) from None
    except RedisError as exc:
        raise FrontierUnavailable(
            f"frontier {address} cannot be reached ({exc}): start Redis there or fix IMAGESCRAPER_FRONTIER; "
            "nothing was fetched"
        ) from None
    finally:
        client.close()
    found = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    if found < MIN_REDIS:
        raise FrontierUnavailable(f"frontier {address} runs Redis {version}: fleet mode needs 6.2 or newer")


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class FleetRun:
    """The urlfile spider's side of fleet mode: its ``start()`` delegates to :meth:`items`."""

    def __init__(self, spider, address: FrontierAddress, *, name: str, worker: str, lease: float):
        self.spider = spider
        self.address = address
        self.name = name
        self.worker = worker
        self.lease = lease
        self.frontier: Frontier | None = None
        self.holding: dict[str, Entry] = {}  # request URL -> entry, until acknowledged
        self.broken = False
        self._beat: asyncio.Task | None = None

    @property
    def stats(self):
        return self.spider.crawler.stats  # set once the crawl starts, after the spider is made

    @classmethod
    def for_spider(cls, spider, config: ProjectConfig) -> FleetRun:
        check_reachable(config.frontier)
        store = spider.crawler.settings.get("IMAGES_STORE") or "images"
        worker = worker_name(Path(str(store).removeprefix("file://")))
        return cls(spider, config.frontier, name=config.frontier_name, worker=worker, lease=config.frontier_lease)

    def _connect(self) -> Frontier:
        import redis.asyncio

        client = redis.asyncio.Redis(**self.address.client_options(), socket_connect_timeout=5, socket_timeout=10)
        return Frontier(client, name=self.name, worker=self.worker, lease=self.lease)

    # -- start(): what this worker fetches -------------------------------------------------------
    async def items(self):
        spider = self.spider
        self.stats.set_value(runstats.INPUT_COMPLETE, False)
        self.frontier = self._connect()
        try:
            started = time.time()
            taken_back = await self.frontier.heartbeat()
            self._beat = asyncio.create_task(self._keep_lease())
            retried = await self.frontier.retry_failed(started)
            held = await self.frontier.held()
            await self._add_file()
            counts = await self.frontier.counts()
        except RedisError as exc:
            self.lost(exc)
            return
        alive = sum(w.alive for w in counts.workers)
        per_host = spider.crawler.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
        logger.info(
            "Fleet mode: frontier %s, list %r, this server is %s; %d worker(s) alive, so one host gets at most "
            "%d downloads at once from the fleet; %d queued; %d taken back from dead workers, %d failures "
            "queued again, %d held by this server's previous run",
            self.address, self.name, self.worker, alive, alive * per_host, counts.queued, taken_back, retried,
            len(held),
        )  # fmt: skip
        for entry in held:
            item = await self._hand_over(entry)
            if item is None:
                return
            if item.image_urls:
                yield item
        while not self.broken and not spider._closing():  # a deadline ends the wait for another adder too
            room = max(1, spider.config.items_in_flight - spider._in_flight)
            try:
                entries = await self.frontier.take(room)
                if not entries and await self.frontier.adding_elsewhere():
                    waited = await self.frontier.wait_for_one(1.0)
                    entries = [waited] if waited else []
                    if not entries:
                        continue
            except RedisError as exc:
                self.lost(exc)
                return
            if not entries:
                # The queue ran dry: this server's part of the list is done.
                self.stats.set_value(runstats.INPUT_COMPLETE, True)
                break
            for entry in entries:
                item = await self._hand_over(entry)
                if item is None:
                    return  # closing: what is still held goes back at the close
                if item.image_urls:
                    yield item
        await spider.all_handed_over()

    async def _hand_over(self, entry: Entry) -> ImageItem | None:
        """The item for *entry* once the pipeline has room, None once the run is closing, and an
        item without URLs for an entry that is no URL we fetch (someone wrote into Redis)."""
        spider = self.spider
        try:
            if len(entry.url.encode("utf-8")) > spider.config.max_url_length:  # the limit a file line has
                raise BadUrl("too-long", f"longer than {spider.config.max_url_length} bytes")
            url, _key = check_url(entry.url)
        except BadUrl as bad:
            logger.warning("Frontier entry %r skipped: %s", entry.url[:200], bad.detail)
            try:
                await self.frontier.settle(entry, stored=False, reason=bad.reason)
            except RedisError as exc:
                self.lost(exc)
            return ImageItem(image_urls=[], post_title="")
        title = spider.title or urlsplit(url).netloc
        item = await spider.handing_over(ImageItem(image_urls=[url], post_title=title, refetch=entry.refetch))
        if item is not None:
            self.holding[url] = entry
            self.stats.inc_value(runstats.QUEUED)
        return item

    async def _add_file(self) -> None:
        spider = self.spider
        file_hash = await asyncio.to_thread(file_sha256, spider.path)
        refetch = spider.replace
        if refetch and not await self.frontier.start_replace_round(file_hash):
            logger.info("A replace round of %s is already queued for the fleet: this run joins it", spider.path)
            return
        if not refetch and await self.frontier.file_added(file_hash):
            logger.info("Every line of %s is in the frontier already (same content as before)", spider.path)
            return
        await self.frontier.begin_adding()
        added = 0
        batch: list[tuple[str, str]] = []
        try:
            with spider._stream:
                for line in read_url_lines(spider._stream, max_length=spider.config.max_url_length):
                    if isinstance(line, RejectedLine):
                        spider.reject_line(line)
                        continue
                    batch.append((f"{url_fingerprint(line.key):016x}", line.url))
                    if len(batch) >= ADD_BATCH:
                        added += await self.frontier.add(batch, refetch=refetch)
                        batch.clear()
                added += await self.frontier.add(batch, refetch=refetch)
        finally:
            await self.frontier.end_adding()
        await self.frontier.mark_file_added(file_hash)
        self.stats.set_value(runstats.FLEET_ADDED, added)
        logger.info("Added %d URL(s) of %s to the frontier%s", added, spider.path, " to fetch again" * refetch)

    async def _keep_lease(self) -> None:
        while not self.broken:
            await asyncio.sleep(self.lease / 3)
            try:
                await self.frontier.heartbeat()
                self._record_counts(await self.frontier.counts())
            except RedisError as exc:
                self.lost(exc)
                return

    # -- the pipeline's side -----------------------------------------------------------------------
    async def settle(self, url: str, *, stored: bool, reason: str | None) -> None:
        entry = self.holding.pop(url, None)
        if entry is None or self.broken:
            return
        try:
            held = await self.frontier.settle(entry, stored=stored, reason=reason or "error")
        except RedisError as exc:
            self.lost(exc)
            return
        if not held:
            logger.warning(
                "%s was settled after this server's lease had run out; another server may fetch it too "
                "(raise IMAGESCRAPER_FRONTIER_LEASE)",
                entry.url,
            )

    def lost(self, exc: BaseException) -> None:
        if self.broken:
            return
        self.broken = True
        logger.error(
            "Lost the frontier %s (%s): the run stops; what this server holds goes back to the queue at its "
            "next start or after the lease",
            self.address,
            exc,
        )
        runstats.count(self.stats, runstats.ERRORS, "frontier-lost")
        engine = self.spider.crawler.engine
        asyncio.get_running_loop().create_task(engine.close_spider_async(reason="frontier-lost"))

    async def close(self) -> None:
        """At the end of the run, every item settled: give back what is held, record the fleet."""
        if self._beat is not None:
            self._beat.cancel()
        if self.frontier is None:
            return
        try:
            if not self.broken:
                given_back = await self.frontier.release()
                if given_back:
                    logger.info("Gave %d URL(s) back to the frontier's queue", given_back)
                await self.frontier.end_replace_rounds_if_drained()
                self._record_counts(await self.frontier.counts())
        except RedisError as exc:
            self.lost(exc)
        finally:
            await self.frontier.client.aclose()

    def _record_counts(self, counts) -> None:
        mine = next((w for w in counts.workers if w.name == self.worker), None)
        self.stats.set_value(
            runstats.FLEET,
            {
                "frontier": str(self.address),
                "list": self.name,
                "worker": self.worker,
                "worker_holding": mine.holding if mine else 0,
                "worker_stored": mine.stored if mine else 0,
                "worker_failed": mine.failed if mine else 0,
                **{k: v for k, v in counts.as_dict().items() if k != "workers"},
                "workers_alive": sum(w.alive for w in counts.workers),
            },
        )
