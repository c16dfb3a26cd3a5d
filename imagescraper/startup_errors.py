"""Errors that stop a run before it starts, and the exit statuses the crawl command returns.

Each error's message is the one line the user sees: it names the input and what to do.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Exit statuses of ``scrapy crawl`` in this project (documented in the README)."""

    OK = 0  # every valid URL stored or already present
    FAILURES = 1  # at least one image failed, or the run stopped before every URL was tried
    BAD_INPUT = 2  # a spider argument or the input file is unusable; nothing was fetched
    STORE_BUSY = 3  # another run holds the image store's lock; nothing was fetched


class StartupError(Exception):
    """A problem found before any download: reported as one line, no traceback."""

    exit_status = ExitStatus.BAD_INPUT


class InputError(StartupError):
    """A spider argument or input file the run cannot use."""


class StoreBusyError(StartupError):
    exit_status = ExitStatus.STORE_BUSY


class IncompatibleScrapyError(StartupError):
    """The installed Scrapy lacks a private name that ``scrapy_compat`` relies on."""

    exit_status = ExitStatus.FAILURES
