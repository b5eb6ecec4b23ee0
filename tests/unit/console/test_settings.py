"""The console's settings, its default scrape list, and its command."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from common.config import Config, SinkConfig, WorkerConfig, load_config
from console.settings import ConsoleSettings, default_scrape_urls, load_console_rules
from rackwatch.cli import build_parser


class TestSettings:
    """Defaults, a future [console] section, and flags over both."""

    def test_defaults_listen_on_localhost(self) -> None:
        """Localhost only by default (the console has no login)."""
        s = ConsoleSettings.from_config(Config())
        assert (s.host, s.port, s.scrape) == ("127.0.0.1", 8470, ())

    def test_section_then_overrides(self, tmp_path: Path) -> None:
        """The [console] section is read; flags win; None flags do not erase."""
        f = tmp_path / "c.toml"
        f.write_text('[console]\nport = 9000\nscrape = ["http://a"]\n')
        s = ConsoleSettings.from_config(load_config(f, env={}), port=None, host="0.0.0.0")
        assert (s.port, s.scrape, s.host, s.fade_s) == (9000, ("http://a",), "0.0.0.0", 120.0)

    def test_default_scrape_list(self) -> None:
        """The worker's /metrics and the sink's /ping, as configured; 0 ports left out."""
        cfg = Config(worker=WorkerConfig(metrics_host="0.0.0.0", metrics_port=9500),
                     sink=SinkConfig(serve_port=18200))
        assert default_scrape_urls(cfg) == ("http://127.0.0.1:9500/metrics",
                                            "http://127.0.0.1:18200/ping")
        off = dataclasses.replace(cfg, worker=WorkerConfig(metrics_port=0),
                                  sink=SinkConfig(serve_port=0))
        assert default_scrape_urls(off) == ()

    def test_rules_default_to_the_shipped_set(self) -> None:
        """No rule file configured: the shipped rules give the lines."""
        rules = load_console_rules(Config(), ConsoleSettings())
        assert any(r.alert == "GpuTooHot" for r in rules.rules)


class TestCommand:
    """`rackwatch console` is registered with its flags."""

    def test_parses(self) -> None:
        """Flags land where the command reads them."""
        args = build_parser().parse_args(["console", "--port", "0", "--scrape", "http://x/m",
                                          "--scrape", "http://y/ping", "--open-store"])
        assert (args.command, args.port, args.scrape, args.open_store) == (
            "console", 0, ["http://x/m", "http://y/ping"], True)

    def test_help_mentions_read_only(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The help says what it is."""
        with pytest.raises(SystemExit):
            build_parser().parse_args(["console", "--help"])
        assert "Read-only" in capsys.readouterr().out
