"""The LOFTER parsers as pure functions over saved responses (tests/fixtures/lofter/<case>/).

Each case folder holds the saved input, meta.json (which parser, the page URL) and
expected.json, written by hand. Pages of both fake themes are saved by
``python -m demo.fakelofter.save_fixtures``; the ``*-real-*`` cases are written in the real
site's shape (its hosts, legacy hosts, watermark queries).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from imagescraper.lofter.api import (
    LofterApiError,
    cursor_cut,
    next_cursor,
    parse_collection_page,
    parse_data_envelope,
    parse_envelope,
    parse_post_detail,
    parse_post_list,
    parse_tag_page,
)
from imagescraper.lofter.html import parse_list_page, parse_post_page

CASES = Path(__file__).parent / "fixtures" / "lofter"
# Fields most posts leave at their default; expected.json names them only when they are set.
DEFAULTS = {"alternates": {}, "video": None, "pinned": False}


def _shown(post) -> dict:
    return {k: v for k, v in asdict(post).items() if k not in DEFAULTS or v != DEFAULTS[k]}


def _run(case: Path):
    meta = json.loads((case / "meta.json").read_text("utf-8"))
    parser = meta["parser"]
    if parser == "list":
        return asdict(parse_list_page((case / "input.html").read_text("utf-8"), meta["url"]))
    if parser == "post":
        text = (case / "input.html").read_text("utf-8")
        return _shown(parse_post_page(text, meta["url"], blog=meta["blog"], nickname=meta["nickname"]))
    body = (case / "input.json").read_bytes()
    try:
        if parser == "api_tag":
            posts, next_offset = parse_tag_page(parse_data_envelope(body))
        else:
            response = parse_envelope(body)
            if parser == "api_list":
                posts, next_offset = parse_post_list(response)
            elif parser == "api_collection":
                posts, next_offset = parse_collection_page(response)
            else:
                posts, next_offset = [parse_post_detail(response)], None
    except LofterApiError as exc:
        return {"error": exc.status}
    keep = ("blog", "post_id", "kind", "title", "excerpt", "tags", "published", "images", *DEFAULTS)
    return {"next_offset": next_offset, "posts": [{k: v for k, v in _shown(p).items() if k in keep} for p in posts]}


@pytest.mark.parametrize("case", sorted(p for p in CASES.iterdir() if p.is_dir()), ids=lambda p: p.name)
def test_saved_response(case):
    expected = json.loads((case / "expected.json").read_text("utf-8"))
    assert _run(case) == expected


def test_every_case_is_complete():
    cases = [p for p in CASES.iterdir() if p.is_dir()]
    assert len(cases) >= 20
    for case in cases:
        assert (case / "meta.json").exists() and (case / "expected.json").exists(), case.name


@pytest.mark.parametrize(
    ("sent", "returned", "answer", "expected"),
    [
        (0, 50, 50, 50),  # the usual step
        (0, 47, 47, 47),  # fewer than asked: the cursor, not page * size, leads
        (100, 50, -1, None),  # below 0: the end
        (0, 50, 60, None),  # jumped past what was returned: gallery-dl stops here
        (50, 0, 50, None),  # nothing returned
        (50, 10, 50, None),  # a cursor that does not move would ask for the same page forever
        (0, 5, None, None),
        (0, 5, "55", None),
        (0, 5, True, None),
    ],
)
def test_next_cursor(sent, returned, answer, expected):
    assert next_cursor(sent, returned, answer) == expected


@pytest.mark.parametrize(
    ("sent", "returned", "answer", "expected"),
    [
        (0, 50, 50, None),  # goes on: nothing to say
        (100, 50, -1, None),  # LOFTER's own "no more"
        (50, 0, 50, None),  # an empty page at the end
        (0, 48, 50, "LOFTER's cursor jumped from 0 to 50 after 48 post(s)"),
        (50, 10, 50, "LOFTER's cursor did not move on from 50"),
    ],
)
def test_a_listing_cut_short_by_the_cursor_is_said(sent, returned, answer, expected):
    assert cursor_cut(sent, returned, answer) == expected
