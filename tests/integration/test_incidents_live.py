"""Incidents through the real broker: one rack failure and one GPU XID, each exactly one
incident with the right suspect, from the simulator's events through a live worker."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson
import pytest

from tests.integration.harness import Pipeline, consume_all, produce

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENARIOS = {
    # fault spec, expected scope, a word the suspect must name
    "rack_power": ("rack_power(rack=r01)@2m:4m", "rack", "r01"),
    "gpu_thermal_xid": ("gpu_thermal_xid(host=r02-gpu05,lead=3m)@2m:6m", "host", "r02-gpu05"),
}
BACKLOG_BATCHES = 60  # ten minutes at 10 s, arriving at once: a worker catching up
LIVE_BATCHES = 18  # then three minutes more, produced as they happen


def _fleet(scenario: str, start_ms: int, batches: int = BACKLOG_BATCHES
           ) -> tuple[list[dict[str, object]], list[str]]:
    from producers.simulator import Fleet, SimOptions

    faults = SCENARIOS[scenario][0]
    fleet = Fleet(SimOptions(hosts=48, racks=3, batches=batches, interval_s=10, faults=faults,
                             seed=4, start_ms=start_ms))
    events: list[dict[str, object]] = [dict(e) for e in fleet.events()]
    return events, [m["kind"] for m in fleet.manifest()]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_replay_gives_one_incident(scenario: str) -> None:
    """The same events through `replay`: exactly one opened incident, the right suspect."""
    from streams.replay import replay_lines
    from streams.rules import default_rules

    _, scope, suspect = SCENARIOS[scenario]
    events, kinds = _fleet(scenario, 1_700_000_000_000)
    assert kinds == [scenario]
    out = [orjson.loads(x) for x in replay_lines((orjson.dumps(e) for e in events),
                                                 default_rules(), {"incidents"})]
    opened = [i for i in out if i["status"] == "open"]
    assert [(i["scope"], suspect in i["suspect"]) for i in opened] == [(scope, True)]


def _send(bootstrap: str, prefix: str, events: list[dict[str, object]]) -> None:
    for schema, topic in (("rackwatch.metrics/v1", "metrics"), ("rackwatch.logs/v1", "logs")):
        batch = [(str(e["host"]).encode(), orjson.dumps(e)) for e in events
                 if e["schema"] == schema]
        if batch:
            produce(bootstrap, f"{prefix}{topic}", batch)


def _live_tail(bootstrap: str, prefix: str, events: list[dict[str, object]],
               stop: threading.Event) -> None:
    """The fleet keeps reporting after the backlog: each batch sent when its time comes
    (a fleet that stopped would rightly go silent, every rack of it)."""
    by_time: dict[int, list[dict[str, object]]] = {}
    for e in events:
        by_time.setdefault(int(str(e["ts"])) // 10_000, []).append(e)
    for slot in sorted(by_time):
        while not stop.is_set() and time.time() * 1000 < slot * 10_000:
            stop.wait(0.2)
        if stop.is_set():
            return
        _send(bootstrap, prefix, by_time[slot])


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_gives_one_incident(scenario: str, tmp_path: Path, kafka_broker: str,
                                     topic_prefix: str) -> None:
    """The simulator's scenario ends as exactly one opened incident naming the suspect,
    from ten minutes of backlog read at once (partitions catching up at their own
    pace) followed by live traffic."""
    _, scope, suspect = SCENARIOS[scenario]
    now = int(time.time() * 1000)
    start = now - BACKLOG_BATCHES * 10_000  # the last ten minutes, ending now
    events, kinds = _fleet(scenario, start, BACKLOG_BATCHES + LIVE_BATCHES)
    assert kinds == [scenario]
    backlog = [e for e in events if int(str(e["ts"])) <= now]
    tail = [e for e in events if int(str(e["ts"])) > now]

    pipe = Pipeline(tmp_path / "home", kafka_broker, topic_prefix, partitions=4)
    pipe.ensure_topics()
    stop = threading.Event()
    live = threading.Thread(target=_live_tail, args=(kafka_broker, topic_prefix, tail, stop),
                            daemon=True)
    try:
        pipe.start("worker", "worker")
        _send(kafka_broker, topic_prefix, backlog)
        live.start()
        deadline = time.monotonic() + 120
        opened: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            time.sleep(3.0)
            worker = pipe.procs["worker"]
            assert worker.poll() is None, pipe.log_of("worker")[-3000:]
            incidents = [orjson.loads(m) for m in
                         consume_all(kafka_broker, f"{topic_prefix}incidents", idle_s=1.0)]
            opened = [i for i in incidents if i["status"] == "open"]
            if opened:
                time.sleep(10.0)  # give a duplicate the chance to show itself
                incidents = [orjson.loads(m) for m in
                             consume_all(kafka_broker, f"{topic_prefix}incidents", idle_s=1.0)]
                opened = [i for i in incidents if i["status"] == "open"]
                break
    finally:
        stop.set()
        pipe.stop_all()
        live.join(10)
    assert len(opened) == 1, [(i["scope"], i["suspect"], i["root_cause_hint"]) for i in opened]
    inc = opened[0]
    assert inc["scope"] == scope
    assert suspect in str(inc["suspect"])
    assert inc["schema"] == "rackwatch.incident/v1"
