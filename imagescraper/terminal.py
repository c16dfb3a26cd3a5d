"""What a person sees on a terminal: log lines above, one live progress line below, never mixed.

:class:`StatusLine` owns the bottom line of the terminal. Every log line written to the same
terminal goes through :class:`StatusAwareStream`, which erases the progress line first, writes
the log line from the start of a clean line, and draws the progress line again under it.

At the default log level, on a terminal, a run shows only what a person needs: which spider
runs on which input and store, the progress line, warnings and errors, and the summary.
Scrapy's start-up report (versions, overridden settings, enabled components) and its stats
dump are left out; they are all there with ``-s LOG_LEVEL=DEBUG`` (or any ``-s LOG_LEVEL``,
``-L`` or ``LOG_FILE``), and whenever stderr is not a terminal (cron, systemd, scrapyd logs).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import TextIO

from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings

ERASE_LINE = "\r\x1b[K"
_status_line: StatusLine | None = None


class StatusLine:
    """The one line at the bottom of a terminal that shows the run's progress."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.text = ""
        self.lock = threading.RLock()  # log lines may come from worker threads
        self._mid_line = False  # a write that did not end its line: nothing may be drawn now

    def show(self, text: str) -> None:
        with self.lock:
            self.text = text
            if not self._mid_line:
                self.stream.write(ERASE_LINE + self._fitted())
                self.stream.flush()

    def finish(self) -> None:
        """Leave the last progress line on the screen, and the bottom line to log lines again."""
        with self.lock:
            if self.text:  # whole: nothing is drawn over it again, so it may wrap
                self.stream.write(("\n" if self._mid_line else ERASE_LINE) + self.text + "\n")
                self._mid_line = False
                self.stream.flush()
            self.text = ""

    def write_above(self, data: str) -> None:
        with self.lock:
            if self.text and not self._mid_line:
                self.stream.write(ERASE_LINE)
            self.stream.write(data)
            self._mid_line = not data.endswith("\n")
            if self.text and not self._mid_line:
                self.stream.write(self._fitted())
            self.stream.flush()

    def _fitted(self) -> str:
        # A line longer than the terminal wraps, and erasing would then leave its first part.
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns = 0
        return self.text[: columns - 1] if columns > 10 else self.text  # 0: a terminal that does not say


class StatusAwareStream:
    """A terminal stream for log handlers that keeps log lines off the progress line."""

    def __init__(self, status: StatusLine):
        self.status = status

    def write(self, data: str) -> None:
        self.status.write_above(data)

    def flush(self) -> None:
        self.status.stream.flush()

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.status.stream.fileno()


def status_line() -> StatusLine | None:
    """The progress line on stderr, or None when stderr is not a terminal."""
    global _status_line  # noqa: PLW0603 - one terminal per process
    if _status_line is None and sys.stderr.isatty():
        _status_line = StatusLine(sys.stderr)
    return _status_line


def keep_log_lines_above(handler: logging.Handler | None, status: StatusLine) -> None:
    """Route *handler*'s output around the progress line if it writes to the same terminal."""
    if isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) is status.stream:
        handler.setStream(StatusAwareStream(status))


# -- The quiet start on a terminal ----------------------------------------------------------------


def wants_quiet_terminal(settings: BaseSettings) -> bool:
    """At the project's log level, with logs going to a terminal: show a person's view."""
    return (
        sys.stderr.isatty()
        and settings.getbool("LOG_ENABLED")
        and not settings.get("LOG_FILE")
        and settings.getpriority("LOG_LEVEL") < SETTINGS_PRIORITIES["cmdline"]
    )


class _PersonsView(logging.Filter):
    """Scrapy's and Twisted's informational lines are for operators; warnings are for everyone."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        if record.name == "scrapy.crawler" and str(record.msg).startswith("Received "):
            return True  # "Received SIGINT, shutting down gracefully. Send again to force": the answer to Ctrl-C
        return not record.name.startswith(("scrapy.", "twisted")) and record.name != "scrapy"


class _PersonsFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        return message if record.levelno < logging.WARNING else f"{record.levelname}: {message}"


def install_quiet_terminal_logging(settings: BaseSettings) -> None:
    """Log to the terminal through the progress line's stream, leaving Scrapy's chatter out.

    Call with ``LOG_INSTALL_ROOT_HANDLER`` off, before the crawler is created.
    """
    status = status_line()
    if status is None:
        return
    handler = logging.StreamHandler(StatusAwareStream(status))
    handler.setLevel(settings.get("LOG_LEVEL"))
    handler.setFormatter(_PersonsFormatter("%(message)s"))
    handler.addFilter(_PersonsView())
    logging.root.setLevel(logging.NOTSET)
    logging.root.addHandler(handler)
