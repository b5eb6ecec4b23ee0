"""Root-cause hints: one or two sentences an operator can act on.

The hint says what we believe failed and why, from the evidence the correlator has:
the fault classes, the GPU's preceding history, the order in which hosts failed.
Sentences are built from data only, so the same evidence always reads the same.
"""

from __future__ import annotations

import logging
from typing import Any

from streams.logs.catalogue import GENERIC_PREFIX

__all__ = [
    "GENERIC_PREFIX",
    "describe_fault",
    "gpu_fault_hint",
    "gpu_history_sentence",
    "group_hint",
    "host_hint",
    "is_gpu_fault",
    "rack_hint",
]

log = logging.getLogger(__name__)

_FAULTS = {
    "gpu_ecc_dbe": "a double-bit ECC error",
    "nvlink_error": "NVLink errors",
    "oom_kill": "an out-of-memory kill",
    "disk_io_error": "disk I/O errors",
    "nic_link_down": "a NIC link going down",
    "ib_error": "InfiniBand errors",
    "nccl_timeout": "an NCCL timeout",
    "nccl_error": "an NCCL error",
    "soft_lockup": "a CPU soft lockup",
    "hung_task": "a hung task",
    "kernel_panic": "a kernel panic",
    "mce": "a machine-check exception",
}

# Fault classes of the generic layer (streams.logs.generic) are GENERIC_PREFIX + kind.
_GENERIC = {
    "security": "authentication or access failures", "memory": "memory failures",
    "hardware": "hardware errors", "storage": "storage errors", "timeout": "timeouts",
    "network": "network or connection failures", "process": "process crashes or exceptions",
    "error": "errors",
}

# The XIDs operators meet most often, after NVIDIA's XID catalogue.
_XIDS = {
    "13": "graphics engine exception",
    "31": "GPU memory page fault",
    "43": "GPU stopped processing",
    "45": "preemptive cleanup",
    "48": "double-bit ECC error",
    "61": "internal micro-controller breakpoint",
    "62": "internal micro-controller halt",
    "63": "ECC page retirement or row remapping",
    "64": "ECC page retirement or row remapping failure",
    "74": "NVLink error",
    "79": "GPU has fallen off the bus",
    "92": "high single-bit ECC error rate",
    "94": "contained ECC error",
    "95": "uncontained ECC error",
    "119": "GSP RPC timeout",
    "120": "GSP error",
}


def describe_fault(fault_class: str) -> str:
    """A fault class as a phrase: "gpu_xid_79" -> "XID 79 (GPU has fallen off the bus)"."""
    if fault_class.startswith("gpu_xid_"):
        code = fault_class[len("gpu_xid_"):]
        meaning = _XIDS.get(code)
        return f"XID {code} ({meaning})" if meaning else f"XID {code}"
    if fault_class.startswith(GENERIC_PREFIX):
        kind = fault_class[len(GENERIC_PREFIX):]
        return f"{_GENERIC.get(kind, kind.replace('_', ' '))} in its logs"
    return _FAULTS.get(fault_class, fault_class.replace("_", " "))


def is_gpu_fault(fault_class: str) -> bool:
    """Faults that name one GPU as the failing part."""
    return fault_class.startswith("gpu_") or fault_class == "nvlink_error"


def _minutes(n: int) -> str:
    return f"{n} minute" if n == 1 else f"{n} minutes"


def _history_clause(h: dict[str, Any]) -> str:
    temp = h.get("temperature_c") or {}
    power = h.get("power_w") or {}
    parts: list[str] = []
    total = int(h.get("minutes", 0))
    if h.get("thermal_excursion"):
        detail = [f"peak {temp['max']:.0f} °C"] if "max" in temp else []
        throttled = int(h.get("thermal_throttle_minutes", 0))
        if throttled:
            detail.append(f"thermally throttled in {throttled} of the last {total} minutes")
        parts.append(f"{_minutes(int(h['thermal_excursion_minutes']))} of thermal excursion"
                     + (f" ({', '.join(detail)})" if detail else ""))
    if h.get("power_excursion"):
        peak = f" (peak {power['max']:.0f} W)" if "max" in power else ""
        parts.append(f"{_minutes(int(h['power_excursion_minutes']))} of power excursion{peak}")
    if parts:
        text = "after " + " and ".join(parts)
    else:
        seen = []
        if "max" in temp:
            seen.append(f"peak {temp['max']:.0f} °C")
        if "max" in power:
            seen.append(f"peak {power['max']:.0f} W")
        text = (f"with no thermal or power excursion in the preceding "
                f"{_minutes(int(h.get('minutes', 0)))}"
                + (f" ({', '.join(seen)})" if seen else ""))
    extras = []
    rise = temp.get("last_avg", 0.0) - temp.get("low_avg", temp.get("last_avg", 0.0))
    if rise >= 4.0 and not h.get("thermal_excursion"):
        extras.append(f"its temperature had risen by {rise:.0f} °C")
    if h.get("clock_drop"):
        extras.append("its SM clock dropped")
    dbe = h.get("ecc_dbe_delta") or 0
    if dbe > 0:
        extras.append(f"{dbe:g} new double-bit ECC error{'s' if dbe != 1 else ''}")
    if extras:
        text += "; " + " and ".join(extras)
    return text


