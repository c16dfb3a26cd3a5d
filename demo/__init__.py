"""The offline sites imagescraper runs against: `./dev demo`, the benchmark and the tests.

- ``imageserver``: a loopback image host (static images plus status, delay, drip and redirect paths);
- ``fakelofter``: a fake LOFTER (blogs, themes, the app API and its image hosts) built from the
  research notes, so the lofter spider can be run and measured without the real site;
- ``images``: deterministic sample images (JPEG, PNG with alpha, animated GIF, WebP, broken ones);
- ``crawling``: the real ``scrapy crawl`` in a subprocess, and reading back the store it left;
- ``run``: the demo itself (``python -m demo``).
"""
