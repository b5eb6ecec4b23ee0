"""Rules that are valid but probably wrong: metric names no producer sends.

A rule on `fs.usag` parses, loads and never fires. Metric names outside the catalogue
are legitimate (a producer of your own, an exporter's metric passed through), so this
is a warning with the nearest catalogued names, and an error only when asked
(`rackwatch rules check --strict`).
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterator

from schemas.catalogue import ALIASES, CATALOGUE
from streams.rules.kinds import CONDITION_KINDS
from streams.rules.matchers import Selector
from streams.rules.model import Rule, RuleSet

__all__ = ["unknown_metrics"]

_KNOWN = sorted(set(CATALOGUE) | set(ALIASES))


def _selectors(rule: Rule) -> Iterator[Selector]:
    """The metric selectors the rule's evaluator hooks on (none for host absence and logs)."""
    for hook in CONDITION_KINDS[rule.kind].build(rule, None).hooks():
        yield hook.selector


def unknown_metrics(rules: RuleSet) -> list[str]:
    """One line per metric a rule names that the catalogue does not know, as
    `FILE:LINE: rule NAME: metric X is not in the metric catalogue (did you mean ...?)`."""
    out = []
    for rule in rules.rules:
        for sel in _selectors(rule):
            if sel.exact is not None:
                if sel.exact in CATALOGUE or sel.exact in ALIASES:
                    continue
                near = difflib.get_close_matches(sel.exact, _KNOWN, n=3, cutoff=0.75)
            elif any(fnmatch.fnmatchcase(k, sel.name) for k in _KNOWN):
                continue
            else:
                near = []
            hint = f" (did you mean {', '.join(near)}?)" if near else \
                " (fine if a producer of yours sends it)"
            out.append(f"{rule.origin}: rule {rule.alert}: metric {sel.name!r} is not in the "
                       f"metric catalogue{hint}")
    return out
