"""Alert rules: a safe YAML rule language, its engine and the alert lifecycle.

    rules = load_rules("rules.yaml")          # or default_rules(); RuleError lists problems
    engine = RuleEngine(rules)
    msgs = engine.evaluate(state, host, host_labels, points, now_ms)   # metric batch
    msgs += engine.evaluate_logs(state, host, host_labels, records, now_ms)
    msgs += engine.tick(state, host, host_labels, now_ms)            # periodically

`state` is one host's plain-dict rule state (JSON-serialisable, mutated in place);
messages are `rackwatch.alert/v1` dicts. See docs/rules.md.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from streams.rules.engine import STATE_VERSION, RuleEngine, series_key
from streams.rules.model import InhibitRule, Point, Rule, RuleError, RuleSet
from streams.rules.parse import load_rules, parse_rules
from streams.rules.reload import RulesWatcher

DEFAULT_RULES_PATH = Path(__file__).with_name("default_rules.yaml")

__all__ = [
    "DEFAULT_RULES_PATH",
    "STATE_VERSION",
    "InhibitRule",
    "Point",
    "Rule",
    "RuleEngine",
    "RuleError",
    "RuleSet",
    "RulesWatcher",
    "default_rules",
    "load_rules",
    "parse_rules",
    "series_key",
]


@lru_cache(maxsize=1)
def default_rules() -> RuleSet:
    """The rule set shipped as streams/rules/default_rules.yaml (parsed once)."""
    return load_rules(DEFAULT_RULES_PATH)
