"""The stats keys through which components tell each other (and the run report) how a run went.

The pipeline counts images, the spiders count what they queued, rejected and skipped, and the
report reads them all at the end; Scrapy's stats collector carries them, and these names are
the only spelling of them.
"""

from __future__ import annotations

PREFIX = "imagescraper/"

STORE = PREFIX + "store"  # the image store's root, set by the pipeline once it holds the lock
QUEUED = PREFIX + "queued"  # image URLs handed to the pipeline
STORED = PREFIX + "stored"
ALREADY_PRESENT = PREFIX + "already_present"
FAILED = PREFIX + "failed"
REJECTED_LINES = PREFIX + "rejected_lines"  # lines of an input file that are not fetchable URLs
ERRORS = PREFIX + "errors"  # pages or API answers that could not be used
INPUT_COMPLETE = PREFIX + "input_complete"  # False until a spider has read its whole input
EXIT_STATUS = PREFIX + "exit_status"  # decided by the run report, returned by the crawl command
FLEET = PREFIX + "fleet"  # fleet mode: this server's and the fleet's counts in the frontier (a dict)
FLEET_ADDED = PREFIX + "fleet_added"  # URLs of this run's file that the frontier had never seen
RETRIES = "retry/count"  # Scrapy's own: every retry made (get_retry_request counts them)
STOPPED_EARLY = PREFIX + "stopped_early"  # why a crawl ended before its source did (a page limit)

# Counters broken down by a short reason key ("http-404", "duplicate-urls"...).
FAILED_BY = FAILED + "/"
REJECTED_BY = REJECTED_LINES + "/"
ERRORS_BY = ERRORS + "/"
SKIPPED_BY = PREFIX + "skipped/"


def count(stats, key: str, reason: str | None = None, amount: int = 1) -> None:
    """Add *amount* to *key*, and to its per-reason counter when *reason* is given."""
    stats.inc_value(key, amount)
    if reason is not None:
        stats.inc_value(f"{key}/{reason}", amount)


def skipped(stats, what: str, amount: int = 1) -> None:
    stats.inc_value(SKIPPED_BY + what, amount)
