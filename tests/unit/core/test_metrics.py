"""MetricsCore: its outputs, its state and the per-host memo that makes it fast."""

from __future__ import annotations

import copy
from typing import Any

import orjson

from streams.core.hoststate import HostState
from streams.core.metrics import FAULT_MEMORY_MS, MetricsCore, host_context, make_point, note_fault
from streams.core.series import STORE_VERSION
from streams.rules import Point, RuleEngine, default_rules

T0 = 1_700_000_040_000


def batch(seq: int, temps: list[float], *, ts: int | None = None,
          extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"schema": "rackwatch.metrics/v1", "host": "h1", "ts": T0 + seq * 10_000 if ts is None
            else ts, "seq": seq, "labels": {"rack": "r1"},
            "samples": [*({"name": "gpu.temperature", "value": t, "labels": {"gpu": str(i)}}
                          for i, t in enumerate(temps)),
                        {"name": "cpu.percent", "value": 50.0}, *(extra or [])]}


def run(batches: list[dict[str, Any]], state: HostState | None = None,
        core: MetricsCore | None = None) -> tuple[HostState, list[bytes]]:
    core = core or MetricsCore(RuleEngine(default_rules()))
    out = []
    for b in batches:
        state, res = core.process(state, copy.deepcopy(b))  # type: ignore[arg-type]
        out.append(orjson.dumps([res.rows, res.alerts, [r.decode() for r, _ in res.rejected]]))
    assert state is not None
    return state, out


class TestMakePoint:
    def test_same_as_the_dataclass(self) -> None:
        """The slot-by-slot construction gives an equal, still frozen, Point."""
        args = ("gpu.temperature", {"gpu": "0"}, T0, 61.0, 60.5, 60.7, 0.25, 60.0, T0 - 1)
        p = make_point(*args)
        assert p == Point(*args)
        assert type(p) is Point
        try:
            p.value = 1.0  # type: ignore[misc]
        except AttributeError:
            pass
        else:
            raise AssertionError("a Point must stay frozen")


class TestState:
    def test_plain_json_and_restorable_at_any_point(self) -> None:
        """Serialising and restoring the state between any two batches changes nothing."""
        batches = [batch(i, [60.0 + (i % 7), 70.0 - (i % 5)]) for i in range(1, 40)]
        _, want = run(batches)
        for cut in (1, 5, 17, 30):
            core = MetricsCore(RuleEngine(default_rules()))
            st, first = run(batches[:cut], core=core)
            st = HostState.loads(st.dumps())
            _, rest = run(batches[cut:], st, core)
            assert first + rest == want

    def test_series_kept_in_columns(self) -> None:
        """One entry per series; aliases land on their canonical series."""
        st, _ = run([batch(1, [60.0, 61.0]), batch(2, [60.0, 61.0])])
        assert st.to_json()["s"]["v"] == STORE_VERSION
        assert st.series is not None
        assert st.series.keys == ["gpu.temperature{gpu=0}", "gpu.temperature{gpu=1}",
                                  "cpu.usage"]
        assert st.series.count == [2, 2, 2]

    def test_context_reads_the_columns(self) -> None:
        """The host context has last value, EWMA and recent values of windowed series."""
        st, _ = run([batch(i, [60.0 + i, 50.0]) for i in range(1, 9)])
        ctx = host_context(st)
        s = ctx["series"]["gpu.temperature{gpu=0}"]
        assert s["last"] == 68.0
        assert s["recent"] == [64.0, 65.0, 66.0, 67.0, 68.0]
        assert 61.0 < s["ewma"] < 68.0
        assert [m[0] for m in s["minutes"]] == [T0]
        assert set(ctx["series"]) == {"gpu.temperature{gpu=0}", "gpu.temperature{gpu=1}",
                                      "cpu.usage"}

    def test_recent_faults_count_back_from_the_event(self) -> None:
        """Faults count as recent for the FAULT_MEMORY_MS before the event being
        explained, not before the host's newest fault."""
        st = HostState()
        note_fault(st, "gpu_xid_79", T0)
        note_fault(st, "gpu_xid_79", T0 + 60_000)
        note_fault(st, "mce", T0 + 120_000)
        assert host_context(st)["recent_faults"] == {"gpu_xid_79": 2, "mce": 1}
        assert host_context(st, T0 + 120_000)["recent_faults"] == {"gpu_xid_79": 2, "mce": 1}
        assert host_context(st, T0 + 30_000)["recent_faults"] == {"gpu_xid_79": 1}
        later = T0 + 60_000 + FAULT_MEMORY_MS
        assert host_context(st, later)["recent_faults"] == {"mce": 1}
        assert host_context(st, T0 + 3_600_000)["recent_faults"] == {}


class TestShapeChanges:
    def test_new_series_and_reordering_are_absorbed(self) -> None:
        """A batch that adds, drops or reorders samples is processed like any other, and
        the usual shape afterwards is fast again with the same results."""
        usual = [batch(i, [60.0, 61.0]) for i in range(1, 6)]
        odd = batch(6, [62.0, 63.0], extra=[{"name": "gpu.xid", "value": 79.0,
                                              "labels": {"gpu": "1"}}])
        odd["samples"].reverse()
        after = [batch(i, [60.0, 61.0]) for i in range(7, 12)]
        st, out = run([*usual, odd, *after])
        assert len(orjson.loads(out[5])[0]) == 4
        assert st.series is not None and st.series.count[-1] == 1  # gpu.xid seen once
        assert all(len(orjson.loads(o)[0]) == 3 for o in out[6:])

    def test_rejected_sample_goes_to_dead_letters_only(self) -> None:
        """An impossible value is rejected alone; the rest of the batch is processed."""
        bad = batch(3, [60.0, 999.0])
        st, out = run([batch(1, [60.0, 61.0]), batch(2, [60.0, 61.0]), bad])
        rows, _, rejected = orjson.loads(out[2])
        assert [r["name"] for r in rows] == ["gpu.temperature", "cpu.usage"]
        assert len(rejected) == 1
        assert host_context(st)["series"]["gpu.temperature{gpu=1}"]["last"] == 61.0


class TestRulesReload:
    def test_metric_watched_by_a_new_rule_reaches_it(self) -> None:
        """After a hot reload, a rule on a metric no rule read before sees its samples."""
        from streams.rules import parse_rules

        engine = RuleEngine(parse_rules("groups: []"))
        core = MetricsCore(engine)
        st, out = run([batch(i, [60.0], extra=[{"name": "load.1m", "value": 9.0}])
                       for i in range(1, 4)], core=core)
        assert all(orjson.loads(o)[1] == [] for o in out)
        engine.replace_rules(parse_rules("""
groups:
  - name: g
    rules:
      - {alert: LoadHigh, kind: threshold, metric: load.1m, above: 5}
"""))
        _, out = run([batch(4, [60.0], extra=[{"name": "load.1m", "value": 9.0}])], st, core)
        alerts = orjson.loads(out[0])[1]
        assert [a["rule"] for a in alerts] == ["LoadHigh"]
