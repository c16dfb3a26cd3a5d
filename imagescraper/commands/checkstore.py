"""`scrapy checkstore [--repair]`: check every stored image against the index, find strays.

Same conventions as ``crawl``: the store is ``-s IMAGES_STORE=DIR`` (or the project's
setting), problems found before the check starts are one line with an exit status (2 bad
input, 3 store busy), progress is redrawn on a terminal or logged without one, and the end is
a summary, also written to ``STORE/.imagescraper/last-check.json``. The exit status is 0 when
the store is whole, 1 when problems were found (repaired or not) or the check was interrupted.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime

from scrapy.commands import ScrapyCommand
from scrapy.utils.log import configure_logging

from imagescraper.commands import refuse_unknown
from imagescraper.config import ProjectConfig
from imagescraper.startup_errors import InputError, StartupError
from imagescraper.store import ImageStore
from imagescraper.storecheck import StoreCheck
from imagescraper.terminal import install_quiet_terminal_logging, wants_quiet_terminal

logger = logging.getLogger("imagescraper")


def store_root(uri: str) -> str:
    """The local folder IMAGES_STORE names (a path, or a file:// URI as Scrapy accepts)."""
    if "://" in uri and not uri.startswith("file://"):
        raise InputError(f"IMAGES_STORE={uri!r} is not a local folder: pass a path with -s IMAGES_STORE=DIR")
    if not uri:
        raise InputError("IMAGES_STORE is empty: pass the store with -s IMAGES_STORE=DIR")
    return uri.removeprefix("file://")


class _Progress:
    """The progress line: redrawn on a terminal, logged now and then without one."""

    def __init__(self, terminal, interval: float, log_interval: float):
        self.terminal = terminal
        self.interval = interval if terminal is not None else log_interval
        self._next = time.monotonic() + self.interval

    def __call__(self, text: str, final: bool = False) -> None:
        now = time.monotonic()
        if not final and (self.interval <= 0 or now < self._next):
            return
        self._next = now + self.interval
        if self.terminal is not None:
            self.terminal.write(f"\r\x1b[K{text}" + ("\n" if final else ""))
            self.terminal.flush()
        elif not final:
            logger.info("Progress: %s", text)


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False

    def syntax(self) -> str:
        return "[--repair] [-s IMAGES_STORE=DIR]"

    def short_desc(self) -> str:
        return "Check every stored image against the store's index (size, SHA-256) and find unlisted files"

    def add_options(self, parser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "--repair",
            action="store_true",
            help="drop bad entries (the next crawl fetches them again) and move bad or unlisted files "
            "under .imagescraper/quarantine/; nothing is deleted",
        )

    def process_options(self, args, opts) -> None:
        super().process_options(args, opts)
        # On a terminal the summary is shown as it is, without the log's timestamp (as for crawls).
        self._quiet_terminal = wants_quiet_terminal(self.settings)
        if self._quiet_terminal:
            self.settings.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")

    def run(self, args, opts) -> None:
        refuse_unknown("checkstore", args, "name the store with -s IMAGES_STORE=DIR")
        configure_logging(self.settings)
        if getattr(self, "_quiet_terminal", False):
            install_quiet_terminal_logging(self.settings)
        try:
            config = ProjectConfig.from_settings(self.settings)
            store = ImageStore(store_root(str(self.settings.get("IMAGES_STORE") or "")), durable=config.durable)
            store.open(create=False)
        except StartupError as error:
            logger.error("%s", error)
            self.exitcode = int(error.exit_status)
            return
        terminal = sys.stderr if sys.stderr.isatty() else None
        progress = _Progress(terminal, config.progress_interval, config.progress_log_interval)
        try:
            summary = StoreCheck(store, repair=opts.repair, progress=progress).run()
            record = {"finished_at": datetime.now(UTC).isoformat(timespec="seconds"), **asdict(summary)}
            record["exit_status"] = summary.exit_status
            store.write_meta("last-check.json", json.dumps(record, ensure_ascii=False, indent=1))
        finally:
            store.close()
        logger.info("\n".join(summary.lines()))
        self.exitcode = summary.exit_status
