"""`scrapy crawl`, with one-line startup errors and the documented exit statuses.

Scrapy's own command exits 1 only when the crawler cannot start, and prints a traceback for
a bad spider argument. This one turns a :class:`~imagescraper.startup_errors.StartupError` (a
missing URL file, a locked store, a bad setting) into its one-line message and exit status,
and after a run exits with the status the run report decided (0 all stored, 1 failures).
"""

from __future__ import annotations

import asyncio
import gc
import logging

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from imagescraper import runstats
from imagescraper.startup_errors import ExitStatus, StartupError
from imagescraper.terminal import install_quiet_terminal_logging, wants_quiet_terminal

logger = logging.getLogger("imagescraper")


class Command(ScrapyCrawlCommand):
    def process_options(self, args, opts):
        super().process_options(args, opts)
        # Decided before Scrapy sets up logging (and logs its start-up report) for this process.
        self._quiet_terminal = wants_quiet_terminal(self.settings)
        if self._quiet_terminal:
            self.settings.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")

    def run(self, args, opts):
        if len(args) != 1:
            raise UsageError("give exactly one spider name, e.g. scrapy crawl urlfile -a path=urls.txt")
        if getattr(self, "_quiet_terminal", False):
            install_quiet_terminal_logging(self.settings)
        try:
            crawler = self.crawler_process.create_crawler(args[0])
        except KeyError:
            known = ", ".join(sorted(self.crawler_process.spider_loader.list()))
            logger.error("there is no spider %r in this project: use one of %s", args[0], known)
            self.exitcode = int(ExitStatus.BAD_INPUT)
            return
        startup_errors: list[StartupError] = []

        def keep_startup_error(exc: BaseException | None) -> bool:
            if isinstance(exc, StartupError):
                startup_errors.append(exc)
                return True
            if exc is not None:  # a bug, not bad input: the traceback is what a report needs
                logger.error("The run could not start", exc_info=(type(exc), exc, exc.__traceback__))
            return False

        running = self.crawler_process.crawl(crawler, **opts.spargs)
        if isinstance(running, asyncio.Future):
            running.add_done_callback(lambda task: task.cancelled() or keep_startup_error(task.exception()))
        else:
            running.addErrback(lambda failure: keep_startup_error(failure.value) and None)
        try:
            self.crawler_process.start()
        except StartupError as error:  # raised while the reactor is set up (the DNS resolver reads settings)
            startup_errors.append(error)

        if startup_errors:
            error = startup_errors[0]
            logger.error("%s", error)
            self.exitcode = int(error.exit_status)
        elif self.crawler_process.bootstrap_failed:
            self.exitcode = int(ExitStatus.FAILURES)
        else:
            status = crawler.stats.get_value(runstats.EXIT_STATUS) if crawler.stats else None
            self.exitcode = int(ExitStatus.FAILURES if status is None else status)
        # The run is over and everything is written, flushed and closed. The interpreter's last
        # garbage collection would still walk every object Scrapy, Twisted and Pillow made (about
        # 0.1 s, a sixth of a short run) to free memory the OS takes back anyway.
        gc.freeze()
