"""Trying an image's second address when the first answers 403 or 404.

Some LOFTER originals may live at two addresses (``nos.netease.com/imglfN/...`` and the
``imglfN.lf127.net`` it was moved to, for most files). The spider puts the second address in
the request's ``alternate_url`` meta; this middleware swaps to it once. The media pipeline
still sees the first request, so the image is stored, or counted as failed, once under the
URL the post gave.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

META_KEY = "alternate_url"
TRY_OTHER_ON = (403, 404)


class AlternateAddressMiddleware:
    def process_response(self, request, response, spider=None):
        alternate = request.meta.get(META_KEY)
        if response.status not in TRY_OTHER_ON or not alternate:
            return response
        # One line per image of an old blog would flood a terminal; a failure at both addresses is a warning.
        logger.debug("%s answered HTTP %d; trying its other address %s", request.url, response.status, alternate)
        meta = {k: v for k, v in request.meta.items() if k not in (META_KEY, "redirect_urls", "redirect_times")}
        return request.replace(url=alternate, meta=meta, dont_filter=True)
