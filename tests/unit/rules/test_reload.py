"""Hot reload: rules change, alert state survives; the file watcher."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streams.rules import Point, RuleEngine, RuleError, RulesWatcher, parse_rules
from tests.unit.rules.helpers import Host, point, rules, summary

CPU = """\
      - alert: CpuHigh
        kind: threshold
        metric: cpu.usage
        above: {above}
        clear: {clear}
        repeat_interval: 1m
"""
MEM = """\
      - alert: MemHigh
        kind: threshold
        metric: mem.usage
        above: 0.7
"""


def cpu(t: float, v: float) -> Point:
    return point("cpu.usage", v, t)


class TestReplaceRules:
    def test_unchanged_rule_keeps_its_alert(self) -> None:
        """After a reload a firing alert is neither re-announced nor lost."""
        h = Host(rules(CPU.format(above=0.8, clear=0.7) + MEM))
        h.batch(0, cpu(0, 0.9))
        h.engine.replace_rules(rules(CPU.format(above=0.8, clear=0.7)))
        h.batch(10, cpu(10, 0.9))
        h.batch(60, cpu(60, 0.9))
        assert summary(h.sent) == [("CpuHigh", "firing", 0, 0), ("CpuHigh", "firing", 0, 0)]

    def test_changed_threshold_applies_to_the_open_alert(self) -> None:
        """A new clear threshold takes effect on the next sample."""
        h = Host(rules(CPU.format(above=0.8, clear=0.7)))
        h.batch(0, cpu(0, 0.9))
        h.batch(10, cpu(10, 0.75))
        h.engine.replace_rules(rules(CPU.format(above=0.85, clear=0.8)))
        h.batch(20, cpu(20, 0.75))
        assert summary(h.sent) == [("CpuHigh", "firing", 0, 0), ("CpuHigh", "resolved", 0, 20)]

    def test_removed_rule_resolves_its_alerts(self) -> None:
        """Alerts of a deleted rule are resolved at the host's next evaluation."""
        h = Host(rules(CPU.format(above=0.8, clear=0.7) + MEM))
        h.batch(0, cpu(0, 0.9), point("mem.usage", 0.9, 0))
        h.engine.replace_rules(rules(CPU.format(above=0.8, clear=0.7)))
        h.tick(30)
        assert summary(h.sent)[2:] == [("MemHigh", "resolved", 0, 30)]
        assert len(h.state["a"]) == 1

    def test_relabelled_rule_is_a_new_alert(self) -> None:
        """Changing a rule's labels changes its identity: old resolves, new fires."""
        h = Host(rules(CPU.format(above=0.8, clear=0.7)))
        h.batch(0, cpu(0, 0.9))
        relabelled = CPU.format(above=0.8, clear=0.7) + "        labels: {severity: critical}\n"
        h.engine.replace_rules(rules(relabelled))
        h.batch(10, cpu(10, 0.9))
        assert summary(h.sent) == [("CpuHigh", "firing", 0, 0), ("CpuHigh", "resolved", 0, 10),
                                   ("CpuHigh", "firing", 10, 10)]
        assert h.sent[0]["fingerprint"] != h.sent[2]["fingerprint"]

    def test_added_rule_evaluates_at_once(self) -> None:
        """A rule added by a reload sees the next batch."""
        h = Host(rules(CPU.format(above=0.8, clear=0.7)))
        h.batch(0, point("mem.usage", 0.9, 0))
        h.engine.replace_rules(rules(CPU.format(above=0.8, clear=0.7) + MEM))
        h.batch(10, point("mem.usage", 0.9, 10))
        assert summary(h.sent) == [("MemHigh", "firing", 10, 10)]

    def test_restarted_worker_continues_from_state(self) -> None:
        """A new engine over the stored state does not re-announce open alerts."""
        rs = rules(CPU.format(above=0.8, clear=0.7))
        h = Host(rs)
        h.batch(0, cpu(0, 0.9))
        h.engine = RuleEngine(rs)
        h.batch(10, cpu(10, 0.9))
        h.batch(20, cpu(20, 0.1))
        assert summary(h.sent) == [("CpuHigh", "firing", 0, 0), ("CpuHigh", "resolved", 0, 20)]


class TestRulesWatcher:
    def write(self, path: Path, text: str, bump: int) -> None:
        path.write_text("groups:\n  - name: g\n    rules:\n" + text)
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000))

    def test_poll_returns_new_rules_only_on_change(self, tmp_path: Path) -> None:
        """poll() is None until the file changes, then the new RuleSet once."""
        f = tmp_path / "rules.yaml"
        self.write(f, CPU.format(above=0.8, clear=0.7), 0)
        w = RulesWatcher(f)
        assert w.poll() is None
        self.write(f, CPU.format(above=0.9, clear=0.7), 5)
        new = w.poll()
        assert new is not None and new is w.rules
        assert w.poll() is None

    def test_invalid_file_keeps_old_rules(self, tmp_path: Path) -> None:
        """A broken edit is reported and the working rules stay in force."""
        f = tmp_path / "rules.yaml"
        self.write(f, CPU.format(above=0.8, clear=0.7), 0)
        w = RulesWatcher(f)
        old = w.rules
        self.write(f, CPU.format(above=0.8, clear=0.9), 5)
        assert w.poll() is None
        assert w.rules is old
        assert w.last_error is not None
        assert "clear" in w.last_error.problems[0]

    def test_reload_forces_a_read(self, tmp_path: Path) -> None:
        """reload() (SIGHUP) re-reads even when the file's stamp looks unchanged."""
        f = tmp_path / "rules.yaml"
        self.write(f, CPU.format(above=0.8, clear=0.7), 0)
        w = RulesWatcher(f)
        assert w.reload() is None  # same content: nothing new
        self.write(f, CPU.format(above=0.9, clear=0.7), 0)
        assert w.reload() is not None

    def test_bad_file_at_start_is_fatal(self, tmp_path: Path) -> None:
        """Starting with an invalid file raises with every problem."""
        f = tmp_path / "rules.yaml"
        f.write_text("groups: [1]\n")
        with pytest.raises(RuleError):
            RulesWatcher(f)

    def test_missing_file_while_replaced_is_ignored(self, tmp_path: Path) -> None:
        """A file briefly missing (editor swap) keeps the old rules."""
        f = tmp_path / "rules.yaml"
        self.write(f, CPU.format(above=0.8, clear=0.7), 0)
        w = RulesWatcher(f)
        f.unlink()
        assert w.poll() is None
        assert len(w.rules) == 1
        assert parse_rules("").digest != w.rules.digest


class TestRemovedWhileDown:
    def test_new_worker_resolves_alerts_of_a_rule_it_never_knew(self) -> None:
        """Alerts of a rule dropped from the file while no worker ran still resolve."""
        h = Host(rules(CPU.format(above=0.8, clear=0.7) + MEM))
        h.batch(0, point("mem.usage", 0.9, 0))
        h.engine = RuleEngine(rules(CPU.format(above=0.8, clear=0.7)))  # fresh process
        h.tick(30)
        (msg,) = h.sent[1:]
        assert (msg["rule"], msg["status"], msg["severity"]) == ("MemHigh", "resolved", "warning")
        assert msg["fingerprint"] == h.sent[0]["fingerprint"]
        assert msg["labels"]["alertname"] == "MemHigh"
        assert "a" in h.state and h.state["a"] == {} and h.state.get("rc") == {}
