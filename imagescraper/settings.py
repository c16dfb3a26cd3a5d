"""Settings of the imagescraper project: a catalogue, grouped, each group with its reason.

Every value can be changed for one run with ``scrapy crawl SPIDER -s NAME=VALUE``. Settings
that belong to this project are named ``IMAGESCRAPER_*`` and are read in ``config.py`` only.
"""

import os

from scrapy.settings import default_settings as scrapy_defaults  # lower case: not a setting

from imagescraper.config import CONTROL_EXTENSIONS as control_extensions

# --- Project wiring -------------------------------------------------------------------------
BOT_NAME = "imagescraper"
SPIDER_MODULES = ["imagescraper.spiders"]
NEWSPIDER_MODULE = "imagescraper.spiders"
# Our own `crawl` command: same options as Scrapy's, plus one-line errors and the documented
# exit statuses (0 all stored, 1 failures, 2 bad input, 3 store busy); and `checkstore`, which
# verifies a store against its index with the same conventions.
COMMANDS_MODULE = "imagescraper.commands"
USER_AGENT = "imagescraper/0.1 (image collection downloader)"

# --- Where images go --------------------------------------------------------------------------
# The image store: one folder per source title, a manifest and a lock in its `.imagescraper/`.
IMAGES_STORE = "images"
# The pipeline keeps the original bytes, validates them with Pillow and writes atomically.
# In fleet mode (IMAGESCRAPER_FRONTIER) the second one acknowledges each settled URL in Redis;
# without a frontier it switches itself off.
ITEM_PIPELINES = {
    "imagescraper.pipelines.OriginalImagesPipeline": 300,
    "imagescraper.fleet_pipeline.FleetPipeline": 800,
}
# Follow 301/302/303/307/308 for images (each hop is checked by the address guard), but not
# forever.
MEDIA_ALLOW_REDIRECTS = True
REDIRECT_MAX_TIMES = 5
# Smallest accepted image, in pixels; 0 accepts any size.
IMAGES_MIN_WIDTH = 0
IMAGES_MIN_HEIGHT = 0
# Sync every image (and its folder) to disk before it is recorded, so that after a power cut no
# file under a final name is short or zeros and no manifest line points at lost data. False is
# only for throwaway stores (tests, benchmarks): a power cut may then leave cut files behind.
IMAGESCRAPER_DURABLE = True

# --- Limits on what a server may send ---------------------------------------------------------
# Largest body accepted, images included; a larger one is cancelled as it arrives ("too-large").
DOWNLOAD_MAXSIZE = 32 * 1024 * 1024
DOWNLOAD_WARNSIZE = 16 * 1024 * 1024
# Largest image, in bytes once decoded (Pillow keeps 4 bytes a pixel for colour, 1 for grey):
# 400 MB holds a 10,000 x 10,000 photo or a 1080 x 90,000 LOFTER strip. A limit on the
# memory a decode takes, not on one dimension, so long strips pass and decompression bombs do
# not ("decompression-bomb", refused before decoding); an animation may decode at most 8 times
# this over all its frames.
IMAGESCRAPER_MAX_DECODED_BYTES = 400_000_000
# Largest video (lofter -a videos=true), in bytes; a bigger one is cancelled as it arrives.
IMAGESCRAPER_MAX_VIDEO_BYTES = 200 * 1024 * 1024
# Longest line accepted in a URL file, in bytes; longer lines are rejected and skipped.
IMAGESCRAPER_MAX_URL_LENGTH = 2048

# --- Concurrency --------------------------------------------------------------------------------
# 16 downloads at once overall, at most 8 to one host.
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 8
DOWNLOAD_DELAY = 0
# Scrapy 2.19's downloader starts every queued request of a slot at once when one finishes
# (see scrapy_compat.py); this one keeps each slot at its limit.
DOWNLOADER = "imagescraper.scrapy_compat.SlotLimitedDownloader"
# How many items the spider hands to the pipeline before waiting for some to finish: keeps
# memory flat however long the URL list is, and keeps the downloader's queue short, so a run
# that is stopped (Ctrl-C, CLOSESPIDER_TIMEOUT) only finishes what is already downloading.
# 0: twice CONCURRENT_REQUESTS, so that while some images are being checked and written the
# next ones are already downloading.
IMAGESCRAPER_ITEMS_IN_FLIGHT = 0
# ...and of those, how many may be for one host (the URL file is read on past a host's lines
# when it has this many): a host that never answers cannot hold every place while the
# downloader lets it have only CONCURRENT_REQUESTS_PER_DOMAIN requests at once. 0: twice
# CONCURRENT_REQUESTS_PER_DOMAIN.
IMAGESCRAPER_HOST_ITEMS_IN_FLIGHT = 0

