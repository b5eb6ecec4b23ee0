"""Alerts and fault events -> incidents, per host, per rack and per configured group.

The correlator is a pure state machine over one plain-JSON state dict per state key
(the worker keeps one per rack in a changelogged table). It answers each event, and
each tick, with the incident messages to publish. Time is event time only: the same
events in the same order give the same messages, whatever the wall clock or the
cadence of ticks.

Scopes
- host: opened by the first warning/critical alert, hard fault or silence of a host.
  It is held back for `grace_ms` before it is published: if its rack turns out to be
  failing as a whole in that time, it is folded into the rack incident unseen.
- rack: opened when `rack_min_hosts` hosts (or `rack_min_fraction` of a rack of known
  size) of one rack are affected within `window_ms`; it names the rack as the suspect,
  takes over those hosts (host incidents already published are resolved with a pointer
  to it) and absorbs hosts of that rack that fail while it is open.
- group (each label in `group_labels`, e.g. job): opened when `group_min_hosts` hosts
  sharing a value are affected or report a job-wide symptom (NCCL) within the window;
  it points at the member whose host had the first hard fault.

State layout (kept small and bounded; see CorrelatorConfig's max_*):
  "wm": newest event time seen, "hosts": {host: {"seen", "rack", "aff", "sil", "p",
  "drv", "rk"}}, "alerts": {fingerprint: {"h", "s", "f", "t", "sum", "g"}},
  "faults": [[ts, host, class, gpu, rank, {label: value}, severity], ...], "grp": {"label=value":
  {host: last ts}}, "rs": {rack: size}, "inc": {"scope:value": incident},
  "ids": {"scope:value": opening time of its latest incident}, "nx": when the next
  incident is due, "np": when to prune next.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from schemas.events import Incident
from streams.core.timefmt import ms_to_rfc3339
from streams.incidents.config import SYMPTOM_FAULTS, CorrelatorConfig
from streams.incidents.events import SHARED, Signal, read_event
from streams.incidents.features import features_from_context
from streams.incidents.hints import (
    gpu_fault_hint,
    gpu_history_sentence,
    group_hint,
    host_hint,
    is_gpu_fault,
    rack_hint,
)
from streams.incidents.history import gpu_history, gpu_with_xid, likely_gpu
from streams.incidents.messages import incident_id, incident_message, max_severity
from streams.incidents.model import FaultModel, ModelError

__all__ = ["Correlator", "CorrelatorCounters"]

log = logging.getLogger(__name__)

Inc = dict[str, Any]
_MAX_RANKS_SHOWN = 64
_NEVER = 2**62
Status = Literal["open", "updated", "resolved"]


@dataclass
class CorrelatorCounters:
    """What the correlator did, for the books."""

    events: int = 0
    ignored: int = 0  # unusable events (bad shape): counted, never raised
    opened: int = 0
    updated: int = 0
    resolved: int = 0
    merged: int = 0  # host incidents folded into a rack incident (published or not)
    inhibited: int = 0  # group incidents not opened because a rack incident covers them
    evicted: int = 0  # hosts, alerts or faults dropped to keep the state bounded


def _load_default_model() -> FaultModel | None:
    try:
        return FaultModel.default()
    except (OSError, ModelError, ValueError) as e:
        log.warning("no default fault model (%s); incidents carry no fault probability", e)
        return None


class Correlator:
    """Groups correlation events into incidents; all state lives in the dict passed in."""

    def __init__(self, config: CorrelatorConfig | None = None,
                 model: FaultModel | None = None) -> None:
        self.config = config or CorrelatorConfig()
        self.model = model if model is not None else _load_default_model()
        self.counters = CorrelatorCounters()
        # Keys of the incidents this call changed: only they can need an `updated`, and
        # only a call that changed something needs the full due/resolve scan.
        self._touched: set[str] = set()

    # ------------------------------------------------------------------ entry points

    def on_event(self, state: dict[str, Any], event: dict[str, Any]) -> list[dict[str, Any]]:
        """One correlation event -> the incident messages it causes (state updated in place)."""
        self.counters.events += 1
        sig = read_event(event, self.config.group_labels)
        if isinstance(sig, str):
            self.counters.ignored += 1
            log.debug("correlation event ignored: %s", sig)
            return []
        st = _init(state)
        self._touched = set()
        out: list[Incident] = []
        now = max(st["wm"], sig.ts)
        self._advance(st, now, out)
        st["wm"] = now
        self._observe(st, sig)
        route = sig.route
        if route is None or route[0] == "rack":
            self._host_and_rack(st, sig, out)
        for label, value in sorted(sig.groups.items()):
            if route is None or route == (label, value):
                self._group(st, sig, label, value, out)
        self._emit_updates(st, now, out)
        self._advance(st, now, out)
        self._prune(st)
        return [dict(m) for m in out]

    def tick(self, state: dict[str, Any], now_ms: int) -> list[dict[str, Any]]:
        """Time passing: publish held-back incidents, resolve quiet ones."""
        st = _init(state)
        self._touched = set()
        out: list[Incident] = []
        now = max(st["wm"], now_ms)
        self._advance(st, now, out)
        st["wm"] = now
        self._prune(st)
        return [dict(m) for m in out]

    # ------------------------------------------------------------------ bookkeeping

    def _observe(self, st: dict[str, Any], sig: Signal) -> None:
        """Remember the host, its scores, its alerts and faults."""
        h = st["hosts"].setdefault(sig.host, {})
        h["seen"] = max(h.get("seen", 0), sig.ts)
        if sig.rack:
            h["rack"] = sig.rack
            if sig.rack_size:
                st["rs"][sig.rack] = sig.rack_size
        if sig.rank is not None:
            rk = h.setdefault("rk", {})
            for label, value in sig.groups.items():
                rk[f"{label}={value}"] = sig.rank
        if sig.affects_host:
            h["aff"] = max(h.get("aff", 0), sig.ts)
        signature = sig.signature
        if signature is not None:
            sg = h.setdefault("sg", {})
            sg[signature] = max(sg.get(signature, 0), sig.ts)
        if sig.silent:
            h["sil"] = max(h.get("sil", 0), sig.ts)
        if sig.network and sig.affects_host:
            h["net"] = max(h.get("net", 0), sig.ts)
        if self.model is not None and sig.context is not None:
            feats = features_from_context(sig.context)
            h["p"] = round(self.model.score(feats), 6)
            h["drv"] = self.model.contributions(feats)
        if sig.kind == "alert" and sig.fingerprint is not None:
            a = st["alerts"].get(sig.fingerprint)
            if sig.affects_host:
                st["alerts"][sig.fingerprint] = {"h": sig.host, "s": sig.severity, "f": True,
                                                 "t": sig.ts, "sum": sig.summary, "g": sig.gpu,
                                                 "gr": dict(sig.groups)}
            elif a is not None and not sig.firing:
                a["f"] = False
                a["t"] = max(a["t"], sig.ts)
                for key, inc in st["inc"].items():
                    if sig.fingerprint in inc["alerts"]:
                        inc["alerts"][sig.fingerprint] = False
                        inc["clr"] = max(inc.get("clr", 0), sig.ts)
                        self._touched.add(key)
        if sig.kind == "fault" and sig.fault_class is not None:
            st["faults"].append([sig.ts, sig.host, sig.fault_class, sig.gpu, sig.rank,
                                 dict(sig.groups), sig.severity])

    def _add_member(self, inc: Inc, sig: Signal) -> None:
        self._touched.add(f"{inc['scope']}:{inc['value']}")
        if sig.host not in inc["hosts"]:
            inc["hosts"].append(sig.host)
        inc.setdefault("at", {}).setdefault(sig.host, sig.ts)
        if sig.kind == "alert" and sig.fingerprint is not None and sig.affects_host:
            inc["alerts"][sig.fingerprint] = True
        if sig.fault_class is not None and sig.fault_class not in inc["faults"]:
            inc["faults"].append(sig.fault_class)
        if (sig.symptom or sig.affects_host) and sig.host not in inc.setdefault("mem", []):
            inc["mem"].append(sig.host)  # hosts that reported, as opposed to being named
        if sig.silent and sig.host not in inc.setdefault("sil", []):
            inc["sil"].append(sig.host)
        inc["sev"] = max_severity(inc["sev"], sig.severity)
        inc["last"] = max(inc["last"], sig.ts)

    def _new(self, st: dict[str, Any], scope: str, value: str, ts: int, due: int) -> Inc:
        key = f"{scope}:{value}"
        # The id hashes the opening time: never reuse the one of the previous incident of
        # the same scope (a new one may date its start back before that one closed).
        ts = max(ts, st["ids"].get(key, -1) + 1)
        due = max(due, ts)
        st["ids"][key] = ts
        inc: Inc = {"id": incident_id(scope, value, ts), "scope": scope, "value": value,
                    "opened": ts, "last": ts, "due": due, "pub": False, "sig": None,
                    "hosts": [], "alerts": {}, "faults": [], "sev": "info",
                    "suspect": f"{scope} {value}", "hint": "", "ev": {}, "prob": None}
        st["inc"][f"{scope}:{value}"] = inc
        self._touched.add(f"{scope}:{value}")
        return inc

    # ------------------------------------------------------------------ host and rack

    def _host_and_rack(self, st: dict[str, Any], sig: Signal, out: list[Incident]) -> None:
        if not sig.affects_host:
            return
        cfg = self.config
        inc = st["inc"].get(f"host:{sig.host}")
        rack_inc = st["inc"].get(f"rack:{sig.rack}") if sig.rack else None
        if rack_inc is not None and inc is None:
            # A host of a failing rack joins the rack incident; one that already has its
            # own (a different kind of trouble, not merged when the rack opened) keeps it.
            self._add_member(rack_inc, sig)
            self._refresh_rack(st, rack_inc)
            return
        if inc is None:
            inc = self._new(st, "host", sig.host, sig.ts, sig.ts + cfg.grace_ms)
        self._add_member(inc, sig)
        if sig.kind == "fault" and sig.fault_class is not None:
            first = inc.get("ff")
            if first is None or sig.ts < first["ts"]:
                inc["ff"] = {"ts": sig.ts, "class": sig.fault_class, "gpu": sig.gpu,
                             "pci": sig.pci}
                inc.pop("gh", None)
                if is_gpu_fault(sig.fault_class) and sig.gpu is not None:
                    inc["gh"] = gpu_history(sig.context, sig.gpu)
        elif sig.kind == "alert" and sig.gpu is not None and "gh" not in inc:
            inc["gh"] = gpu_history(sig.context, sig.gpu)
        self._place_gpu(st, inc, sig)
        self._refresh_host(st, inc)
        if sig.rack and rack_inc is None:
            self._maybe_rack(st, sig.rack, sig.ts, out)

    def _place_gpu(self, st: dict[str, Any], inc: Inc, sig: Signal) -> None:
        """Name the GPU of a GPU fault whose log line gave only a PCI address: from the
        host's `gpu.xid` samples (the agent reports the XID per GPU, usually a batch
        later), or from the one GPU the incident's alerts name."""
        first = inc.get("ff")
        if first is None or first["gpu"] is not None or not is_gpu_fault(first["class"]):
            return
        gpu: str | None = None
        how = ""
        if first["class"].startswith("gpu_xid_"):
            gpu = gpu_with_xid(sig.context, first["class"][len("gpu_xid_"):])
            how = "gpu.xid metric"
        if gpu is None:
            named = {st["alerts"][fp].get("g") for fp in inc["alerts"] if fp in st["alerts"]}
            named.discard(None)
            if len(named) == 1:
                gpu, how = named.pop(), "alert"
        if gpu is None and (likely := likely_gpu(sig.context, first["class"])) is not None:
            gpu, how = likely[0], f"metrics: {likely[1]}"
        if gpu is None:
            return
        first["gpu"] = gpu
        first["gpu_from"] = how
        if sig.context is not None:
            inc["gh"] = gpu_history(sig.context, gpu)

    def _maybe_rack(self, st: dict[str, Any], rack: str, now: int, out: list[Incident]) -> None:
        """Open a rack incident when enough hosts of the rack show the same kind of trouble
        (see Signal.signature) within the window."""
        cfg = self.config
        since = now - cfg.window_ms
        by_kind: dict[str, list[str]] = {}
        for name in sorted(st["hosts"]):
            h = st["hosts"][name]
            if h.get("rack") != rack:
                continue
            for kind, ts in h.get("sg", {}).items():
                if ts >= since:
                    by_kind.setdefault(kind, []).append(name)
        size = st["rs"].get(rack) or cfg.rack_sizes.get(rack)

        def enough(n: int) -> bool:
            return n >= cfg.rack_min_hosts or (
                size is not None and n >= cfg.rack_fraction_floor
                and n >= cfg.rack_min_fraction * size)

        kinds = sorted((k for k, hosts in by_kind.items() if enough(len(hosts))),
                       key=lambda k: (k != SHARED, -len(by_kind[k]), k))
        if not kinds:
            return
        common = kinds[0]
        affected = by_kind[common]
        first = min((self._host_first(st, h, since) for h in affected), default=now)
        inc = self._new(st, "rack", rack, first, first)
        absorbed: list[str] = []
        merged: list[Inc] = []
        for host in affected:
            inc["hosts"].append(host)
            hinc = st["inc"].pop(f"host:{host}", None)
            if hinc is None:
                inc.setdefault("at", {})[host] = st["hosts"][host]["aff"]
                continue
            self.counters.merged += 1
            inc["alerts"].update(hinc["alerts"])
            inc["faults"] += [f for f in hinc["faults"] if f not in inc["faults"]]
            inc["sil"] = sorted(set(inc.get("sil", [])) | set(hinc.get("sil", [])))
            inc["sev"] = max_severity(inc["sev"], hinc["sev"])
            inc["last"] = max(inc["last"], hinc["last"])
            inc.setdefault("at", {})[host] = hinc.get("at", {}).get(host, hinc["opened"])
            if hinc["pub"]:
                hinc["ev"] = {**hinc["ev"], "merged_into": inc["id"]}
                hinc["hint"] += f" Merged into rack incident {inc['id']} (rack {rack})."
                merged.append(hinc)
                absorbed.append(hinc["id"])
        for host in affected:  # silent hosts without a host incident of their own
            if st["hosts"][host].get("sil", -1) >= since and host not in inc.get("sil", []):
                inc.setdefault("sil", []).append(host)
        if size is not None:
            inc["ev"]["rack_size"] = size
        if common != SHARED:
            inc["ev"]["common"] = common.split(":", 1)[1]
        if absorbed:  # host incidents already published, now resolved into this one
            inc["ev"]["merged"] = absorbed
        self._refresh_rack(st, inc)
        self._publish(inc, "open", now, out)
        for hinc in merged:  # after the rack incident, so the pointer is never dangling
            self._publish(hinc, "resolved", now, out)

    def _host_first(self, st: dict[str, Any], host: str, since: int) -> int:
        inc = st["inc"].get(f"host:{host}")
        if inc is not None:
            return int(inc["opened"])
        return int(st["hosts"][host].get("aff", since))

    # ------------------------------------------------------------------ groups

    def _group(self, st: dict[str, Any], sig: Signal, label: str, value: str,
               out: list[Incident]) -> None:
        if not (sig.affects_host or sig.symptom):
            return
        cfg = self.config
        key = f"{label}={value}"
        active = st["grp"].setdefault(key, {})
        active[sig.host] = max(active.get(sig.host, 0), sig.ts)
        inc = st["inc"].get(f"{label}:{value}")
        if inc is not None:
            joined = sig.host not in inc["hosts"]
            self._add_member(inc, sig)
            if joined:  # its earlier faults may hold the first hard fault
                self._scan_first_fault(st, inc, label, value, host=sig.host)
            elif sig.kind == "fault" and sig.affects_host:
                self._scan_first_fault(st, inc, label, value, entries=[st["faults"][-1]])
            self._refresh_group(st, inc, label, value)
            return
        since = st["wm"] - cfg.window_ms
        members = sorted(h for h, t in active.items() if t >= since)
        if len(members) < cfg.group_min_hosts:
            return
        if _covered_by_racks(st, members):
            self.counters.inhibited += 1
            return
        first = min(active[h] for h in members)
        inc = self._new(st, label, value, first, first + cfg.grace_ms)
        for h in members:
            inc["hosts"].append(h)
            inc.setdefault("mem", []).append(h)
            inc.setdefault("at", {})[h] = active[h]
        for ts, _host, cls, _gpu, _rank, groups, sev in st["faults"]:
            if ts >= since and groups.get(label) == value and cls not in inc["faults"]:
                inc["faults"].append(cls)
                inc["sev"] = max_severity(inc["sev"], sev)
        for fp, a in sorted(st["alerts"].items()):
            if a["f"] and a["t"] >= since and a.get("gr", {}).get(label) == value:
                inc["alerts"][fp] = True
                inc["sev"] = max_severity(inc["sev"], a["s"])
        self._add_member(inc, sig)
        self._scan_first_fault(st, inc, label, value)
        self._refresh_group(st, inc, label, value)

    def _scan_first_fault(self, st: dict[str, Any], inc: Inc, label: str, value: str, *,
                          host: str | None = None,
                          entries: list[list[Any]] | None = None) -> None:
        """Fold remembered faults (all, one host's, or the given ones) into the group's
        earliest hard fault of a member ("ffe")."""
        since = inc["opened"] - self.config.fault_lookback_ms
        members = set(inc["hosts"])
        best: list[Any] | None = inc.get("ffe")
        for f in st["faults"] if entries is None else entries:
            ts, fhost, cls, _gpu, _rank, groups, sev = f
            if ts < since or cls in SYMPTOM_FAULTS or sev == "info":
                continue
            if host is not None and fhost != host:
                continue
            if groups.get(label) != value and fhost not in members:
                continue
            if best is None or (ts, fhost) < (best[0], best[1]):
                best = f
        inc["ffe"] = best

    def _first_hard_fault(self, st: dict[str, Any], inc: Inc, label: str,
                          value: str) -> dict[str, Any] | None:
        best = inc.get("ffe")
        if best is None:
            return None
        ts, host, cls, gpu, rank, _groups, _sev = best
        if rank is None:
            rank = st["hosts"].get(host, {}).get("rk", {}).get(f"{label}={value}")
        return {"host": host, "rank": rank, "gpu": gpu, "fault_class": cls,
                "at": ms_to_rfc3339(ts), "ts": ts}

    # ------------------------------------------------------------------ descriptions

    def _prob(self, st: dict[str, Any], inc: Inc) -> None:
        best: float | None = None
        drivers: dict[str, float] = {}
        for host in sorted(inc["hosts"]):
            p = st["hosts"].get(host, {}).get("p")
            if p is not None and (best is None or p > best):
                best, drivers = p, st["hosts"][host].get("drv", {})
        inc["prob"] = best
        if drivers:
            inc["ev"]["probability_drivers"] = drivers

    def _refresh_host(self, st: dict[str, Any], inc: Inc) -> None:
        host = inc["value"]
        first = inc.get("ff")
        gh = inc.get("gh")
        alerts = [st["alerts"][fp] for fp in sorted(inc["alerts"]) if fp in st["alerts"]]
        if first is not None and is_gpu_fault(first["class"]):
            gpu = first.get("gpu")
            inc["suspect"] = f"host {host} gpu {gpu}" if gpu is not None else f"host {host}"
            how = first.get("gpu_from") or ""
            inc["hint"] = gpu_fault_hint(host, gpu, first["class"], gh, first.get("pci"),
                                         how[len("metrics: "):] if how.startswith("metrics: ")
                                         else None)
            inc["ev"]["first_fault"] = {"fault_class": first["class"], "gpu": gpu,
                                        "at": ms_to_rfc3339(first["ts"])}
            for key in ("pci", "gpu_from"):
                if first.get(key) is not None:
                    inc["ev"]["first_fault"][key] = first[key]
        else:
            gpus = sorted({a["g"] for a in alerts if a.get("g") is not None})
            inc["suspect"] = f"host {host} gpu {gpus[0]}" if len(gpus) == 1 and first is None \
                else f"host {host}"
            inc["hint"] = host_hint(host, sorted(inc["faults"]),
                                    [a["sum"] for a in alerts], bool(inc.get("sil")))
            if gh is not None and first is None and len(gpus) == 1:
                inc["hint"] += " " + gpu_history_sentence(gpus[0], gh)
        if gh is not None:
            inc["ev"]["gpu_history"] = gh
        self._prob(st, inc)

    def _refresh_rack(self, st: dict[str, Any], inc: Inc) -> None:
        rack = inc["value"]
        at = inc.get("at", {})
        span = max(at.values()) - min(at.values()) if at else 0
        size = st["rs"].get(rack) or self.config.rack_sizes.get(rack)
        hosts = sorted(inc["hosts"])
        since = inc["opened"] - self.config.window_ms
        network = [h for h in hosts if st["hosts"].get(h, {}).get("net", -1) >= since]
        inc["suspect"] = f"rack {rack}"
        inc["hint"] = rack_hint(rack, hosts, sorted(inc.get("sil", [])), size, span,
                                inc["ev"].get("common"), network)
        inc["ev"]["affected_hosts"] = len(hosts)
        inc["ev"]["silent_hosts"] = sorted(inc.get("sil", []))
        inc["ev"]["span_ms"] = span
        self._prob(st, inc)

    def _refresh_group(self, st: dict[str, Any], inc: Inc, label: str, value: str) -> None:
        first = self._first_hard_fault(st, inc, label, value)
        symptoms = sorted(f for f in inc["faults"] if f in SYMPTOM_FAULTS)
        if first is not None:
            if first["host"] not in inc["hosts"]:
                inc["hosts"].append(first["host"])
            if first["fault_class"] not in inc["faults"]:
                inc["faults"].append(first["fault_class"])
            who = f"host {first['host']}"
            if first["gpu"] is not None:
                who += f" gpu {first['gpu']}"
            if first["rank"] is not None:
                who += f" (rank {first['rank']})"
            inc["suspect"] = who
            inc["ev"]["first_fault"] = {k: v for k, v in first.items() if k != "ts"}
        else:
            inc["suspect"] = f"{label} {value}"
            inc["ev"].pop("first_fault", None)
        ranks = {h: st["hosts"].get(h, {}).get("rk", {}).get(f"{label}={value}")
                 for h in sorted(inc["hosts"])}
        known = {h: r for h, r in ranks.items() if r is not None}
        inc["ev"]["ranks"] = dict(list(known.items())[:_MAX_RANKS_SHOWN])
        if len(known) > _MAX_RANKS_SHOWN:  # a 4096-rank job must not bloat every message
            inc["ev"]["ranks_not_shown"] = len(known) - _MAX_RANKS_SHOWN
        inc["hint"] = group_hint(label, value, sorted(inc.get("mem", [])), symptoms, first)
        self._prob(st, inc)

    # ------------------------------------------------------------------ publishing

    @staticmethod
    def _signature(inc: Inc) -> list[Any]:
        return [sorted(inc["hosts"]), sorted(inc["alerts"]), sorted(inc["faults"]),
                inc["suspect"], inc["sev"]]

    def _publish(self, inc: Inc, status: Status, at: int, out: list[Incident]) -> None:
        if status == "open":
            inc["pub"] = True
            self.counters.opened += 1
        elif status == "updated":
            self.counters.updated += 1
        else:
            self.counters.resolved += 1
        inc["sig"] = self._signature(inc)
        inc["sent"] = at
        inc.pop("ud", None)
        out.append(incident_message(inc, status, at))

    def _emit_updates(self, st: dict[str, Any], now: int, out: list[Incident]) -> None:
        """`updated` for published incidents whose members changed: now, or (to coalesce
        a burst of changes) `update_interval_ms` after the previous message."""
        for key in sorted(self._touched):
            inc = st["inc"].get(key)
            if inc is None or not inc["pub"] or self._signature(inc) == inc["sig"]:
                continue
            next_ok = inc.get("sent", 0) + self.config.update_interval_ms
            if now >= next_ok:
                self._publish(inc, "updated", now, out)
            else:
                inc["ud"] = next_ok

    def _advance(self, st: dict[str, Any], now: int, out: list[Incident]) -> None:
        """Publish incidents whose grace ended and resolve quiet ones, in time order."""
        cfg = self.config
        if not self._touched and now < st.get("nx", 0):
            return  # nothing changed since the last scan, and nothing is due yet
        due: list[tuple[int, int, str]] = []
        for key, inc in st["inc"].items():
            if not inc["pub"] and inc["due"] <= now:
                due.append((inc["due"], 0, key))
            if any(inc["alerts"].values()):
                ready = inc["last"] + cfg.max_open_ms
            else:
                ready = max(inc["last"] + cfg.window_ms, inc.get("clr", 0))
            if ready <= now:
                due.append((ready, 1, key))
            if inc.get("ud") is not None and inc["ud"] <= now:
                due.append((inc["ud"], 2, key))
        for at, what, key in sorted(due):
            inc = st["inc"].get(key)
            if inc is None:
                continue
            if what == 2:
                if inc.get("ud") == at and self._signature(inc) != inc["sig"]:
                    self._publish(inc, "updated", at, out)
                inc.pop("ud", None)
                continue
            if what == 0:
                if inc["scope"] not in ("host", "rack") and _covered_by_racks(st, inc["hosts"]):
                    del st["inc"][key]  # the rack failed under the group while it waited
                    self.counters.inhibited += 1
                    continue
                self._publish(inc, "open", at, out)
            else:
                if not inc["pub"]:
                    self._publish(inc, "open", min(at, inc["due"]), out)
                del st["inc"][key]
                self._publish(inc, "resolved", at, out)
        st["nx"] = min((self._next_action(inc) for inc in st["inc"].values()),
                       default=_NEVER)

    def _next_action(self, inc: Inc) -> int:
        """When this incident is next due to be published or resolved."""
        cfg = self.config
        if any(inc["alerts"].values()):
            ready = inc["last"] + cfg.max_open_ms
        else:
            ready = max(inc["last"] + cfg.window_ms, inc.get("clr", 0))
        nxt = ready if inc["pub"] else min(ready, inc["due"])
        if inc.get("ud") is not None:
            nxt = min(nxt, inc["ud"])
        return int(nxt)

    def _prune(self, st: dict[str, Any]) -> None:
        """Keep the state bounded: forget what no open incident and no window needs.

        What is forgotten is never read again, so pruning runs only every fifth of a
        window (or when a bound is exceeded) without changing any outcome.
        """
        cfg = self.config
        wm = st["wm"]
        over = (len(st["faults"]) > cfg.max_faults or len(st["alerts"]) > cfg.max_alerts
                or len(st["hosts"]) > cfg.max_hosts)
        if wm < st.get("np", 0) and not over:
            return
        st["np"] = wm + max(1, cfg.window_ms // 5)
        # Keep every fault a group incident could still look back to, open or yet to open,
        # so that when pruning happens (event or tick) never changes an outcome.
        keep_faults = wm - cfg.window_ms - cfg.fault_lookback_ms
        for inc in st["inc"].values():
            if inc["scope"] not in ("host", "rack"):
                keep_faults = min(keep_faults, inc["opened"] - cfg.fault_lookback_ms)
        faults = [f for f in st["faults"] if f[0] >= keep_faults]
        if len(faults) > cfg.max_faults:
            self.counters.evicted += len(faults) - cfg.max_faults
            faults = faults[-cfg.max_faults:]
        st["faults"] = faults
        in_incident = {h for inc in st["inc"].values() for h in inc["hosts"]}
        alerts_in = {fp for inc in st["inc"].values() for fp in inc["alerts"]}
        alerts = st["alerts"]
        for fp in [fp for fp, a in alerts.items()
                   if not a["f"] and a["t"] < wm - cfg.window_ms and fp not in alerts_in]:
            del alerts[fp]
        if len(alerts) > cfg.max_alerts:
            for fp in sorted(alerts, key=lambda k: (alerts[k]["t"], k))[
                    :len(alerts) - cfg.max_alerts]:
                del alerts[fp]
                self.counters.evicted += 1
        for key in list(st["grp"]):
            active = {h: t for h, t in st["grp"][key].items() if t >= wm - cfg.window_ms}
            if active:
                st["grp"][key] = active
            else:
                del st["grp"][key]
        old = wm - cfg.max_open_ms - cfg.window_ms
        st["ids"] = {k: t for k, t in st["ids"].items() if t >= old or k in st["inc"]}
        hosts = st["hosts"]
        for h in hosts.values():
            sg = h.get("sg")
            if sg:
                h["sg"] = {k: t for k, t in sg.items() if t >= wm - cfg.window_ms}
        if len(hosts) > cfg.max_hosts:
            spare = sorted((h for h in hosts if h not in in_incident),
                           key=lambda k: (hosts[k]["seen"], k))
            for h in spare[:len(hosts) - cfg.max_hosts]:
                del hosts[h]
                self.counters.evicted += 1


def _covered_by_racks(st: dict[str, Any], hosts: list[str]) -> bool:
    """Is every one of these hosts part of an open rack incident in this state?"""
    for h in hosts:
        rack = st["hosts"].get(h, {}).get("rack")
        inc = st["inc"].get(f"rack:{rack}") if rack else None
        if inc is None or h not in inc["hosts"]:
            return False
    return bool(hosts)


def _init(state: dict[str, Any]) -> dict[str, Any]:
    """Fill in a fresh (empty) state; an existing one is used as it is."""
    state.setdefault("wm", 0)
    for k in ("hosts", "alerts", "grp", "rs", "inc", "ids"):
        state.setdefault(k, {})
    state.setdefault("faults", [])
    return state
