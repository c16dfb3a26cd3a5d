"""`scrapy frontier status`: the fleet's view of the shared frontier, for an operator; and
`scrapy frontier forget WORKER` for a server gone for good with its disk.

Reads ``IMAGESCRAPER_FRONTIER`` and ``IMAGESCRAPER_FRONTIER_NAME`` like a crawl does (``-s`` or
the environment) and prints what is queued, in progress, done and failed, in all and per worker.
Exit status 0; 1 when asked to forget a worker that is running; 2 when the frontier is not configured
or cannot be reached.
"""

from __future__ import annotations

import asyncio

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from imagescraper.config import ProjectConfig
from imagescraper.frontier import FleetCounts, Frontier, FrontierAddress
from imagescraper.startup_errors import ExitStatus, StartupError


class Command(ScrapyCommand):
    requires_project = True
    default_settings = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "status [--failed N] | forget WORKER"

    def add_options(self, parser):
        super().add_options(parser)
        parser.add_argument("--failed", type=int, default=10, metavar="N", help="list the latest N failed URLs")

    def short_desc(self) -> str:
        return "Show the fleet's shared frontier (fleet mode): queued, in progress, done, failed"

    def run(self, args, opts):
        if not (args == ["status"] or (len(args) == 2 and args[0] == "forget")):
            raise UsageError("scrapy frontier status [--failed N], or scrapy frontier forget WORKER")
        try:
            config = ProjectConfig.from_settings(self.settings)
        except StartupError as error:
            print(f"scrapy frontier: {error}")
            self.exitcode = int(error.exit_status)
            return
        if config.frontier is None:
            print(
                "scrapy frontier: no frontier configured: set IMAGESCRAPER_FRONTIER=redis://:PASSWORD@HOST:PORT/DB "
                "(environment or -s)"
            )
            self.exitcode = int(ExitStatus.BAD_INPUT)
            return
        try:
            if args[0] == "forget":
                forgotten = asyncio.run(_forget(config.frontier, config.frontier_name, args[1]))
                print(f"forgot {forgotten} image(s) stored by {args[1]}: the next run of any server queues them again")
                return
            counts, failures = asyncio.run(_read(config.frontier, config.frontier_name, max(opts.failed, 0)))
        except ValueError as exc:
            print(f"scrapy frontier: {exc}")
            self.exitcode = int(ExitStatus.FAILURES)
            return
        except Exception as exc:  # redis-py's errors name the host and port, never the password
            print(f"scrapy frontier: frontier {config.frontier} cannot be read: {exc}")
            self.exitcode = int(ExitStatus.BAD_INPUT)
            return
        print("\n".join(status_lines(config.frontier, config.frontier_name, counts, failures)))


def _client(address: FrontierAddress):
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return redis.asyncio.Redis(
        **address.client_options(), socket_connect_timeout=5, socket_timeout=10, retry=Retry(NoBackoff(), 0)
    )


async def _forget(address: FrontierAddress, name: str, worker: str) -> int:
    client = _client(address)
    try:
        return await Frontier(client, name=name, worker="operator", lease=1).forget(worker)
    finally:
        await client.aclose()


async def _read(address: FrontierAddress, name: str, failed: int) -> tuple[FleetCounts, list[tuple[str, str]]]:
    client = _client(address)
    try:
        frontier = Frontier(client, name=name, worker="status", lease=1)
        return await frontier.counts(), (await frontier.failures(failed) if failed else [])
    finally:
        await client.aclose()


def status_lines(
    address: FrontierAddress, name: str, counts: FleetCounts, failures: list[tuple[str, str]] = ()
) -> list[str]:
    lines = [
        f"frontier {address}, list {name!r}",
        f"  queued:      {counts.queued}",
        f"  in progress: {counts.in_progress}",
        f"  done:        {counts.done}",
        f"  failed:      {counts.failed}",
        f"  workers:     {sum(w.alive for w in counts.workers)} running, {len(counts.workers)} known",
    ]
    width = max((len(w.name) for w in counts.workers), default=0)
    for worker in counts.workers:
        state = "running" if worker.alive else "idle   "
        lines.append(
            f"    {worker.name:<{width}}  {state}  in progress {worker.holding}, done {worker.stored}, "
            f"failed {worker.failed}"
        )
    if failures:
        lines.append(f"  latest failures (of {counts.failed}; they are retried by the next run):")
        lines += [f"    {url}: {reason}" for url, reason in failures]
    return lines