# --- Timeouts and retries -----------------------------------------------------------------------
# A server that never answers, or drips one byte a second, costs at most 15 s per attempt;
# with 2 retries a URL is settled within about a minute, so a hostile list cannot hold a
# five-minute schedule hostage.
DOWNLOAD_TIMEOUT = 15
DNS_TIMEOUT = 10
RETRY_ENABLED = True
RETRY_TIMES = 2
# 404 and 410 are final and not retried; these are worth another try.
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
# An image that fails after its retries is logged once, as a WARNING with its URL and reason,
# by the pipeline; Scrapy's own "Gave up retrying" line is kept for full logs only.
RETRY_GIVE_UP_LOG_LEVEL = "INFO"
# Before retrying a 429 or 503 wait base * 2**attempt seconds (capped), or what the server's
# Retry-After asks, capped at IMAGESCRAPER_RETRY_AFTER_MAX.
IMAGESCRAPER_RETRY_BACKOFF_BASE = 1.0
IMAGESCRAPER_RETRY_BACKOFF_MAX = 10.0
IMAGESCRAPER_RETRY_AFTER_MAX = 30.0
DOWNLOADER_MIDDLEWARES = {
    "imagescraper.guard.AddressGuardMiddleware": 50,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "imagescraper.retry.BackoffRetryMiddleware": 550,
    # An image whose original may live at two addresses (LOFTER legacy hosts) tries the other on 403/404.
    "imagescraper.lofter.alternates.AlternateAddressMiddleware": 580,
    # The LOFTER login header goes to LOFTER's page and API hosts only, redirects included.
    "imagescraper.lofter.login.LoginHeaderScopeMiddleware": 590,
    # Proxies from the environment only with IMAGESCRAPER_PROXY_FROM_ENV (see below).
    "scrapy.downloadermiddlewares.httpproxy.HttpProxyMiddleware": None,
    "imagescraper.guard.EnvironmentProxyMiddleware": 750,
}

# --- Network safety -----------------------------------------------------------------------------
# Only http and https are ever fetched: URLs come from untrusted files and pages.
DOWNLOAD_HANDLERS = {"file": None, "data": None, "s3": None, "ftp": None}
# No request reaches loopback, private or link-local addresses (checked on the resolved
# address, every hop) except exactly these host:port pairs, e.g. "127.0.0.1:8000,localhost:9000".
IMAGESCRAPER_ALLOW_HOSTS = []
TWISTED_DNS_RESOLVER = "imagescraper.guard.GuardedResolver"
# http_proxy/https_proxy/no_proxy from the environment are ignored unless this is true: a proxy
# resolves names itself, where the guard's resolver cannot check the answer. When true, each
# target is checked (resolved address, every hop) before the request goes to the proxy.
IMAGESCRAPER_PROXY_FROM_ENV = False
# The operator lists exact image URLs; robots.txt would only add a request per host.
ROBOTSTXT_OBEY = False

# --- Control endpoints: off ---------------------------------------------------------------------
# Scrapy's telnet console prints its password into the log, which scrapyd serves, and the
# remote-control endpoint (new in 2.19) runs posted Python code.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
# Their extensions are taken out of Scrapy's base list, so -s ..._ENABLED=True cannot switch them
# back on, and their modules are never imported: naming them with None in EXTENSIONS would still
# import them (Scrapy loads every key to compare it), and they bring aiohttp and twisted.conch,
# 0.09 s of every process start.
EXTENSIONS_BASE = {
    path: order for path, order in scrapy_defaults.EXTENSIONS_BASE.items() if path not in control_extensions
}
# The run report, the one extension we add, is what the user sees at the end of a run.
EXTENSIONS = {"imagescraper.report.RunReport": 500}

