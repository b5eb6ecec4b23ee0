"""The value converters every parser of the rule language shares."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from streams.rules.fields import (
    Ctx,
    boolean,
    choice,
    label_list,
    matcher_list,
    metric_selector,
    nonneg_duration,
    nonneg_number,
    pos_duration,
    pos_number,
    string,
)
from streams.rules.yamlsafe import load_located

GOOD: list[tuple[Callable[[Any], Any], Any, Any]] = [
    (string, "x", "x"),
    (boolean, False, False),
    (nonneg_duration, "0s", 0),
    (pos_duration, "1m30s", 90_000),
    (nonneg_number, "0", 0.0),
    (pos_number, "50M", 50e6),
    (label_list, "device", ("device",)),
    (label_list, ["a", "b"], ("a", "b")),
    (choice(("up", "down")), "down", "down"),
]

BAD: list[tuple[Callable[[Any], Any], Any, str]] = [
    (string, 3, "expected a string"),
    (boolean, "yes", "expected true or false"),
    (pos_duration, "0s", "must be longer than zero"),
    (nonneg_number, -1, "must not be negative"),
    (pos_number, 0, "must be greater than zero"),
    (label_list, [], "non-empty list of label names"),
    (label_list, ["1x"], "'1x' is not a label name"),
    (label_list, ["a", "a"], "repeated label name"),
    (choice(("up", "down")), "sideways", "expected one of up, down"),
    (metric_selector, 5, "expected a metric selector string"),
    (matcher_list, [], "expected matcher strings"),
]


class TestConverters:
    """A raw YAML value in, the checked value out, or ValueError with the reason."""

    @pytest.mark.parametrize(("conv", "raw", "value"), GOOD)
    def test_accepts(self, conv: Callable[[Any], Any], raw: Any, value: Any) -> None:
        """A valid value converts to its resolved form."""
        assert conv(raw) == value

    @pytest.mark.parametrize(("conv", "raw", "fragment"), BAD)
    def test_refuses(self, conv: Callable[[Any], Any], raw: Any, fragment: str) -> None:
        """An invalid value is refused with what was expected."""
        with pytest.raises(ValueError, match=re.escape(fragment)):
            conv(raw)


class TestCtx:
    """Problems collected, not raised: each on its key's line, in file order."""

    def test_get_turns_a_refusal_into_a_problem(self) -> None:
        """A bad value is a problem naming file, line, place and key; the default stands."""
        data, _ = load_located("a: 1\nb: -2\n")
        ctx = Ctx("f.yaml")
        assert ctx.get(data, "b", "rule 'X'", pos_number, 7.0) == 7.0
        assert ctx.get(data, "c", "rule 'X'", pos_number, 7.0) == 7.0  # absent: no problem
        assert ctx.problems == ["f.yaml:2: rule 'X': b: must be greater than zero, got -2"]

    def test_problems_are_in_line_order(self) -> None:
        """Problems found out of order are reported in file order, stable per line."""
        ctx = Ctx("f")
        for line, what in ((9, "a"), (2, "b"), (9, "c")):
            ctx.err(line, "w", what)
        assert ctx.problems == ["f:2: w: b", "f:9: w: a", "f:9: w: c"]

    def test_closed_keys_suggest_the_nearest(self) -> None:
        """An unknown key names the nearest allowed one, or lists them all."""
        data, _ = load_located("smothing: x\nzzz: 1\n")
        ctx = Ctx("f")
        ctx.closed_keys(data, frozenset({"smoothing", "metric"}), "w")
        assert ctx.problems == ["f:1: w: unknown key 'smothing' (did you mean 'smoothing'?)",
                                "f:2: w: unknown key 'zzz' (allowed: metric, smoothing)"]
