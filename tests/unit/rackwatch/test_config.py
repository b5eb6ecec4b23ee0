"""Configuration: closed, all errors at once, environment overrides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from common.config import ConfigError, find_home, load_config, mask_dsn


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "rackwatch.toml"
    p.write_text(text)
    return p


class TestLoadConfig:
    def test_defaults_without_file(self, tmp_path: Path) -> None:
        """No file, no env: embedded defaults under ./.rackwatch."""
        cfg = load_config(env={})
        assert cfg.uses_local_broker
        assert cfg.topic("metrics") == "rackwatch.metrics"
        assert cfg.clickhouse_dsn.startswith("chdb://") and cfg.clickhouse_dsn.endswith(
            ".rackwatch/clickhouse")

    def test_all_errors_reported_together(self, tmp_path: Path) -> None:
        """Typos in two sections and a wrong type: three problems, one error."""
        p = write(tmp_path, '[kafka]\npartitons = 3\n[agent]\ninterval_s = "fast"\n[nope]\nx=1\n')
        with pytest.raises(ConfigError) as e:
            load_config(p, env={})
        text = "\n".join(e.value.problems)
        assert len(e.value.problems) == 3
        assert "[kafka].partitons" in text and "[agent].interval_s" in text and "[nope]" in text
        assert str(p) in text

    def test_environment_overrides_file(self, tmp_path: Path) -> None:
        """RACKWATCH_* variables win over the file."""
        p = write(tmp_path, '[kafka]\nbootstrap = "a:1"\ntopic_prefix = "x."\n')
        cfg = load_config(p, env={"RACKWATCH_KAFKA_BOOTSTRAP": "b:2",
                                  "RACKWATCH_CLICKHOUSE_DSN": "http://ch:8123",
                                  "RACKWATCH_TOPIC_PREFIX": "y."})
        assert cfg.bootstrap == "b:2" and not cfg.uses_local_broker
        assert cfg.clickhouse_dsn == "http://ch:8123"
        assert cfg.topic("alerts") == "y.alerts"

    def test_values_typed(self, tmp_path: Path) -> None:
        """Ints widen to floats, lists to tuples, labels stay a dict."""
        p = write(tmp_path, '[agent]\ninterval_s = 5\nlog_paths = ["/var/log/*.log"]\n'
                            'labels = { rack = "r1" }\n')
        cfg = load_config(p, env={})
        assert cfg.agent.interval_s == 5.0
        assert cfg.agent.log_paths == ("/var/log/*.log",)
        assert cfg.agent.labels == {"rack": "r1"}

    def test_worker_batch_wait(self, tmp_path: Path) -> None:
        """The worker's batch wait (the floor of alert latency) is 10 ms unless set."""
        assert load_config(env={}).worker.batch_wait_ms == 10.0
        cfg = load_config(write(tmp_path, "[worker]\nbatch_wait_ms = 50\n"), env={})
        assert cfg.worker.batch_wait_ms == 50.0

    def test_negative_numbers_rejected(self, tmp_path: Path) -> None:
        """A negative size or interval cannot be expressed."""
        with pytest.raises(ConfigError, match="negative"):
            load_config(write(tmp_path, "[sink]\nbatch_rows = -1\n"), env={})

    def test_home_from_environment(self, tmp_path: Path) -> None:
        """RACKWATCH_HOME moves the state directory and the default store with it."""
        cfg = load_config(env={"RACKWATCH_HOME": str(tmp_path)})
        assert cfg.home == tmp_path
        assert cfg.clickhouse_dsn == f"chdb://{tmp_path.resolve() / 'clickhouse'}"


