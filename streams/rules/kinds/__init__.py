"""The condition kinds of the rule language, one module each, behind one protocol.

    threshold  rate  zscore  anomaly  absent  all (compound)  log_count  log_burst

Each module holds a kind's keys, its parser and its evaluator (see kinds.base for
the protocol the engine speaks to them); `operands` and `logrules` hold what the
kinds of a family share. The parser (streams.rules.parse) and the engine
(streams.rules.engine) find a kind here by the name a rule file gives.
"""

from __future__ import annotations

from types import MappingProxyType

from streams.rules.kinds import (
    absent,
    anomaly,
    compound,
    log_burst,
    log_count,
    rate,
    threshold,
    zscore,
)
from streams.rules.kinds.base import ConditionKind, Evaluator, Hook

__all__ = ["CONDITION_KINDS", "ConditionKind", "Evaluator", "Hook"]

CONDITION_KINDS = MappingProxyType({k.name: k for k in (
    threshold.KIND, rate.KIND, zscore.KIND, anomaly.KIND, absent.KIND, compound.KIND,
    log_count.KIND, log_burst.KIND)})
