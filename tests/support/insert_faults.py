"""Planned insert failures, so tests and drills can make the store fail on purpose.

A Store given an InsertFaults consults it around every insert: "before" failures model
an insert that never reached ClickHouse, "after" failures one that did reach it but whose
answer was lost (a timeout, a crash right after), the case deduplication tokens exist
for; `down()` models an outage until `up()`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

__all__ = ["InjectedFault", "InsertFaults", "PoisonedRow"]

When = Literal["before", "after"]


class InjectedFault(OperationalError):
    """A transient-looking failure raised on purpose (a lost connection)."""


class PoisonedRow(DatabaseError):
    """A data error raised on purpose: the store refuses a row (INCORRECT_DATA)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"Code: 117. {message}", code=117, name="INCORRECT_DATA")


@dataclass
class _Plan:
    when: When
    table: str | None
    times: int
    error: BaseException | None


class InsertFaults:
    """Thread-safe: the sink inserts from its writer thread while a test plans faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: list[_Plan] = []
        self._down = False
        self._poison: dict[str, str] = {}
        self.injected = 0
        self.inserts_reached = 0  # inserts that got to the store, whatever was reported back

    def fail(self, *, when: When = "before", table: str | None = None, times: int = 1,
             error: BaseException | None = None) -> None:
        """Fail the next `times` inserts into `table` (any table when None)."""
        with self._lock:
            self._plans.append(_Plan(when, table, times, error))

    def poison(self, table: str, marker: str) -> None:
        """Refuse, as bad data, every insert into `table` with a string containing
        `marker` (so bisection can find the rows)."""
        with self._lock:
            self._poison[table] = marker

    def down(self) -> None:
        with self._lock:
            self._down = True

    def up(self) -> None:
        with self._lock:
            self._down = False

    @property
    def is_down(self) -> bool:
        return self._down

    def check(self, when: When, table: str,
              columns: Sequence[Sequence[Any]] | None = None) -> None:
        """Raise the planned failure for this point of this insert, if any."""
        with self._lock:
            marker = self._poison.get(table)
            if when == "before" and marker is not None and columns is not None and any(
                    isinstance(v, str) and marker in v for col in columns for v in col):
                self.injected += 1
                raise PoisonedRow(f"injected: a row of {table} contains {marker!r}")
            if when == "after":
                self.inserts_reached += 1
            if self._down and when == "before":
                self.injected += 1
                raise InjectedFault(f"injected outage: store unreachable ({table})")
            for plan in self._plans:
                if plan.when == when and plan.table in (None, table) and plan.times > 0:
                    plan.times -= 1
                    self.injected += 1
                    if plan.times == 0:
                        self._plans.remove(plan)
                    raise plan.error or InjectedFault(
                        f"injected fault {when} insert into {table}: connection reset")
