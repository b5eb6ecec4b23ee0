"""Reading training data from a real (embedded) ClickHouse store."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from common.config import ClickHouseConfig, Config, SinkConfig
from sinks.rows import (
    INCIDENT_COLUMNS,
    LOG_COLUMNS,
    METRIC_COLUMNS,
    Limits,
    incident_row,
    log_row,
    metric_row,
)
from sinks.store import Store, open_store
from sinks.training import store_events, store_truth
from streams.incidents.context import FEATURE_SERIES
from streams.incidents.dataset import Truth
from streams.incidents.messages import incident_message
from streams.incidents.state import IncidentState

MIN = 60_000
# Recent data: the tables' TTL drops old partitions on insert.
T0 = (int(time.time() * 1000) - 60 * MIN) // MIN * MIN


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A migrated embedded store with a little history in it, closed after the module."""
    engine = tmp_path_factory.mktemp("chdb") / "store"
    cfg = Config(home=tmp_path_factory.mktemp("home"),
                 clickhouse=ClickHouseConfig(dsn=f"chdb://{engine}"),
                 sink=SinkConfig(serve_port=0))
    st = open_store(cfg)
    lim = Limits()
    metrics = [metric_row({"schema": "rackwatch.metric_row/v1", "host": "h1",
                           "ts": T0 + i * 30_000, "seq": i + 1, "name": name,
                           "labels": {"rack": "r1", **labels}, "value": value, "raw": value,
                           "ewma": value, "wma": value, "outlier": False}, lim)
               for i in range(6)
               for name, labels, value in (("gpu.temperature", {"gpu": "0"}, 70.0 + i),
                                           ("disk.read_iops", {"device": "sda"}, 5.0))]
    st.insert_rows("metrics", metrics, METRIC_COLUMNS, None)
    log = log_row({"schema": "rackwatch.log_record/v1", "host": "h1", "ts": T0 + 70_000,
                   "seq": 1, "message": "xid", "severity": "error", "program": None,
                   "pid": None, "template_id": "t", "template": "xid",
                   "fault_class": "gpu_xid_79", "labels": {"rack": "r1"}}, lim)
    st.insert_rows("logs", [log], LOG_COLUMNS, None)
    inc = IncidentState.new(id="inc-000000000001", scope="host", value="h1",
                        opened_ms=T0 + 70_000, last_ms=T0 + 70_000, due_ms=T0 + 70_000,
                        suspect="host h1", hosts=["h1"], faults=["gpu_xid_79"],
                        severity="critical")
    st.insert_rows("incidents", [incident_row(incident_message(inc, "open", T0 + 70_000), lim),
                                 incident_row(incident_message(inc, "resolved", T0 + 9 * MIN),
                                              lim)], INCIDENT_COLUMNS, None)
    try:
        yield st
    finally:
        st.close()


class TestStoreTraining:
    """Training from the store's metrics, logs and incidents."""

    def test_incidents_are_the_truth(self, store: Store) -> None:
        """One incident, from its opening to its last change, over its hosts."""
        assert [Truth(*r) for r in store_truth(store, T0, T0 + 60 * MIN)] == [
            Truth("host", ("h1",), T0 + 70_000, T0 + 9 * MIN)]

    def test_history_comes_back_as_events(self, store: Store) -> None:
        """Feature series as per-host batches (series labels only), faults merged in order."""
        events = list(store_events(store, T0, T0 + 60 * MIN, names=FEATURE_SERIES))
        kinds = [(e["schema"], e["ts"]) for e in events]
        assert kinds[:4] == [("rackwatch.metrics/v1", T0), ("rackwatch.metrics/v1", T0 + 30_000),
                             ("rackwatch.metrics/v1", T0 + 60_000),
                             ("rackwatch.log_record/v1", T0 + 70_000)]
        assert len(events) == 7
        assert events[0]["samples"] == [{"name": "gpu.temperature", "value": 70.0,
                                         "labels": {"gpu": "0"}}]

    def test_nothing_outside_the_range(self, store: Store) -> None:
        """A range with no data reads nothing."""
        assert list(store_events(store, T0 - 120 * MIN, T0 - 60 * MIN,
                                 names=FEATURE_SERIES)) == []
        assert store_truth(store, T0 - 120 * MIN, T0 - 60 * MIN) == []

