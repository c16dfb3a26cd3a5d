from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

from imagescraper.retry import retry_delay

BASE = {"base": 1.0, "backoff_max": 10.0, "retry_after_max": 30.0, "now": 1_000_000.0}


def test_exponential_backoff_capped():
    assert [retry_delay(n, None, **BASE) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 8.0, 10.0]


def test_retry_after_seconds_and_date_capped():
    assert retry_delay(1, "7", **BASE) == 7.0
    assert retry_delay(1, "3600", **BASE) == 30.0
    date = format_datetime(datetime.fromtimestamp(BASE["now"] + 12, UTC), usegmt=True)
    assert retry_delay(1, date, **BASE) == 12.0
    past = format_datetime(datetime.fromtimestamp(BASE["now"] - 50, UTC), usegmt=True)
    assert retry_delay(1, past, **BASE) == 0.0


def test_unparseable_retry_after_falls_back_to_backoff():
    assert retry_delay(2, "soon", **BASE) == 2.0
    assert retry_delay(2, "-5", **BASE) == 2.0