class TestSet:
    def test_set_overrides_the_file_key_by_key(self, tmp_path: Path) -> None:
        """--set wins over the file for its key only; values are read as TOML."""
        f = tmp_path / "c.toml"
        f.write_text("[worker]\newma_tau_s = 30\nwma_window = 7\n")
        cfg = load_config(f, env={}, settings=["worker.ewma_tau_s=20", "kafka.topic_prefix=x."])
        assert (cfg.worker.ewma_tau_s, cfg.worker.wma_window) == (20.0, 7)
        assert cfg.kafka.topic_prefix == "x."

    def test_set_is_checked_like_the_file(self, tmp_path: Path) -> None:
        """An unknown key, a bad value or a malformed item is a config error naming it."""
        with pytest.raises(ConfigError) as e:
            load_config(None, env={"RACKWATCH_HOME": str(tmp_path)},
                        settings=["worker.nope=1", "worker.ewma_tau_s=abc"])
        text = str(e.value)
        assert "unknown key [worker].nope" in text and "'abc'" in text
        with pytest.raises(ConfigError, match=r"SECTION\.KEY=VALUE"):
            load_config(None, env={}, settings=["worker=1"])


class TestMaskDsn:
    def test_password_in_url_and_parameters_masked(self) -> None:
        """A DSN's password never survives masking, whatever form it takes."""
        assert mask_dsn("https://ops:s3cr3t@ch.example:8443/db") == "https://ops:***@ch.example:8443/db"
        assert "s3cr3t" not in mask_dsn("http://ch:8123/?user=a&password=s3cr3t&x=1")
        assert mask_dsn("chdb:///var/lib/rackwatch/clickhouse") == \
            "chdb:///var/lib/rackwatch/clickhouse"
        assert "tok" not in mask_dsn("failed for http://u:tok@h:8123: refused")


class TestFindHome:
    def test_nearest_parent_home_is_found(self, tmp_path: Path) -> None:
        """Run from a subdirectory, a command finds the project's .rackwatch above it."""
        (tmp_path / ".rackwatch").mkdir()
        sub = tmp_path / "a" / "b"
        sub.mkdir(parents=True)
        assert find_home(sub) == tmp_path / ".rackwatch"
        assert find_home(tmp_path) == Path(".rackwatch")

    def test_none_found_means_here(self, tmp_path: Path) -> None:
        """No home in the directory or its project: nothing of theirs is picked up."""
        (tmp_path / "x").mkdir()
        found = find_home(tmp_path / "x")
        assert found == Path(".rackwatch") or tmp_path not in found.parents


class TestModel:
    def test_reference_page_matches_the_code(self) -> None:
        """docs/configuration.md carries exactly the reference the declarations generate."""
        from common.configdoc import BEGIN, END, reference

        page = (Path(__file__).resolve().parents[3] / "docs" / "configuration.md").read_text()
        assert page[page.index(BEGIN):page.index(END) + len(END)] + "\n" == reference()

    def test_every_key_is_documented(self) -> None:
        """No key without its text: the reference would have an empty row."""
        import dataclasses

        from common.config import sections

        for name, cls in sections().items():
            for f in dataclasses.fields(cls):
                assert f.metadata.get("doc"), f"[{name}].{f.name} has no documentation"

    @pytest.mark.parametrize(("text", "fragment"), [
        ("[kafka]\npartitions = 0\n", "[kafka].partitions must be at least 1, got 0"),
        ("[worker]\newma_tau_s = 0\n", "[worker].ewma_tau_s must be more than 0, got 0.0"),
        ("[agent]\ninterval_s = -1\n", "[agent].interval_s must be more than 0, got -1.0"),
        ("[clickhouse]\nttl_days_logs = 0\n", "[clickhouse].ttl_days_logs must be at least 1"),
        ("[worker]\ndedup_window = 5\n", "unknown key [worker].dedup_window"),
    ])
    def test_out_of_range_and_dead_keys_are_errors(self, tmp_path: Path, text: str,
                                                   fragment: str) -> None:
        """Impossible values cannot be expressed; a removed key is named as unknown."""
        with pytest.raises(ConfigError, match=re.escape(fragment)):
            load_config(write(tmp_path, text), env={})

    def test_effective_configuration_masks_secrets(self, tmp_path: Path) -> None:
        """What `config check` prints never holds a password or a token."""
        from common.config import effective

        cfg = load_config(write(tmp_path, '[sink]\nserve_token = "tok-123"\n'),
                          env={"RACKWATCH_CLICKHOUSE_DSN": "https://ops:pw-456@ch:8443"})
        shown = repr(effective(cfg))
        assert "tok-123" not in shown and "pw-456" not in shown
        assert effective(cfg)["clickhouse"]["dsn"] == "https://ops:***@ch:8443"

    def test_roles_take_their_defaults_from_the_model(self) -> None:
        """The agent's and the sink's runtime settings carry no defaults of their own."""
        import dataclasses

        from common.config import AgentConfig, Config, SinkConfig
        from producers.agent import AgentOptions
        from sinks.settings import SinkSettings

        a, o = AgentConfig(), AgentOptions.from_config(Config())
        assert (o.interval_s, o.buffer_max_batches, o.flush_timeout_s, o.log_poll_s) == (
            a.interval_s, a.buffer_max_batches, a.flush_timeout_s, a.log_poll_s)
        s, ss = SinkConfig(), SinkSettings.from_config(Config())
        for f in dataclasses.fields(SinkConfig):
            if f.name != "group_id":
                assert getattr(ss, f.name) == getattr(s, f.name), f.name
        assert ss.group_id == "rackwatch.sink"


