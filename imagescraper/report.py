"""RunReport: live progress while the run goes, a summary and an exit status when it ends.

The run starts with one line saying what runs: the spider, its input and the store. On a
terminal a progress line is redrawn every ``IMAGESCRAPER_PROGRESS_INTERVAL`` seconds at the
bottom, with log lines written above it (``terminal.py``); without one (cron, scrapyd) a
progress log line is written every ``IMAGESCRAPER_PROGRESS_LOG_INTERVAL`` seconds. At the end
the summary is logged, written to ``STORE/.imagescraper/last-run.json``, and the exit status is
left in the stats for the crawl command (see ``startup_errors.ExitStatus``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from scrapy import signals
from scrapy.utils.log import get_scrapy_root_handler
from twisted.internet import task

from imagescraper import runstats
from imagescraper.config import config_for
from imagescraper.signals import image_failed
from imagescraper.startup_errors import ExitStatus
from imagescraper.store import ImageStore
from imagescraper.terminal import StatusLine, keep_log_lines_above, status_line

logger = logging.getLogger(__name__)

# Failed URLs kept for last-run.json; the log has every one of them.
MAX_LISTED_FAILURES = 1000


def _by_reason(stats: dict, prefix: str) -> dict[str, int]:
    return {key[len(prefix) :]: value for key, value in sorted(stats.items()) if key.startswith(prefix)}


@dataclass
class RunSummary:
    spider: str
    finish_reason: str
    stored: int
    already_present: int
    failed: int
    failed_by_reason: dict[str, int]
    rejected_lines: int
    rejected_by_reason: dict[str, int]
    retries: int
    skipped: dict[str, int]
    errors: int
    errors_by_reason: dict[str, int]
    queued: int
    input_complete: bool
    exit_status: int
    failures: list[dict] = field(default_factory=list)
    # Fleet mode: this server's and the fleet's counts in the shared frontier (fleet.py).
    fleet: dict | None = None
    # Why a crawl ended before its source did (a page limit), in the spider's words.
    stopped_early: str | None = None
    # A spider reading an input file (urlfile) has lines to reject; a crawling spider has none.
    reads_a_file: bool = False

    @classmethod
    def from_stats(cls, stats: dict, spider: str, finish_reason: str) -> RunSummary:
        stored = stats.get(runstats.STORED, 0)
        present = stats.get(runstats.ALREADY_PRESENT, 0)
        failed = stats.get(runstats.FAILED, 0)
        queued = stats.get(runstats.QUEUED, 0)
        # A spider that reads a file says when it reached the end; a crawling spider is done
        # when the crawl finished.
        complete = bool(stats.get(runstats.INPUT_COMPLETE, finish_reason == "finished"))
        errors = stats.get(runstats.ERRORS, 0)
        unsettled = finish_reason != "finished" or not complete or stored + present + failed < queued
        status = ExitStatus.FAILURES if failed or errors or unsettled else ExitStatus.OK
        return cls(
            spider=spider,
            finish_reason=finish_reason,
            stored=stored,
            already_present=present,
            failed=failed,
            failed_by_reason=_by_reason(stats, runstats.FAILED_BY),
            rejected_lines=stats.get(runstats.REJECTED_LINES, 0),
            rejected_by_reason=_by_reason(stats, runstats.REJECTED_BY),
            retries=stats.get(runstats.RETRIES, 0),
            skipped=_by_reason(stats, runstats.SKIPPED_BY),
            errors=errors,
            errors_by_reason=_by_reason(stats, runstats.ERRORS_BY),
            queued=queued,
            input_complete=complete,
            exit_status=int(status),
            fleet=stats.get(runstats.FLEET),
            stopped_early=stats.get(runstats.STOPPED_EARLY),
            reads_a_file=runstats.INPUT_COMPLETE in stats,
        )

    @property
    def not_attempted(self) -> int:
        return max(self.queued - self.stored - self.already_present - self.failed, 0)

    def lines(self) -> list[str]:
        out = [f"imagescraper summary ({self.spider}, {self.finish_reason}):"]
        out.append(f"  stored:          {self.stored}")
        out.append(f"  already present: {self.already_present}")
        out.append(f"  failed:          {self.failed}")
        out += [f"    {reason}: {count}" for reason, count in self.failed_by_reason.items()]
        if self.reads_a_file or self.rejected_lines:
            out.append(f"  rejected lines:  {self.rejected_lines}")
            out += [f"    {reason}: {count}" for reason, count in self.rejected_by_reason.items()]
        if self.retries:
            out.append(f"  retries:         {self.retries}")
        if self.errors:
            out.append(f"  page errors:     {self.errors}")
            out += [f"    {reason}: {count}" for reason, count in self.errors_by_reason.items()]
        for what, count in self.skipped.items():
            out.append(f"  skipped {what}: {count}")
        if self.stopped_early:
            out.append(f"  {self.stopped_early}")
        if self.finish_reason != "finished" or not self.input_complete or self.not_attempted:
            missing = [f"{self.not_attempted} queued image(s) not settled"] if self.not_attempted else []
            if not self.input_complete:
                missing.append("the input was not read to its end")
            out.append(
                f"  NOT FINISHED ({self.finish_reason}): " + (", and ".join(missing) or "stopped before the end")
            )
        out += fleet_lines(self.fleet)
        out.append(f"  exit status:     {self.exit_status} ({self.meaning()})")
        return out

    def meaning(self) -> str:
        """What the exit status says, in the words of what happened."""
        if self.exit_status == 0:
            return "all images stored or already present"
        unsettled = self.finish_reason != "finished" or not self.input_complete or self.not_attempted
        causes = []
        if self.failed:
            causes.append("some images are missing")
        if self.errors:
            # Page errors hide images the run never saw; with nothing read at all, say so plainly.
            nothing_read = not (self.queued or self.stored or self.already_present or self.skipped)
            causes.append("nothing could be read" if nothing_read else "page errors: some posts or pages were not read")
        if unsettled:
            causes.append("the run stopped before the end")
        return "; ".join(causes) or "some images are missing"


def _typed(value) -> str:
    # A flag parsed to a bool is echoed the way it is typed on the command line.
    return str(value).lower() if isinstance(value, bool) else str(value)


def run_line(spider) -> str:
    """The spider and what it reads: its own words when it has them (``describe_run``), else
    the arguments that have a value."""
    describe = getattr(spider, "describe_run", None)
    if describe is not None:
        return f"{spider.name} {describe()}"
    given = [
        f"{name}={_typed(value)}" for name in getattr(spider, "arguments", ()) if (value := getattr(spider, name, None))
    ]
    return f"{spider.name} with {', '.join(given)}" if given else spider.name


def fleet_lines(fleet: dict | None) -> list[str]:
    if not fleet:
        return []
    return [
        f"  fleet:           frontier {fleet['frontier']}, list {fleet['list']!r}",
        f"    this server ({fleet['worker']}): in progress {fleet['worker_holding']}, done {fleet['worker_stored']}, "
        f"failed {fleet['worker_failed']}",
        f"    whole fleet: queued {fleet['queued']}, in progress {fleet['in_progress']}, done {fleet['done']}, "
        f"failed {fleet['failed']}, workers alive {fleet['workers_alive']}",
    ]


class RunReport:
    def __init__(self, crawler, *, interval: float, log_interval: float, terminal: StatusLine | None):
        self.crawler = crawler
        self.stats = crawler.stats
        self.terminal = terminal
        self.interval = interval if terminal is not None else log_interval
        self.failures: list[dict] = []
        self._loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler):
        config = config_for(crawler)
        terminal = status_line()
        report = cls(
            crawler, interval=config.progress_interval, log_interval=config.progress_log_interval, terminal=terminal
        )
        crawler.signals.connect(report.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(report.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(report.image_failed, signal=image_failed)
        return report

    def spider_opened(self, spider):
        if self.terminal is not None:
            # Scrapy installs its final log handler after the extensions are made.
            keep_log_lines_above(get_scrapy_root_handler(), self.terminal)
        logger.info("Running %s; images go to %s", run_line(spider), self.stats.get_value(runstats.STORE) or "no store")
        if self.interval > 0:
            self._loop = task.LoopingCall(self.show_progress)
            self._loop.start(self.interval, now=False)

    def image_failed(self, url, reason, detail):
        if len(self.failures) < MAX_LISTED_FAILURES:
            self.failures.append({"url": url, "reason": reason, "detail": detail})

    def progress_line(self, *, over: bool = False) -> str:
        """The counts so far; ``remaining`` is "?" only while the input is still being read."""
        get = self.stats.get_value
        done = sum(get(k, 0) for k in (runstats.STORED, runstats.ALREADY_PRESENT, runstats.FAILED))
        queued = get(runstats.QUEUED, 0)
        remaining = str(max(queued - done, 0)) if over or get(runstats.INPUT_COMPLETE) else "?"
        return (
            f"stored {get(runstats.STORED, 0)} | already present {get(runstats.ALREADY_PRESENT, 0)}"
            f" | failed {get(runstats.FAILED, 0)} | remaining {remaining}"
        )

    def show_progress(self):
        if self.terminal is not None:
            self.terminal.show(self.progress_line())
        else:
            logger.info("Progress: %s", self.progress_line())

    def spider_closed(self, spider, reason):
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self.terminal is not None:
            self.terminal.show(self.progress_line(over=True))
            self.terminal.finish()
        summary = RunSummary.from_stats(self.stats.get_stats(), spider.name, reason)
        summary.failures = self.failures
        self.stats.set_value(runstats.EXIT_STATUS, summary.exit_status)
        logger.info("\n".join(summary.lines()))
        store = self.stats.get_value(runstats.STORE)
        if store:  # the pipeline opened (and still locks) the store
            record = {"finished_at": datetime.now(UTC).isoformat(timespec="seconds"), **asdict(summary)}
            ImageStore(Path(store)).write_meta("last-run.json", json.dumps(record, ensure_ascii=False, indent=1))
