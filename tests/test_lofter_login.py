"""imagescraper.lofter.login: the login header never leaves LOFTER's page and API hosts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from scrapy import Request

from imagescraper.config import parse_login_header
from imagescraper.lofter.login import LoginHeaderScopeMiddleware
from imagescraper.startup_errors import InputError


def _middleware():
    spider = SimpleNamespace(login_hosts=lambda netloc: netloc in ("api.lofter.com", "ceshi.lofter.com"))
    return LoginHeaderScopeMiddleware(SimpleNamespace(spider=spider))


def test_the_header_stays_on_lofter_hosts_and_is_dropped_elsewhere():
    middleware = _middleware()
    for name in ("lofter-phone-login-auth", "Authorization"):
        kept = Request("https://api.lofter.com/v2.0/blogHomePage.api", headers={name: "t0ken", "Referer": "x"})
        assert middleware.process_request(kept) is None and kept.headers[name] == b"t0ken"
        # a redirect from a page to another host keeps the request's headers: the token must not follow
        moved = kept.replace(url="https://evil.example/next")
        middleware.process_request(moved)
        assert name not in moved.headers and moved.headers["Referer"] == b"x"


def test_other_spiders_are_left_alone():
    middleware = LoginHeaderScopeMiddleware(SimpleNamespace(spider=SimpleNamespace()))
    request = Request("https://elsewhere.example/", headers={"Authorization": "Basic x"})
    middleware.process_request(request)
    assert request.headers["Authorization"] == b"Basic x"


def test_the_login_header_setting():
    assert parse_login_header("") is None
    assert parse_login_header("lofter-phone-login-auth: abc.DEF=") == ("lofter-phone-login-auth", "abc.DEF=")
    assert parse_login_header("AUTHORIZATION:  Bearer x ") == ("Authorization", "Bearer x")
    for bad in ("Cookie: SECRET-1", "SECRET-1", "authorization:", "Authorization: SECRET-1\r\nX: y"):
        with pytest.raises(InputError, match="IMAGESCRAPER_LOFTER_LOGIN_HEADER is not") as caught:
            parse_login_header(bad)
        assert "SECRET-1" not in str(caught.value), "the message never repeats the secret"
