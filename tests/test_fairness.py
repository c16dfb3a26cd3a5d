"""One slow host never stalls the rest: lines of a busy host wait aside (spiders/fairness.py)."""

from __future__ import annotations

import pytest

from demo import images
from demo.crawling import crawl
from imagescraper.spiders.fairness import ParkedItems


def test_parked_items_keep_each_hosts_order_and_go_out_when_their_host_has_room():
    parked = ParkedItems(limit=4)
    for name in ("a1", "a2", "b1", "a3"):
        parked.park(name[0], name)
    assert parked.holds("a") and parked.holds("b") and parked.full()
    assert list(parked.ready(lambda host: host == "b")) == [("b", "b1")]
    assert not parked.holds("b") and parked.count == 3
    assert parked.take_from_busiest() == ("a", "a1")
    assert list(parked.drain()) == [("a", "a2"), ("a", "a3")]
    assert parked.count == 0 and not parked.holds("a")


def test_ready_stops_as_soon_as_there_is_no_room():
    parked = ParkedItems(limit=10)
    for n in range(5):
        parked.park("a", n)
    room = iter([True, True, False])
    assert [item for _, item in parked.ready(lambda host: next(room))] == [0, 1]
    assert parked.count == 3


@pytest.mark.slow
def test_a_host_that_never_answers_does_not_hold_up_the_others(server, tmp_path):
    """40 URLs of a host that never answers, listed first, then 50 good images of another host:
    the good ones are all fetched before the first of the dead host's requests times out."""
    good = {}
    for n in range(50):
        body = images.jpeg(f"fair-{n}", size=(64, 48))
        good[server.add_image(f"/fair/{n}.jpg", body).replace("127.0.0.1", "b.test")] = body
    dead = [f"http://a.test:{server.port}/hang/{n}.jpg" for n in range(40)]
    url_file = tmp_path / "urls.txt"
    url_file.write_text("\n".join(dead + list(good)) + "\n")
    server.forget_requests()
    timeout = 4

    result = crawl(
        "urlfile",
        tmp_path / "store",
        args={"path": url_file},
        settings={
            "IMAGESCRAPER_RESOLVE": "a.test=127.0.0.1,b.test=127.0.0.1",
            "IMAGESCRAPER_ALLOW_HOSTS": f"a.test:{server.port},b.test:{server.port}",
            "DOWNLOAD_TIMEOUT": timeout,
            "RETRY_TIMES": 0,
        },
    )

    assert result.summary["stored"] == 50, result.log[-3000:]
    assert result.summary["failed_by_reason"] == {"timeout": 40}
    assert sorted(result.stored_files().values()) == sorted(good.values())
    first_dead = min(r.at for r in server.requests if r.path.startswith("/hang/"))
    last_good = max(r.at for r in server.requests if r.path.startswith("/fair/"))
    # Without the parking, the 32 places fill with the dead host's lines and the good images
    # wait a whole timeout (or several) for them.
    assert last_good < first_dead + timeout
