"""Metric selectors and label matchers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.rules.matchers import Matcher, parse_matchers, parse_selector


class TestSelector:
    def test_exact_name(self) -> None:
        """A name without glob characters is indexed as an exact name."""
        s = parse_selector("cpu.usage")
        assert s.exact == "cpu.usage"
        assert s.name_matches("cpu.usage")
        assert not s.name_matches("cpu.usage2")

    def test_glob_name(self) -> None:
        """Globs match whole dotted names."""
        s = parse_selector("gpu.ecc.*_per_s")
        assert s.exact is None
        assert s.name_matches("gpu.ecc.dbe_per_s")
        assert not s.name_matches("gpu.ecc.dbe_volatile")

    @pytest.mark.parametrize(("text", "series", "expected"), [
        ('disk.busy{device="sda"}', {"device": "sda"}, True),
        ('disk.busy{device="sda"}', {"device": "sdb"}, False),
        ('disk.busy{device!="sda"}', {"device": "sdb"}, True),
        ('disk.busy{device=~"nvme.*"}', {"device": "nvme0n1"}, True),
        ('disk.busy{device=~"nvme"}', {"device": "nvme0n1"}, False),  # anchored
        ('disk.busy{device!~"loop.*"}', {"device": "loop0"}, False),
        ('disk.busy{mount=""}', {"device": "sda"}, True),  # absent label reads as ""
        ('disk.busy{rack="r1"}', {"device": "sda"}, True),  # host topology label
        ('disk.busy{host="h1", device=sda}', {"device": "sda"}, True),
    ])
    def test_label_matchers(self, text: str, series: dict[str, str], expected: bool) -> None:
        """Matchers see series labels, then host, then the host's topology labels."""
        assert parse_selector(text).labels_match(series, "h1", {"rack": "r1"}) is expected

    @pytest.mark.parametrize("bad", ["", "{a=\"b\"}", "cpu usage", 'cpu{a="b"', 'cpu{a~"b"}',
                                     'cpu{a=~"("}', 'cpu{1a="b"}', 'cpu{a="b"} x'])
    def test_malformed(self, bad: str) -> None:
        """Malformed selectors are errors, with the text quoted."""
        with pytest.raises(ValueError, match=r"expected|missing|unexpected|bad regular"):
            parse_selector(bad)


class TestMatchers:
    def test_alertmanager_forms(self) -> None:
        """Alertmanager matcher strings parse, with or without braces and spaces."""
        assert parse_matchers('alertname = "HostSilent"') == (
            Matcher("alertname", "=", "HostSilent"),)
        ms = parse_matchers('{severity=~"warning|critical", rack!="r9"}')
        assert [(m.label, m.op, m.value) for m in ms] == [
            ("severity", "=~", "warning|critical"), ("rack", "!=", "r9")]

    @given(label=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True),
           op=st.sampled_from(["=", "!=", "=~", "!~"]),
           value=st.text(st.characters(exclude_categories=["Cs"]), max_size=20))
    def test_str_round_trips(self, label: str, op: str, value: str) -> None:
        """A matcher printed and parsed again is the same matcher (quotes are escaped)."""
        if op in ("=~", "!~"):
            value = "x.*"
        m = parse_matchers(str(Matcher(label, op, value)))[0]
        assert (m.label, m.op, m.value) == (label, op, value)
