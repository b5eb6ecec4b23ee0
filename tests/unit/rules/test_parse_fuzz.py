"""Property tests of the rule-file parser: any input gives rules or a RuleError."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.rules import RuleError, RuleSet, parse_rules
from streams.rules.kinds.logrules import MATCH_KEYS as _MATCH_KEYS
from streams.rules.kinds.operands import OPERAND_KEYS as _OPERAND_KEYS
from streams.rules.parse import _COMMON_KEYS, _KIND_KEYS

KEYS = sorted(_COMMON_KEYS | frozenset().union(*_KIND_KEYS.values()) | _OPERAND_KEYS
              | _MATCH_KEYS | {"groups", "name", "rules", "inhibit_rules", "source_matchers",
                               "target_matchers", "equal", "severity", "summary"})
KINDS = ["threshold", "rate", "zscore", "anomaly", "absent", "all", "log_count", "log_burst"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
    st.sampled_from(["5m", "0s", "80%", "50M", "cpu.usage", "disk.*{device=~\"sd.*\"}",
                     'alertname="A"', "{{ $value }}", "{{ $values.x | humanize }}", "{{", "x",
                     "warning", "error", "*", "gpu_xid_*", "1h", "-1m", *KINDS]),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.sampled_from(KEYS), children, max_size=6)),
    max_leaves=30,
)


def rule_like() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"alert": st.sampled_from(["A", "B", "bad name"]), "kind": st.sampled_from(KINDS)},
        optional={k: values for k in KEYS if k not in ("alert", "kind")})


files = st.one_of(
    values,
    st.fixed_dictionaries({"groups": st.lists(st.fixed_dictionaries(
        {"name": st.sampled_from(["g", "h"]), "rules": st.lists(rule_like(), max_size=4)}),
        max_size=3)}, optional={"inhibit_rules": values}),
)


def outcome(text: str) -> RuleSet | list[str]:
    """The rule set, or the problems of the RuleError (any other exception escapes)."""
    try:
        return parse_rules(text, "f.yaml")
    except RuleError as e:
        return e.problems


@settings(max_examples=200, deadline=None)
@given(files)
def test_parser_never_crashes(doc: Any) -> None:
    """Whatever the structure, parse_rules returns a RuleSet or raises RuleError whose
    problems all name the file and a line."""
    result = outcome(yaml.safe_dump(doc, allow_unicode=True))
    if isinstance(result, list):
        assert result
        for p in result:
            assert p.startswith("f.yaml:")
            assert p.split(":")[1].isdigit()
    else:
        assert isinstance(result, RuleSet)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text(text: str) -> None:
    """Even text that is not YAML only ever yields RuleError."""
    result = outcome(text)
    if isinstance(result, list):
        assert all(p.startswith("f.yaml:") for p in result)
