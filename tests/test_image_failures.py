from __future__ import annotations

from scrapy.exceptions import DownloadTimeoutError
from twisted.internet import error as tx_error

from imagescraper.image_failures import ImageFailed, classify

URL = "http://127.0.0.1:8080/h1.jpg"


def test_a_timeout_says_how_long_without_repeating_the_url():
    failed = classify(URL, DownloadTimeoutError(f"Getting {URL} took longer than 15.0 seconds."))
    assert (failed.reason, failed.detail) == ("timeout", "took longer than 15.0 seconds")
    assert str(failed) == f"{URL}: timeout (took longer than 15.0 seconds)"


def test_a_timeout_after_a_redirect_names_neither_address():
    failed = classify(URL, DownloadTimeoutError("Getting http://127.0.0.1:8080/moved.jpg took longer than 3 seconds."))
    assert failed.detail == "took longer than 3 seconds"


def test_other_details_keep_their_words_but_not_the_url():
    refused = classify(URL, tx_error.ConnectionRefusedError("111: Connection refused."))
    assert refused.reason == "connection-refused" and "Connection refused" in refused.detail
    odd = classify(URL, ValueError(f"no idea what to do with {URL}"))
    assert (odd.reason, odd.detail) == ("error", "ValueError: no idea what to do with the URL")


def test_an_image_failure_is_kept_as_it_is():
    failed = ImageFailed(URL, "http-404", "the server answered HTTP 404")
    assert classify(URL, failed) is failed