class TestScrapeTables:
    """`[[agent.scrape]]`: a list of tables, each key declared and checked like any other."""

    TARGETS = """\
[agent]
interval_s = 10
[[agent.scrape]]
name = "vllm"
url = "http://127.0.0.1:8000/metrics"
labels = { model = "llama-8b", replica = "0" }
bearer_token = "tok-789"
[[agent.scrape]]
name = "dcgm"
url = "http://127.0.0.1:9400/metrics"
interval_s = 30
"""

    def test_tables_are_read_with_their_defaults(self, tmp_path: Path) -> None:
        """Two targets, in order; unset keys take the declared defaults."""
        cfg = load_config(write(tmp_path, self.TARGETS), env={})
        vllm, dcgm = cfg.agent.scrape
        assert (vllm.name, vllm.labels, vllm.interval_s) == ("vllm", {"model": "llama-8b",
                                                                     "replica": "0"}, 0.0)
        assert (dcgm.name, dcgm.interval_s, dcgm.timeout_s, dcgm.max_series) == (
            "dcgm", 30.0, 5.0, 200)

    def test_problems_name_the_table(self, tmp_path: Path) -> None:
        """A typo or a bad value inside the second table names [agent.scrape[1]]."""
        text = self.TARGETS + "timout_s = 3\nmax_series = -1\n"
        with pytest.raises(ConfigError) as e:
            load_config(write(tmp_path, text), env={})
        problems = "\n".join(e.value.problems)
        assert "unknown key [agent.scrape[1]].timout_s" in problems
        assert "[agent.scrape[1]].max_series must be at least 0" in problems

    def test_not_a_list_of_tables(self, tmp_path: Path) -> None:
        """`scrape = "http://..."` is refused with what was expected."""
        with pytest.raises(ConfigError, match=re.escape("[[agent.scrape]] should be a list")):
            load_config(write(tmp_path, '[agent]\nscrape = "http://x/metrics"\n'), env={})

    def test_token_is_masked_where_shown(self, tmp_path: Path) -> None:
        """`config check` shows the tables, never the bearer token."""
        from common.config import effective

        shown = effective(load_config(write(tmp_path, self.TARGETS), env={}))
        assert shown["agent"]["scrape"][0]["bearer_token"] == "***"
        assert "tok-789" not in repr(shown)

    def test_set_on_the_command_line(self) -> None:
        """`--set 'agent.scrape=[{...}]'` reads the tables as TOML."""
        cfg = load_config(env={}, settings=[
            'agent.scrape=[{name = "tgi", url = "http://h:3000/metrics"}]'])
        assert [t.name for t in cfg.agent.scrape] == ["tgi"]
