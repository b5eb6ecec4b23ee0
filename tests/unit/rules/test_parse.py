"""Rule-file validation: closed keys, every problem at once, file:line in each."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streams.rules import RuleError, default_rules, load_rules, parse_rules
from streams.rules.model import AllCond, ThresholdCond


def problems(text: str) -> list[str]:
    with pytest.raises(RuleError) as e:
        parse_rules(text, "r.yaml")
    assert all(p.startswith("r.yaml:") for p in e.value.problems)
    return e.value.problems


GOOD = """\
groups:
  - name: g
    rules:
      - alert: CpuHigh
        kind: threshold
        metric: cpu.usage
        smoothing: ewma
        above: 80%
        clear: 75%
        for: 5m
        labels: {severity: warning, team: infra}
        annotations:
          summary: "CPU {{ $value | humanizePercentage }}"
"""


class TestValidFiles:
    def test_parses_a_threshold_rule(self) -> None:
        """Numbers with units, durations and labels end up resolved in the Rule."""
        rs = parse_rules(GOOD, "r.yaml")
        (rule,) = rs.rules
        assert rule.alert == "CpuHigh"
        assert rule.for_ms == 300_000
        assert rule.severity == "warning"
        assert dict(rule.labels) == {"severity": "warning", "team": "infra"}
        assert isinstance(rule.condition, ThresholdCond)
        assert rule.condition.operand.compare.fire == pytest.approx(0.8)
        assert rule.condition.operand.compare.clear == pytest.approx(0.75)
        assert rule.origin == "r.yaml:4"
        assert rule.key in rs.by_key

    def test_severity_defaults_to_warning(self) -> None:
        """A rule without a severity label is a warning."""
        rs = parse_rules(GOOD.replace("severity: warning, ", ""), "r.yaml")
        assert rs.rules[0].severity == "warning"

    def test_group_settings_are_rule_defaults(self) -> None:
        """Group labels and timings apply to rules that do not set their own."""
        text = GOOD.replace("    rules:\n", "    repeat_interval: 10m\n    labels: {x: y}\n"
                            "    rules:\n")
        rule = parse_rules(text).rules[0]
        assert rule.repeat_ms == 600_000
        assert rule.labels["x"] == "y"

    def test_same_alert_name_with_other_labels_is_allowed(self) -> None:
        """Two severities of one alert name are two rules with distinct keys."""
        second = GOOD.split("rules:\n")[1].replace("severity: warning", "severity: critical")
        rs = parse_rules(GOOD + second)
        assert len({r.key for r in rs.rules}) == 2

    def test_empty_file_is_an_empty_rule_set(self) -> None:
        """An empty file is valid and has no rules."""
        assert len(parse_rules("")) == 0

    def test_digest_follows_text(self) -> None:
        """The digest changes with the text and only with it."""
        assert parse_rules(GOOD).digest == parse_rules(GOOD).digest
        assert parse_rules(GOOD).digest != parse_rules(GOOD.replace("5m", "6m")).digest

    def test_default_rules_load(self) -> None:
        """The shipped rule set is valid and covers the operations baseline."""
        rs = default_rules()
        names = {r.alert for r in rs.rules}
        assert {"HostSilent", "CpuHigh", "MemoryHigh", "DiskSlow", "GpuTooHot",
                "GpuEccUncorrectable", "CpuUsageAnomaly", "FaultRepeated",
                "LogErrorBurst"} <= names
        disk = next(r for r in rs.rules if r.alert == "DiskSlow")
        assert isinstance(disk.condition, AllCond)
        assert rs.inhibit_rules

    def test_load_rules_reads_files(self, tmp_path: Path) -> None:
        """load_rules names the file in its problems."""
        f = tmp_path / "x.yaml"
        f.write_text(GOOD.replace("above:", "abov:"))
        with pytest.raises(RuleError) as e:
            load_rules(f)
        assert any(p.startswith(f"{f}:8: ") and "'abov'" in p for p in e.value.problems)


class TestProblems:
    def test_unknown_key_names_file_line_and_key(self) -> None:
        """A typo is an error with file, line, key and a suggestion."""
        (p,) = problems(GOOD.replace("smoothing:", "smothing:"))
        assert p.startswith("r.yaml:7: rule 'CpuHigh': unknown key 'smothing'")
        assert "did you mean 'smoothing'" in p

    def test_reports_every_problem_at_once(self) -> None:
        """All problems of a file are collected, in line order."""
        text = GOOD.replace("above: 80%", "above: lots").replace("for: 5m", "for: 5") \
            .replace("team: infra", "team: 3").replace("    rules:", "    rulez: 1\n    rules:")
        ps = problems(text)
        lines = [int(p.split(":")[1]) for p in ps]
        assert lines == sorted(lines)
        joined = "\n".join(ps)
        for fragment in ("unknown key 'rulez'", "above: expected a number",
                         "for: expected a duration", "labels.team: expected a string"):
            assert fragment in joined

    @pytest.mark.parametrize(("old", "new", "fragment"), [
        ("kind: threshold", "kind: thresh", "kind: expected one of"),
        ("clear: 75%", "clear: 85%", "clear (0.85) must not be above"),
        ("above: 80%", "below: 80%", "must not be below"),
        ("above: 80%", "above: 80%\n        below: 90%", "use only one of"),
        ("metric: cpu.usage", 'metric: "cpu usage"', "unexpected text"),
        ("smoothing: ewma", "smoothing: median", "smoothing: expected one of"),
        ("severity: warning", "severity: page", "labels.severity: expected one of"),
        ("team: infra", "alertname: x", "'alertname' is set by the engine"),
        ("team: infra", "team: '{{ $value }}'", "labels are not templated"),
        ("{{ $value | humanizePercentage }}", "{{ $value | shout }}", "unknown filter"),
        ("alert: CpuHigh", "alert: cpu high", "alert: missing or not a name"),
        ("for: 5m", "for: 5m\n        stale_after: 0s", "must be longer than zero"),
    ])
    def test_bad_values(self, old: str, new: str, fragment: str) -> None:
        """Each kind of bad value is reported with what was expected."""
        assert old in GOOD
        ps = problems(GOOD.replace(old, new, 1))
        assert any(fragment in p for p in ps), ps

    def test_duplicate_rule(self) -> None:
        """The same alert name with the same labels twice is refused."""
        ps = problems(GOOD + GOOD.split("rules:\n")[1])
        assert any("same name and labels" in p for p in ps)

    def test_duplicate_yaml_key(self) -> None:
        """A key given twice in one mapping is an error, not last-one-wins."""
        ps = problems(GOOD.replace("for: 5m", "for: 5m\n        for: 1m"))
        assert any("duplicate key 'for'" in p for p in ps)

    def test_yaml_syntax_error(self) -> None:
        """A YAML syntax error is one problem with its line."""
        (p,) = problems("groups:\n  - name: [x\n")
        assert re.match(r"r\.yaml:\d+: YAML: ", p)

    def test_top_level_must_be_a_mapping(self) -> None:
        """A list at the top is refused with a clear message."""
        (p,) = problems("- a\n- b\n")
        assert "expected a mapping with 'groups'" in p

    def test_inhibit_rule_problems(self) -> None:
        """Inhibit rules are validated like rules: keys, matchers, equal labels."""
        text = GOOD + ("inhibit_rules:\n  - source_matchers: ['alertname=\"A']\n"
                       "    equal: [host, '1x']\n    targets: []\n")
        joined = "\n".join(problems(text))
        for fragment in ("missing target_matchers", "unknown key 'targets'",
                         "unterminated quoted value", "'1x' is not a label name"):
            assert fragment in joined

