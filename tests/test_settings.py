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


@pytest.mark.slow
def test_control_endpoints_cannot_be_switched_on_and_are_never_imported(tmp_path):
    """-s TELNETCONSOLE_ENABLED=True / REMOTE_CONTROL_ENABLED=True change nothing, and neither
    extension's module (nor aiohttp or twisted.conch, which they bring) is imported by a run."""
    urls = tmp_path / "urls.txt"
    urls.write_text("", encoding="utf-8")
    command = crawl_command(
        "urlfile",
        tmp_path / "store",
        {"path": urls},
        {"TELNETCONSOLE_ENABLED": "True", "REMOTE_CONTROL_ENABLED": "True", "LOG_LEVEL": "INFO"},
    )
    command.insert(1, "-X")
    command.insert(2, "importtime")
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    imported = {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}
    log = "\n".join(line for line in run.stderr.splitlines() if not line.startswith("import time:"))
    assert run.returncode == 0, log
    assert "imagescraper.report.RunReport" in log  # the extension list was logged, and is ours
    assert "TelnetConsole" not in log and "RemoteControl" not in log and "Telnet console listening" not in log
    assert "scrapy.extensions.feedexport" in imported  # the import log is read correctly
    unwanted = {"scrapy.extensions.telnet", "scrapy.extensions.remote_control", "aiohttp", "twisted.conch"}
    assert not unwanted & imported
