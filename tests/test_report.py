from __future__ import annotations

from imagescraper.report import RunSummary


def test_all_stored_exits_zero():
    stats = {
        "imagescraper/stored": 3,
        "imagescraper/already_present": 2,
        "imagescraper/queued": 5,
        "imagescraper/input_complete": True,
        "imagescraper/rejected_lines": 1,
        "imagescraper/rejected_lines/relative-url": 1,
    }
    summary = RunSummary.from_stats(stats, "urlfile", "finished")
    assert summary.exit_status == 0
    text = "\n".join(summary.lines())
    assert "stored:          3" in text and "rejected lines:  1" in text and "relative-url: 1" in text
    assert "NOT FINISHED" not in text


def test_failures_exit_one_with_reasons():
    stats = {
        "imagescraper/stored": 1,
        "imagescraper/failed": 2,
        "imagescraper/failed/http-404": 1,
        "imagescraper/failed/timeout": 1,
        "imagescraper/queued": 3,
        "imagescraper/input_complete": True,
    }
    summary = RunSummary.from_stats(stats, "urlfile", "finished")
    assert summary.exit_status == 1
    assert summary.failed_by_reason == {"http-404": 1, "timeout": 1}


def test_a_run_stopped_early_is_not_a_success():
    stats = {"imagescraper/stored": 4, "imagescraper/queued": 10}
    summary = RunSummary.from_stats(stats, "urlfile", "closespider_timeout")
    assert summary.exit_status == 1
    assert summary.not_attempted == 6
    assert (
        "  NOT FINISHED (closespider_timeout): 6 queued image(s) not settled, and the input was not read to its end"
        in summary.lines()
    )


def test_fleet_mode_shows_this_servers_and_the_fleets_counts():
    fleet = {
        "frontier": "redis://:***@10.0.0.5:6379/0",
        "list": "urls-main",
        "worker": "img1-3fa9c0",
        "worker_holding": 0,
        "worker_stored": 1012,
        "worker_failed": 2,
        "queued": 40,
        "in_progress": 16,
        "done": 2942,
        "failed": 2,
        "workers_alive": 2,
    }
    stats = {"imagescraper/stored": 12, "imagescraper/queued": 12, "imagescraper/input_complete": True}
    summary = RunSummary.from_stats({**stats, "imagescraper/fleet": fleet}, "urlfile", "finished")
    assert summary.lines()[-4:-1] == [
        "  fleet:           frontier redis://:***@10.0.0.5:6379/0, list 'urls-main'",
        "    this server (img1-3fa9c0): in progress 0, done 1012, failed 2",
        "    whole fleet: queued 40, in progress 16, done 2942, failed 2, workers alive 2",
    ]
    assert summary.exit_status == 0 and summary.fleet == fleet
    assert not any("fleet" in line for line in RunSummary.from_stats(stats, "urlfile", "finished").lines())
