"""Keeping a correlator state bounded: forget what no open incident and no window needs.

What is forgotten is never read again, so pruning runs only every fifth of a window
(or when a bound is exceeded) without changing any outcome. Hosts, alerts and faults
beyond the configured bounds are evicted oldest first and counted.
"""

from __future__ import annotations

import logging

from streams.incidents.lifecycle import Step

__all__ = ["prune"]

log = logging.getLogger(__name__)


def prune(step: Step) -> None:
    """Drop old faults, resolved alerts, quiet groups, old ids, unneeded hosts."""
    st, cfg = step.st, step.config
    wm = st.watermark_ms
    over = (len(st.faults) > cfg.max_faults or len(st.alerts) > cfg.max_alerts
            or len(st.hosts) > cfg.max_hosts)
    if wm < (st.next_prune_ms or 0) and not over:
        return
    st.next_prune_ms = wm + max(1, cfg.window_ms // 5)
    _prune_faults(step)
    _prune_alerts(step)
    for key in list(st.groups):
        active = {h: t for h, t in st.groups[key].items() if t >= wm - cfg.window_ms}
        if active:
            st.groups[key] = active
        else:
            del st.groups[key]
    old = wm - cfg.max_open_ms - cfg.window_ms
    open_ids = {f"{i.scope}:{i.value}" for i in st.incidents.values()}
    st.ids = {k: t for k, t in st.ids.items() if t >= old or k in open_ids}
    if st.traces:  # ids older than the trace window link nothing any more
        st.traces = {k: v for k, v in st.traces.items() if v[0] >= wm - cfg.trace_window_ms}
    for h in st.hosts.values():
        if h.signatures:
            h.signatures = {k: t for k, t in h.signatures.items() if t >= wm - cfg.window_ms}
    _prune_hosts(step)


def _prune_faults(step: Step) -> None:
    # Keep every fault a group incident could still look back to, open or yet to open,
    # so that when pruning happens (event or tick) never changes an outcome.
    st, cfg = step.st, step.config
    keep = st.watermark_ms - cfg.window_ms - cfg.fault_lookback_ms
    for inc in st.incidents.values():
        if inc.scope not in ("host", "service", *cfg.place_labels):
            keep = min(keep, inc.opened_ms - cfg.fault_lookback_ms)
    faults = [f for f in st.faults if f[0] >= keep]
    if len(faults) > cfg.max_faults:
        step.counters.evicted += len(faults) - cfg.max_faults
        faults = faults[-cfg.max_faults:]
    st.faults = faults


def _prune_alerts(step: Step) -> None:
    st, cfg = step.st, step.config
    alerts_in = {fp for inc in st.incidents.values() for fp in inc.alerts}
    alerts = st.alerts
    for fp in [fp for fp, a in alerts.items()
               if not a.firing and a.ts < st.watermark_ms - cfg.window_ms
               and fp not in alerts_in]:
        del alerts[fp]
    if len(alerts) > cfg.max_alerts:
        for fp in sorted(alerts, key=lambda k: (alerts[k].ts, k))[
                :len(alerts) - cfg.max_alerts]:
            del alerts[fp]
            step.counters.evicted += 1


def _prune_hosts(step: Step) -> None:
    st, cfg = step.st, step.config
    hosts = st.hosts
    if len(hosts) <= cfg.max_hosts:
        return
    in_incident = {h for inc in st.incidents.values() for h in inc.hosts}
    spare = sorted((h for h in hosts if h not in in_incident),
                   key=lambda k: (hosts[k].seen_ms, k))
    for h in spare[:len(hosts) - cfg.max_hosts]:
        del hosts[h]
        step.counters.evicted += 1
