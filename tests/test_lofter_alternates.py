"""imagescraper.lofter.alternates: on 403 or 404 the second address is tried, once."""

from __future__ import annotations

from scrapy import Request
from scrapy.http import Response

from imagescraper.lofter.alternates import AlternateAddressMiddleware

FIRST = "http://imglf4.lf127.net/img/a.jpg"
SECOND = "http://nos.netease.com/imglf4/img/a.jpg"


def test_a_404_or_403_swaps_to_the_second_address_once():
    middleware = AlternateAddressMiddleware()
    for status in (403, 404):
        request = Request(FIRST, headers={"Referer": "http://b.lofter.com/post/1_2"}, meta={"alternate_url": SECOND})
        retry = middleware.process_response(request, Response(FIRST, status=status, request=request))
        assert isinstance(retry, Request) and retry.url == SECOND
        assert retry.headers["Referer"] == b"http://b.lofter.com/post/1_2"
        # the second address failing too is the image's answer: no third try, no loop
        failed = Response(SECOND, status=404, request=retry)
        assert middleware.process_response(retry, failed) is failed


def test_other_answers_and_images_without_a_second_address_pass_through():
    middleware = AlternateAddressMiddleware()
    request = Request(FIRST, meta={"alternate_url": SECOND})
    for status in (200, 500, 302):
        response = Response(FIRST, status=status, request=request)
        assert middleware.process_response(request, response) is response
    plain = Request(FIRST)
    missing = Response(FIRST, status=404, request=plain)
    assert middleware.process_response(plain, missing) is missing
