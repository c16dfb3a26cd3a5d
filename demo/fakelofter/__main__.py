"""`python -m demo.fakelofter`: the fake LOFTER on 127.0.0.1, to try `scrapy crawl lofter` by hand.

It prints the exact command, with the settings that point the spider at it (the blog and API
addresses, the host names it answers for, and the loopback pairs the address guard must allow),
then serves until Ctrl-C. The port is fixed (18081, as in ``./dev demo``) so the printed command
keeps working from one start to the next; ``--port 0`` takes any free one.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading

from demo.fakelofter import SITE, THEMES, FakeLofter
from demo.run import LOFTER_DEMO_PORT


def crawl_command(blog: FakeLofter, domain: str = "ceshi") -> str:
    """The command a person pastes into another terminal, from the project folder."""
    words = ["scrapy", "crawl", "lofter", "-a", f"domain={domain}"]
    for name, value in blog.settings().items():
        words += ["-s", f"{name}={value}"]
    return shlex.join(words)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.fakelofter", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=LOFTER_DEMO_PORT, help="port on 127.0.0.1 (%(default)s; 0: any)")
    parser.add_argument("--theme", choices=THEMES, default=THEMES[0], help="the blogs' theme (%(default)s)")
    options = parser.parse_args(argv)
    try:
        blog = FakeLofter(options.theme, port=options.port)
    except OSError as exc:
        print(f"cannot listen on 127.0.0.1:{options.port} ({exc.strerror}): pass another --port", file=sys.stderr)
        return 2
    # Ctrl-C and a plain kill both stop it cleanly, also when it was started with SIGINT ignored
    # (a shell's background job, a CI runner), which Python would otherwise keep ignoring.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.default_int_handler)
    with blog:
        blogs = ", ".join(name for name in SITE["blogs"] if name != "locked")
        print(f"Fake LOFTER on 127.0.0.1:{blog.port} (theme {options.theme}; blogs {blogs}).", flush=True)
        print("In another terminal, in the project folder, run:\n", flush=True)
        print(f"  {crawl_command(blog)}\n", flush=True)
        print(
            "Change -a domain=ceshi for another blog (many has 1,700 posts), or use -a tag=风景 or "
            "-a collection=777. Ctrl-C stops the fake LOFTER.",
            flush=True,
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("Fake LOFTER stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