def gpu_fault_hint(host: str, gpu: str | None, fault_class: str,
                   history: dict[str, Any] | None, pci: str | None = None,
                   inferred: str | None = None) -> str:
    """Hint for a GPU fault, with the GPU's preceding thermal/power history when known.

    `inferred` says why a GPU the log line did not name was picked (its metrics).
    """
    notes = [f"PCI {pci}"] if pci else []
    if inferred:
        notes.append(f"picked by {inferred}")
    at = f" ({'; '.join(notes)})" if notes else ""
    what = f"GPU {gpu}{at} on host {host}" if gpu is not None else f"A GPU{at} on host {host}"
    head = f"{what} reported {describe_fault(fault_class)}"
    if history is None:
        return head + "; no metric history of that GPU was available."
    return f"{head} {_history_clause(history)}."


def gpu_history_sentence(gpu: str, history: dict[str, Any]) -> str:
    """The GPU's recent history on its own: "GPU 3 was alerting after ..."."""
    return f"GPU {gpu} is alerting {_history_clause(history)}."


def host_hint(host: str, fault_classes: list[str], alert_summaries: list[str],
              silent: bool) -> str:
    """Hint for a host incident that is not a GPU fault."""
    if fault_classes:
        faults = ", ".join(describe_fault(f) for f in fault_classes)
        text = f"Host {host} reported {faults}."
    elif silent:
        text = f"Host {host} stopped reporting."
    else:
        text = f"Host {host} is alerting."
    if alert_summaries:
        text += " Alerts: " + "; ".join(alert_summaries[:3]) + "."
    return text


def rack_hint(rack: str, hosts: list[str], silent: list[str], rack_size: int | None,
              span_ms: int, common: str | None = None,
              network: list[str] | None = None, place_label: str = "rack") -> str:
    """Hint for several hosts of one rack failing together: shared infrastructure.

    `common` is the one device-level problem they share (a fault class or an alert rule),
    when that is what made them a rack incident; `network` the hosts that lost links.
    Another place (`place_label`: a node, a zone) reads the same with its own name.
    """
    if place_label != "rack":
        return _place_hint(place_label, rack, hosts, silent, span_ms, common)
    network = network or []
    of = f" of {rack_size}" if rack_size else ""
    span = max(1, round(span_ms / 1000))
    listed = f"({', '.join(hosts[:8])}{', ...' if len(hosts) > 8 else ''})"
    if common is not None:
        what = describe_fault(common) if common.islower() and "_" in common else common
        thermal = any(w in common.lower() for w in ("therm", "temp", "hot", "heat"))
        cause = ("rack cooling (inlet temperature, fans, CDU)" if thermal else
                 "a cause they share: cooling, power quality, or a driver or firmware rollout")
        return (f"{len(hosts)}{of} hosts in rack {rack} showed the same problem, {what}, "
                f"within {span} s {listed}: suspect {cause}.")
    lost = set(network) | set(silent)
    if network and len(lost) == len(hosts):
        how = "lost network links" + (f" ({len(silent)} went silent)" if silent else "")
        return (f"{len(hosts)}{of} hosts in rack {rack} {how} within {span} s {listed}: "
                "suspect the top-of-rack switch or its uplink rather than the hosts "
                "themselves.")
    if silent and len(silent) == len(hosts):
        how, cause = "went silent", "rack power, the top-of-rack switch or its uplink"
    elif silent:
        how = f"failed ({len(silent)} went silent)"
        cause = "rack power, cooling or the top-of-rack switch"
    else:
        how, cause = "alerted", "shared rack infrastructure (power, cooling, top-of-rack switch)"
    return (f"{len(hosts)}{of} hosts in rack {rack} {how} within {span} s {listed}: "
            f"suspect {cause} rather than the hosts themselves.")


def _place_hint(label: str, place: str, hosts: list[str], silent: list[str], span_ms: int,
                common: str | None) -> str:
    """Hint for hosts sharing a place other than a rack (a node, a zone) failing together."""
    span = max(1, round(span_ms / 1000))
    listed = f"({', '.join(hosts[:8])}{', ...' if len(hosts) > 8 else ''})"
    if common is not None:
        what = describe_fault(common) if common.islower() and "_" in common else common
        how = f"showed the same problem, {what},"
    else:
        how = f"failed ({len(silent)} went silent)" if silent else "alerted"
    return (f"{len(hosts)} hosts in {label} {place} {how} within {span} s {listed}: "
            f"suspect what they share in {label} {place} rather than the hosts themselves.")


_PLURAL = {"nccl_timeout": "NCCL timeouts", "nccl_error": "NCCL errors"}


def group_hint(label: str, value: str, hosts: list[str], symptoms: list[str],
               first: dict[str, Any] | None) -> str:
    """Hint for a group (job, switch...) incident; `first` is its first hard fault, if any.

    `hosts` are the members that reported the symptoms (or alerted), not counting the
    suspect unless it reported them too.
    """
    what = f"{label} {value}"
    sym = " and ".join(_PLURAL.get(s, describe_fault(s)) for s in symptoms) if symptoms \
        else "Failures"
    n = len(hosts)
    head = f"{sym[0].upper()}{sym[1:]} on {n} host{'s' if n != 1 else ''} of {what}"
    if first is None:
        return head + "; no hard fault was seen on any member, so the cause is elsewhere " \
                      "(network fabric, storage, or the application)."
    rank = first.get("rank")
    who = f"rank {rank} on host {first['host']}" if rank is not None else f"host {first['host']}"
    gpu = f" GPU {first['gpu']}" if first.get("gpu") is not None else ""
    return (f"{head}: {who} had the first hard fault ({describe_fault(first['fault_class'])}"
            f"{' on' + gpu if gpu else ''} at {first['at']}); the others are waiting on it.")
