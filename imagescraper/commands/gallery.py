"""`scrapy gallery`: build (or update) the static gallery of the image store, or serve it.

Reads ``IMAGES_STORE``, writes ``IMAGESCRAPER_GALLERY_DIR``. Incremental by default;
``--full`` renders every page again. ``--serve`` then serves the gallery on 127.0.0.1 until
Ctrl-C. Exit statuses as for crawls: 0 built, 2 bad settings, 3 another build is running.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from scrapy.commands import ScrapyCommand
from scrapy.utils.log import configure_logging

from imagescraper.commands import refuse_unknown
from imagescraper.config import GalleryConfig
from imagescraper.startup_errors import ExitStatus, InputError, StartupError
from imagescraper.terminal import install_quiet_terminal_logging, wants_quiet_terminal

if TYPE_CHECKING:
    from imagescraper.gallery.build import GalleryBuilder

# The gallery's modules (Jinja2, Pillow's WebP) are imported when the command runs: Scrapy
# imports every command module at the start of every `scrapy crawl`.

logger = logging.getLogger("imagescraper")


def _inside(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def builder_for(config: GalleryConfig) -> GalleryBuilder:
    from imagescraper.gallery.build import GalleryBuilder
    from imagescraper.gallery.render import SiteOptions, relative_files_url

    store, gallery = Path(config.store), Path(config.gallery_dir)
    if not store.exists():
        raise InputError(
            f"IMAGES_STORE={config.store!r} does not exist: "
            "pass the folder a crawl stored into with -s IMAGES_STORE=DIR"
        )
    if not (store / ".imagescraper").is_dir():
        raise InputError(
            f"IMAGES_STORE={config.store!r} is not an image store (no .imagescraper/ inside): "
            "run a crawl first or pass the store with -s IMAGES_STORE=DIR"
        )
    if _inside(gallery.resolve(), store.resolve()) or _inside(store.resolve(), gallery.resolve()):
        raise InputError(
            f"IMAGESCRAPER_GALLERY_DIR={config.gallery_dir!r} and IMAGES_STORE={config.store!r} overlap: "
            "put the gallery in a folder of its own, outside the store"
        )
    try:
        gallery.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"IMAGESCRAPER_GALLERY_DIR={config.gallery_dir!r} cannot be created: {exc.strerror}") from None
    options = SiteOptions(
        title=config.title or store.resolve().name,
        page_size=config.page_size,
        files_url=config.files_url or relative_files_url(config.store, config.gallery_dir),
    )
    return GalleryBuilder(store, gallery, options, config.workers or os.cpu_count() or 1)


class Command(ScrapyCommand):
    requires_project = True
    # No crawler: Scrapy's start-up report (versions, settings) is not this command's business.
    requires_crawler_process = False
    default_settings = {"LOG_LEVEL": "INFO"}

    def syntax(self):
        return "[--full] [--serve] [--port N] [--site-index]"

    def short_desc(self):
        return "Build the static gallery of IMAGES_STORE in IMAGESCRAPER_GALLERY_DIR"

    def add_options(self, parser):
        super().add_options(parser)
        parser.add_argument("--full", action="store_true", help="render every page again, not only what changed")
        parser.add_argument("--serve", action="store_true", help="then serve it on 127.0.0.1 until Ctrl-C")
        parser.add_argument("--port", type=int, default=8000, help="port for --serve (default 8000; 0: any free)")
        parser.add_argument(
            "--site-index",
            action="store_true",
            help="also write an index.html in the folder above the gallery, listing every gallery there "
            "(a server with one gallery per job)",
        )

    def process_options(self, args, opts):
        super().process_options(args, opts)
        # On a terminal a person sees warnings, errors and the one result line, as for crawls.
        self._quiet_terminal = wants_quiet_terminal(self.settings)
        if self._quiet_terminal:
            self.settings.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")

    def run(self, args, opts):
        refuse_unknown("gallery", args, "the store and gallery folders are settings (-s IMAGES_STORE=DIR)")
        quiet = getattr(self, "_quiet_terminal", False)
        configure_logging(self.settings)
        if quiet:
            install_quiet_terminal_logging(self.settings)
        try:
            config = GalleryConfig.from_settings(self.settings)
            builder = builder_for(config)
            report = builder.build(full=opts.full)
        except StartupError as error:
            logger.error("%s", error)
            self.exitcode = int(error.exit_status)
            return
        if not quiet:  # a log file or a journal keeps it too; on a terminal the line below says it
            logger.info("%s", report.summary())
        index = Path(config.gallery_dir).resolve() / "index.html"
        print(f"gallery: {index} ({report.summary()})", flush=True)
        if opts.site_index:
            from imagescraper.gallery.render import Renderer
            from imagescraper.gallery.site_index import write_site_index

            parent = Path(config.gallery_dir).resolve().parent
            # The page above the galleries is named after the machine: each server shows its own.
            renderer = Renderer(replace(builder.renderer.options, title=socket.gethostname()))
            print(f"gallery: {write_site_index(parent, renderer)} lists the galleries in {parent}", flush=True)
        self.exitcode = int(ExitStatus.OK)
        if opts.serve:
            self._serve(config, opts.port)

    def _serve(self, config: GalleryConfig, port: int) -> None:
        from imagescraper.gallery.serve import GalleryServer

        try:
            server = GalleryServer(Path(config.gallery_dir), Path(config.store), port=port)
        except OSError as exc:
            logger.error("cannot listen on 127.0.0.1:%s (%s): pick another with --port N", port, exc.strerror)
            self.exitcode = int(ExitStatus.BAD_INPUT)
            return
        print(f"gallery: open {server.url} (127.0.0.1 only; Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("gallery: stopped", file=sys.stderr)
