"""Host incidents: one host's own trouble, and the GPU it points at.

A host incident opens on the first warning/critical alert, hard fault or silence of a
host, and is held back for `grace_ms`: if its place (rack) turns out to be failing as a
whole in that time, the place incident takes it over unseen (streams.incidents.placescope).
A GPU fault names the GPU, from the log line, the `gpu.xid` metric or the alerts, and
the hint tells the GPU's history before it.
"""

from __future__ import annotations

import logging

from streams.core.timefmt import ms_to_rfc3339
from streams.incidents.events import Signal
from streams.incidents.hints import (
    gpu_fault_hint,
    gpu_history_sentence,
    host_hint,
    is_gpu_fault,
)
from streams.incidents.history import gpu_history, gpu_with_xid, likely_gpu
from streams.incidents.lifecycle import Step, add_member, new_incident, refresh_probability
from streams.incidents.placescope import maybe_place, refresh_place
from streams.incidents.state import IncidentState

__all__ = ["on_host_signal", "refresh_host"]

log = logging.getLogger(__name__)


def on_host_signal(step: Step, sig: Signal) -> None:
    """A signal that says the host is unwell: its own incident, or its place's."""
    if not sig.affects_host:
        return
    st, cfg = step.st, step.config
    inc = st.incidents.get(f"host:{sig.host}")
    place_key = f"{sig.place_label}:{sig.place}" if sig.place else None
    place_inc = st.incidents.get(place_key) if place_key else None
    if place_inc is not None and inc is None:
        # A host of a failing place joins the place incident; one that already has its
        # own (a different kind of trouble, not merged when the place opened) keeps it.
        add_member(step, place_inc, sig)
        refresh_place(step, place_inc)
        return
    if inc is None:
        inc = new_incident(step, "host", sig.host, sig.ts, sig.ts + cfg.grace_ms)
    add_member(step, inc, sig)
    if sig.kind == "fault" and sig.fault_class is not None:
        first = inc.first_fault
        if first is None or sig.ts < first["ts"]:
            inc.first_fault = {"ts": sig.ts, "class": sig.fault_class, "gpu": sig.gpu,
                               "pci": sig.pci}
            inc.gpu_history = None
            if is_gpu_fault(sig.fault_class) and sig.gpu is not None:
                inc.gpu_history = gpu_history(sig.context, sig.gpu)
    elif sig.kind == "alert" and sig.gpu is not None and inc.gpu_history is None:
        inc.gpu_history = gpu_history(sig.context, sig.gpu)
    _place_gpu(step, inc, sig)
    refresh_host(step, inc)
    if sig.place and place_inc is None:
        maybe_place(step, sig.place_label, sig.place, sig.ts)


def _place_gpu(step: Step, inc: IncidentState, sig: Signal) -> None:
    """Name the GPU of a GPU fault whose log line gave only a PCI address: from the
    host's `gpu.xid` samples (the agent reports the XID per GPU, usually a batch
    later), or from the one GPU the incident's alerts name."""
    first = inc.first_fault
    if first is None or first["gpu"] is not None or not is_gpu_fault(first["class"]):
        return
    gpu: str | None = None
    how = ""
    if first["class"].startswith("gpu_xid_"):
        gpu = gpu_with_xid(sig.context, first["class"][len("gpu_xid_"):])
        how = "gpu.xid metric"
    if gpu is None:
        alerts = step.st.alerts
        named = {alerts[fp].gpu for fp in inc.alerts if fp in alerts}
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
        inc.gpu_history = gpu_history(sig.context, gpu)


def refresh_host(step: Step, inc: IncidentState) -> None:
    """Suspect, hint and evidence of a host incident from what it holds now."""
    host = inc.value
    first = inc.first_fault
    gh = inc.gpu_history
    alerts = [step.st.alerts[fp] for fp in sorted(inc.alerts) if fp in step.st.alerts]
    if first is not None and is_gpu_fault(first["class"]):
        gpu = first.get("gpu")
        inc.suspect = f"host {host} gpu {gpu}" if gpu is not None else f"host {host}"
        how = first.get("gpu_from") or ""
        inc.hint = gpu_fault_hint(host, gpu, first["class"], gh, first.get("pci"),
                                  how[len("metrics: "):] if how.startswith("metrics: ")
                                  else None)
        inc.evidence["first_fault"] = {"fault_class": first["class"], "gpu": gpu,
                                       "at": ms_to_rfc3339(first["ts"])}
        for key in ("pci", "gpu_from"):
            if first.get(key) is not None:
                inc.evidence["first_fault"][key] = first[key]
    else:
        gpus = sorted({a.gpu for a in alerts if a.gpu is not None})
        inc.suspect = f"host {host} gpu {gpus[0]}" if len(gpus) == 1 and first is None \
            else f"host {host}"
        inc.hint = host_hint(host, sorted(inc.faults), [a.summary for a in alerts],
                             bool(inc.silent))
        if gh is not None and first is None and len(gpus) == 1:
            inc.hint += " " + gpu_history_sentence(gpus[0], gh)
    if gh is not None:
        inc.evidence["gpu_history"] = gh
    refresh_probability(step, inc)
