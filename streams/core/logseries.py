"""A host's application logs as metric series: lines, errors and new templates per second.

A service that starts throwing logs ERROR lines and stack traces at many times its usual
rate, or lines of templates never seen before; its callers often log fewer. Counted per
host between two of its metric batches and added to the next batch as samples

    log.lines_per_s           every processed line
    log.errors_per_s          lines at error level or worse (the record's severity: the
                              declared level, else what the text says; any log format)
    log.new_templates_per_s   lines that created a template in the miner

the series go through the metric path like any other: smoothed, windowed into host
contexts, and judged by threshold and anomaly rules against the host's own
baseline (deploy/rules/services.yaml). Riding on the metric batch keeps the batch's
dedup, event time and state handling: no second clock, nothing the worker does
differently from replay. Lines that arrive after the batch of their interval count
in the next interval. A host that has never logged gets no log series; one that has
gets them in every batch (zeros when quiet), so its baseline knows quiet too. They are
not stored as metric rows (the runtime leaves them out of the block it sends): the
metrics table holds what producers sent, and the logs table already has every line.
"""

from __future__ import annotations

import logging

from schemas.events import Sample
from streams.core.hoststate import HostState
from streams.logs.severity import rank

__all__ = ["LOG_SERIES", "count_line", "log_samples", "reset_counts"]

log = logging.getLogger(__name__)

LOG_SERIES = ("log.lines_per_s", "log.errors_per_s", "log.new_templates_per_s")
_ERROR_RANK = rank("error")


def count_line(state: HostState, severity: str | None, new_template: bool) -> None:
    """Count one processed log record of the host."""
    counts = state.log_counts
    if counts is None:
        counts = state.log_counts = [0, 0, 0]
    counts[0] += 1
    if severity is not None and rank(severity) <= _ERROR_RANK:
        counts[1] += 1
    if new_template:
        counts[2] += 1


def log_samples(state: HostState | None, ts: int) -> list[Sample]:
    """The samples to add to the host's batch at `ts` (none if it never logged, or if
    there is no earlier batch to measure the interval from)."""
    if state is None or state.log_counts is None or state.event_ms is None \
            or ts <= state.event_ms:
        return []
    seconds = (ts - state.event_ms) / 1000.0
    return [Sample(name=name, value=n / seconds)
            for name, n in zip(LOG_SERIES, state.log_counts, strict=True)]


def reset_counts(state: HostState) -> None:
    """Start the next interval (after a batch that carried the counts was processed)."""
    if state.log_counts is not None:
        state.log_counts = [0, 0, 0]
