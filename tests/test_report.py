from __future__ import annotations

from types import SimpleNamespace

from imagescraper.report import RunReport, RunSummary, run_line


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
    lines = summary.lines()
    text = "\n".join(lines)
    # Whole lines: "stored:          3" must not pass for "stored:          30".
    assert "  stored:          3" in lines and "  rejected lines:  1" in lines and "    relative-url: 1" in lines
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


def test_a_crawl_without_an_input_file_shows_no_rejected_lines():
    stats = {"imagescraper/stored": 2, "imagescraper/queued": 2}
    assert not any("rejected lines" in line for line in RunSummary.from_stats(stats, "lofter", "finished").lines())
    rejected = {**stats, "imagescraper/rejected_lines": 1, "imagescraper/rejected_lines/relative-url": 1}
    assert "  rejected lines:  1" in RunSummary.from_stats(rejected, "lofter", "finished").lines()
    read_a_file = {**stats, "imagescraper/input_complete": True}
    assert "  rejected lines:  0" in RunSummary.from_stats(read_a_file, "urlfile", "finished").lines()


def test_the_exit_line_says_what_happened():
    def exit_line(stats):
        return RunSummary.from_stats(stats, "lofter", "finished").lines()[-1]

    unknown_blog = {"imagescraper/errors": 1, "imagescraper/errors/not-found": 1}
    assert exit_line(unknown_blog) == "  exit status:     1 (nothing could be read)"
    some_pages = {**unknown_blog, "imagescraper/stored": 3, "imagescraper/queued": 3}
    assert exit_line(some_pages) == "  exit status:     1 (page errors: some posts or pages were not read)"
    failed = {"imagescraper/stored": 2, "imagescraper/failed": 1, "imagescraper/queued": 3}
    assert exit_line(failed) == "  exit status:     1 (some images are missing)"
    both = {**failed, **unknown_blog}
    assert (
        exit_line(both)
        == "  exit status:     1 (some images are missing; page errors: some posts or pages were not read)"
    )
    stopped = {"imagescraper/stored": 1, "imagescraper/queued": 3}
    assert RunSummary.from_stats(stopped, "lofter", "shutdown").lines()[-1] == (
        "  exit status:     1 (the run stopped before the end)"
    )
    assert exit_line({"imagescraper/stored": 3, "imagescraper/queued": 3}) == (
        "  exit status:     0 (all images stored or already present)"
    )


class _Stats(dict):
    def get_value(self, key, default=None):
        return self.get(key, default)


def test_remaining_is_known_once_the_run_is_over():
    stats = _Stats({"imagescraper/stored": 5, "imagescraper/failed": 1, "imagescraper/queued": 8})
    report = RunReport(SimpleNamespace(stats=stats), interval=1, log_interval=30, terminal=None)
    assert report.progress_line() == "stored 5 | already present 0 | failed 1 | remaining ?"  # a crawl still reading
    assert report.progress_line(over=True) == "stored 5 | already present 0 | failed 1 | remaining 2"
    stats["imagescraper/input_complete"] = True
    assert report.progress_line().endswith("| remaining 2")


def test_the_first_line_echoes_flags_as_typed():
    urlfile = SimpleNamespace(name="urlfile", arguments=("path", "title", "replace"), path="u.txt", replace=True)
    assert run_line(urlfile) == "urlfile with path=u.txt, replace=true"
    described = SimpleNamespace(name="lofter", describe_run=lambda: "on blog 'ceshi' with videos=true")
    assert run_line(described) == "lofter on blog 'ceshi' with videos=true"
