"""Scrapy commands of this project (COMMANDS_MODULE); `crawl` replaces Scrapy's own."""

from __future__ import annotations

from scrapy.exceptions import UsageError


def refuse_unknown(command: str, args: list[str], what_instead: str) -> None:
    """Scrapy passes options it does not know on as arguments: name the first one for what it is."""
    for arg in args:
        if arg.startswith("-"):
            raise UsageError(f"scrapy {command} has no option {arg.split('=', 1)[0]!r}: see scrapy {command} -h")
    if args:
        raise UsageError(f"scrapy {command} takes no arguments ({args[0]!r} given): {what_instead}")