# --- What the user sees -------------------------------------------------------------------------
LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"
# Live progress line on a terminal, every this many seconds...
IMAGESCRAPER_PROGRESS_INTERVAL = 1.0
# ...and without a terminal (cron, scrapyd) a progress log line this often; 0 turns it off.
IMAGESCRAPER_PROGRESS_LOG_INTERVAL = 30.0
# Scrapy's own "Crawled N pages" line says little here: the progress line replaces it.
LOGSTATS_INTERVAL = 0

# --- LOFTER (the lofter spider) -----------------------------------------------------------------
# Where blogs and the app API live; tests and mirrors point these elsewhere. Nothing else in
# the code names a LOFTER host.
IMAGESCRAPER_LOFTER_BLOG_URL = "https://{blog}.lofter.com"
IMAGESCRAPER_LOFTER_API_URL = "https://api.lofter.com"
# Login cookies as a browser shows them ("LOFTER_SESS=...; NTES_SESS=..."), sent with page and
# API requests only; needed when LOFTER answers logged-out visitors with its login shell.
IMAGESCRAPER_LOFTER_COOKIES = ""
# The app login header, "lofter-phone-login-auth: TOKEN" or "Authorization: TOKEN", sent with
# LOFTER page and API requests only (never to image hosts, never logged); needed for likes,
# shares and posts only logged-in readers see.
IMAGESCRAPER_LOFTER_LOGIN_HEADER = ""
# In API mode a "page" (-a start_page / -a max_pages) is one listing call of this many posts
# (50, as RSSHub and lftr ask).
IMAGESCRAPER_LOFTER_POSTS_PER_PAGE = 50
# Page and API requests look like the browser working clients imitate (gallery-dl sends a
# desktop Firefox and this Referer); image requests send the post's URL as Referer instead.
IMAGESCRAPER_LOFTER_USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
IMAGESCRAPER_LOFTER_REFERER = "https://www.lofter.com/"
# Pages and API calls go one at a time with a pause: LOFTER blocks clients that hammer it.
# Image downloads are not in this slot and run in parallel under the limits above.
DOWNLOAD_SLOTS = {"lofter-pages": {"concurrency": 1, "delay": 0.5}}

# Host names pinned to addresses, "host=address,..." like curl's --resolve (mirrors, tests).
# Pinned addresses are still checked by the address guard.
IMAGESCRAPER_RESOLVE = []

# --- Fleet mode: N servers share one URL list through Redis (README "Fleet mode") -------------
# redis://:PASSWORD@HOST:PORT/DB of the shared frontier; empty: this server works alone. The
# default is the environment variable of the same name, so that the password can live in a
# service's environment file rather than in job settings that scrapyd lists and logs.
IMAGESCRAPER_FRONTIER = os.environ.get("IMAGESCRAPER_FRONTIER", "")
# Which list of the frontier this job works on: the same on every server that shares the list,
# different for two lists (the deployment uses the job name).
IMAGESCRAPER_FRONTIER_NAME = "urlfile"
# Seconds a worker's lease lasts unless renewed (every third of it): what a worker killed with
# kill -9 held goes back to the queue this long after its last renewal, or at its next start.
IMAGESCRAPER_FRONTIER_LEASE = 60.0

# --- The gallery (scrapy gallery) -----------------------------------------------------------------
# Where the static gallery of IMAGES_STORE is written: a folder outside the store.
IMAGESCRAPER_GALLERY_DIR = "gallery"
# Where originals are linked: empty for a link relative to the gallery folder (works from
# file:// and from any server that serves both folders side by side), or a base URL such as
# "/files/urls-main/" when the store is served elsewhere.
IMAGESCRAPER_GALLERY_FILES_URL = ""
# The name shown on every page; empty: the store folder's name.
IMAGESCRAPER_GALLERY_TITLE = ""
# Thumbnails (and sub-folders) per page: a few hundred keeps a page light on a phone.
IMAGESCRAPER_GALLERY_PAGE_SIZE = 200
# Threads making thumbnails; 0: one per CPU core.
IMAGESCRAPER_GALLERY_WORKERS = 0
