"""Write the fake site's pages into tests/fixtures/lofter/ as saved responses for the parser tests.

    python -m demo.fakelofter.save_fixtures

Only the inputs are written; each case's expected.json is written by hand and reviewed.
The port in saved pages is fixed at 8080 so the files do not change between runs.
"""

from __future__ import annotations

import json
from pathlib import Path

from demo.fakelofter import FakeLofter

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "lofter"


def _case(name: str, meta: dict, body: str):
    folder = OUT / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    suffix = "json" if meta["parser"].startswith("api") else "html"
    (folder / f"input.{suffix}").write_text(body, encoding="utf-8")


def main():
    for theme in ("mpost", "gray"):
        site = FakeLofter(theme)
        site._httpd.server_close()
        site.port = 8080
        home = "http://ceshi.lofter.test:8080/"
        _case(f"list-{theme}-page1", {"parser": "list", "url": home}, site.list_page("ceshi", 1))
        _case(
            f"list-{theme}-page2",
            {"parser": "list", "url": home + "?page=2&t=1714500000000"},
            site.list_page("ceshi", 2),
        )
        _case(f"list-{theme}-empty", {"parser": "list", "url": home + "?page=3"}, site.list_page("ceshi", 3))
        for key in ("P1", "P2", "P4", "P5"):
            meta = {"parser": "post", "url": site.post_url("ceshi", key), "blog": "ceshi", "nickname": "测试/博客.."}
            _case(f"post-{theme}-{key}", meta, site.post_page("ceshi", key))
    site = FakeLofter()
    site._httpd.server_close()
    site.port = 8080
    _case("login-shell", {"parser": "list", "url": "http://ceshi.lofter.test:8080/"}, site.login_shell())
    listing = site.api.listing("ceshi")
    envelope = {"meta": {"status": 200, "msg": ""}, "response": {"posts": listing[:4], "offset": 4}}
    _case("api-list", {"parser": "api_list"}, json.dumps(envelope, ensure_ascii=False, indent=1))
    answer = {"meta": {"status": 200, "msg": ""}, "response": {"posts": [{"post": site.api.post("ceshi", "P11")}]}}
    _case("api-detail-answer", {"parser": "api_detail"}, json.dumps(answer, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
