"""The project's settings as Scrapy loads them: safe defaults that a run cannot forget."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from scrapy.utils.project import get_project_settings

from demo.crawling import REPO, crawl_command
from imagescraper.config import ProjectConfig
from imagescraper.startup_errors import InputError


def test_safe_defaults(monkeypatch):
    monkeypatch.chdir(REPO)
    settings = get_project_settings()
    assert settings.getbool("TELNETCONSOLE_ENABLED") is False
    assert settings.getbool("REMOTE_CONTROL_ENABLED") is False
    extensions = settings.getwithbase("EXTENSIONS")
    assert "scrapy.extensions.telnet.TelnetConsole" not in extensions
    assert "scrapy.extensions.remote_control.RemoteControl" not in extensions
    assert "scrapy.extensions.corestats.CoreStats" in extensions  # the rest of Scrapy's list stays
    handlers = settings.getdict("DOWNLOAD_HANDLERS")
    assert all(handlers[scheme] is None for scheme in ("file", "data", "s3", "ftp"))
    assert settings.get("LOG_LEVEL") == "INFO"
    assert settings.get("FEED_EXPORT_ENCODING") == "utf-8"
    assert settings.getint("DOWNLOAD_MAXSIZE") <= 64 * 1024 * 1024
    assert 404 not in settings.getlist("RETRY_HTTP_CODES") and 410 not in settings.getlist("RETRY_HTTP_CODES")
    # A URL whose server never answers is settled in about a minute, whatever it sends.
    worst_case = (settings.getint("RETRY_TIMES") + 1) * settings.getint("DOWNLOAD_TIMEOUT")
    assert worst_case <= 60
    config = ProjectConfig.from_settings(settings)
    assert config.allow_hosts == frozenset()
    # the next images download while the previous ones are checked and written
    assert config.items_in_flight == 2 * settings.getint("CONCURRENT_REQUESTS")


def test_every_project_setting_is_read_by_the_config(monkeypatch):
    monkeypatch.chdir(REPO)
    import imagescraper.settings as module

    declared = {name for name in vars(module) if name.startswith("IMAGESCRAPER_")}
    source = (Path(module.__file__).parent / "config.py").read_text()
    assert declared and all(f'"{name}"' in source for name in declared)


def test_writes_are_durable_unless_turned_off(monkeypatch):
    monkeypatch.chdir(REPO)
    settings = get_project_settings()
    assert ProjectConfig.from_settings(settings).durable is True
    settings.set("IMAGESCRAPER_DURABLE", "false")
    assert ProjectConfig.from_settings(settings).durable is False
    settings.set("IMAGESCRAPER_DURABLE", "sometimes")
    with pytest.raises(InputError, match="IMAGESCRAPER_DURABLE='sometimes' is not true or false"):
        ProjectConfig.from_settings(settings)


@pytest.mark.parametrize(
    ("parse", "value", "secret"),
    [
        ("cookies", "LOFTER_SESS=x; s3cr3tT0ken", "s3cr3tT0ken"),
        ("frontier", "redis://:pa/ss@10.0.0.5:6379/0x", "pa/ss"),
        ("frontier", "redis://:p@ss@/0", "p@ss"),
        ("frontier", "redis://:Zq9pw@host:99999/0", "Zq9pw"),
    ],
)
def test_a_bad_secret_setting_is_refused_without_showing_the_secret(parse, value, secret):
    from imagescraper.config import parse_cookies
    from imagescraper.frontier import parse_frontier_url

    with pytest.raises(InputError) as refused:
        {"cookies": parse_cookies, "frontier": parse_frontier_url}[parse](value)
    message = str(refused.value)
    assert secret not in message and secret.split("/")[-1].split("@")[-1] not in message, message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EXTENSIONS", {"scrapy.extensions.telnet.TelnetConsole": 0}),
        ("EXTENSIONS", '{"scrapy.extensions.remote_control.RemoteControl": 500}'),  # as -s passes it
        ("EXTENSIONS_BASE", {"scrapy.extensions.corestats.CoreStats": 0, "scrapy.extensions.telnet.TelnetConsole": 0}),
    ],
)
def test_settings_that_name_a_control_endpoint_stop_the_run(monkeypatch, name, value):
    monkeypatch.chdir(REPO)
    settings = get_project_settings()
    settings.set(name, value)
    with pytest.raises(InputError, match=rf"^setting {name} enables scrapy\.extensions\.\w+\.\w+: this project never"):
        ProjectConfig.from_settings(settings)


def test_a_control_endpoint_named_only_to_switch_it_off_is_fine(monkeypatch):
    from scrapy.extensions.telnet import TelnetConsole

    monkeypatch.chdir(REPO)
    settings = get_project_settings()
    settings.set("EXTENSIONS", {TelnetConsole: None, "imagescraper.report.RunReport": 500})
    ProjectConfig.from_settings(settings)


# Run as `python -m scrapy ...`, printing at exit every module the process imported.
_SCRAPY_LISTING_MODULES = (
    "import atexit, runpy, sys; "
    "atexit.register(lambda: print('MODULES', *sorted(sys.modules), file=sys.stderr)); "
    "sys.argv = ['scrapy', *sys.argv[1:]]; "
    "runpy.run_module('scrapy', run_name='__main__')"
)


def _crawl_listing_modules(tmp_path: Path, settings: dict) -> tuple[int, str, set[str]]:
    urls = tmp_path / "urls.txt"
    urls.write_text("", encoding="utf-8")
    command = crawl_command("urlfile", tmp_path / "store", {"path": urls}, {"LOG_LEVEL": "INFO", **settings})
    command[1:3] = ["-c", _SCRAPY_LISTING_MODULES]  # in place of "-m", "scrapy"
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    listing = [line for line in run.stderr.splitlines() if line.startswith("MODULES ")]
    log = "\n".join(line for line in run.stderr.splitlines() if not line.startswith("MODULES "))
    assert len(listing) == 1, log
    return run.returncode, log, set(listing[0].split()[1:])


@pytest.mark.slow
def test_control_endpoints_cannot_be_switched_on_and_are_never_imported(tmp_path):
    """-s TELNETCONSOLE_ENABLED=True / REMOTE_CONTROL_ENABLED=True change nothing, and neither
    extension's module (nor aiohttp or twisted.conch, which they bring) is imported by a run."""
    switched_on = {"TELNETCONSOLE_ENABLED": "True", "REMOTE_CONTROL_ENABLED": "True"}
    status, log, imported = _crawl_listing_modules(tmp_path, switched_on)
    assert status == 0, log
    assert "imagescraper.report.RunReport" in log  # the extension list was logged, and is ours
    assert "TelnetConsole" not in log and "RemoteControl" not in log and "Telnet console listening" not in log
    assert "scrapy.extensions.corestats" in imported  # loaded by name, as the two would be
    unwanted = {"scrapy.extensions.telnet", "scrapy.extensions.remote_control", "aiohttp", "twisted.conch"}
    assert not unwanted & imported


@pytest.mark.slow
def test_naming_the_telnet_console_again_stops_the_run_with_one_line(tmp_path):
    status, log, _ = _crawl_listing_modules(
        tmp_path, {**{"TELNETCONSOLE_ENABLED": "True"}, "EXTENSIONS": '{"scrapy.extensions.telnet.TelnetConsole": 0}'}
    )
    assert status == 2, log
    assert "setting EXTENSIONS enables scrapy.extensions.telnet.TelnetConsole" in log
    assert "Telnet console listening" not in log and "Traceback" not in log
