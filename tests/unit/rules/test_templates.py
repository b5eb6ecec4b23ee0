"""The safe annotation templates."""

from __future__ import annotations

import pytest

from streams.rules.templates import compile_template, format_value


class TestRender:
    @pytest.mark.parametrize(("text", "expected"), [
        ("CPU {{ $value | humanizePercentage }}", "CPU 85.12%"),
        ("{{ $threshold }}", "0.8"),
        ("{{$labels.host}}/{{ $labels.device }}/{{ $labels.missing }}", "h1/sda/"),
        ('{{ $value | printf "%.1f" }}', "0.9"),
        ("{{ $values.tput | humanize }}B/s", "52MB/s"),
        ("{{ $values.tput | humanize1024 }}", "49.59Mi"),
        ("{{ $values.secs | humanizeDuration }}", "1h 1m 5s"),
        ("no variables", "no variables"),
    ])
    def test_substitutes(self, text: str, expected: str) -> None:
        """Variables and filters render like their Prometheus counterparts."""
        t = compile_template(text, frozenset({"tput", "secs"}))
        got = t.render({"host": "h1", "device": "sda"}, 0.8512, 0.8,
                       {"tput": 52e6, "secs": 3665.0})
        assert got == expected

    def test_plain_numbers(self) -> None:
        """Integral values print without a decimal point, others with 6 digits."""
        assert format_value(85.0) == "85"
        assert format_value(1 / 3) == "0.333333"
        assert format_value(None) == "NaN"


class TestCompileErrors:
    @pytest.mark.parametrize(("text", "fragment"), [
        ("{{ $foo }}", "unknown template expression"),
        ("{{ .Value }}", "unknown template expression"),
        ("{{ $value | eval }}", "unknown filter"),
        ('{{ $value | printf "%n" }}', "unknown filter"),
        ("{{ $labels.x | humanize }}", "filters apply to numbers"),
        ("{{ $values.nope }}", "is not a condition"),
        ("open {{ $value", "unbalanced"),
        ("{{ $value | humanize | humanize }}", "only one filter"),
    ])
    def test_rejects(self, text: str, fragment: str) -> None:
        """Anything outside the tiny vocabulary is a load-time error, never evaluated."""
        with pytest.raises(ValueError, match=fragment):
            compile_template(text)


class TestRuleDurations:
    def test_texts_take_durations_from_the_rule(self) -> None:
        """$for, $duration and $window render the rule's own settings, so a demo's 20 s
        `for` reads "20s" and an absence's resolve message says the same as its firing."""
        from streams.rules import parse_rules
        from streams.rules.messages import build_message

        rs = parse_rules(
            "groups:\n  - name: g\n    rules:\n"
            "      - alert: Hot\n        kind: threshold\n        metric: cpu.usage\n"
            "        above: 0.8\n        for: 20s\n"
            "        annotations: {description: 'above for {{ $for | humanizeDuration }}'}\n"
            "      - alert: Quiet\n        kind: absent\n        duration: 90s\n"
            "        annotations:\n"
            "          summary: 'silent for over {{ $duration | humanizeDuration }}'\n")
        hot, quiet = rs.rules
        msg = build_message(hot, "h", {}, "fp", "firing", 0.9, 0.8, 0, None, 0)
        assert msg["annotations"]["description"] == "above for 20s"
        for status, value in (("firing", 95.0), ("resolved", 0.0)):
            msg = build_message(quiet, "h", {}, "fp", status, value, None, 0, 0, 0)
            assert msg["annotations"]["summary"] == "silent for over 1m 30s"
