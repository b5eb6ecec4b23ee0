"""The Grafana dashboards: Grafana's dashboard model, and every panel's SQL, expanded as
the ClickHouse plugin expands it, run against a store the simulator filled."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from sinks.store import Store
from tests.support.grafana import TimeRange, Value, expand, interpolate

REPO = Path(__file__).resolve().parents[3]
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
PLUGIN = "grafana-clickhouse-datasource"
_TIME = re.compile(r"^(Nullable\()?DateTime")
_NUMBER = re.compile(r"^(Nullable\()?(U?Int|Float|Decimal)")
# what each panel type needs of its query's columns
SHAPES = {"timeseries": "time", "heatmap": "time", "stat": "number", "barchart": "category",
          "piechart": "category", "table": "rows"}


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def sql_of(panel: dict[str, Any]) -> str:
    (target,) = panel["targets"]
    return str(target["rawSql"])


def time_range(window: tuple[int, int]) -> TimeRange:
    start, now = window
    return TimeRange(from_ms=start - 10 * 60_000, to_ms=now + 60_000, interval_ms=60_000)


def columns(store: Store, sql: str) -> tuple[list[str], list[str], list[Any]]:
    res = store.query(sql)
    return list(res.column_names), [str(t.name) for t in res.column_types], list(
        res.result_rows)


def resolve(store: Store, doc: dict[str, Any], tr: TimeRange, choose: dict[str, str],
            everything: bool = True) -> dict[str, Value]:
    """Each variable as Grafana resolves it: a query variable runs its query (with the
    variables before it); All where All is offered (or, not `everything`, its first
    value alone), else the value chosen for the test."""
    out: dict[str, Value] = {}
    for v in doc["templating"]["list"]:
        name, kind = v["name"], v["type"]
        if kind == "datasource":
            continue
        if kind == "textbox":
            out[name] = Value((choose.get(name, ""),))
            continue
        if kind == "custom":
            values = tuple(o["value"] for o in v["options"])
        else:
            sql = expand(interpolate(v["query"], out, tr), tr)
            _, _, rows = columns(store, sql)
            values = tuple(str(r[0]) for r in rows)
            assert values, f"{doc['uid']}: variable {name} has no values"
        if v.get("includeAll") and everything:
            out[name] = Value(values, multi=True, all=True)
        elif v.get("includeAll"):
            out[name] = Value(values[:1], multi=True)
        else:
            pick = choose.get(name, values[0])
            assert pick in values, f"{name}: {pick} not among {values[:10]}"
            out[name] = Value((pick,))
    return out


def check_shape(panel: dict[str, Any], names: list[str], types: list[str],
                rows: list[Any]) -> None:
    where = f"panel {panel['title']!r}"
    assert rows, f"{where}: no rows"
    shape = SHAPES[panel["type"]]
    numeric = [n for n, t in zip(names, types, strict=True) if _NUMBER.match(t)]
    if shape == "time":
        times = [n for n, t in zip(names, types, strict=True) if _TIME.match(t)]
        assert times[:1] == ["time"] and names[0] == "time", f"{where}: {names} {types}"
        assert numeric, f"{where}: no value column in {names} {types}"
        others = [t for n, t in zip(names, types, strict=True)
                  if n != "time" and not _NUMBER.match(t)]
        assert all("String" in t for t in others), f"{where}: {types}"
    elif shape == "number":
        assert len(rows) == 1 and numeric, f"{where}: {names} {types} {rows}"
    elif shape == "category":
        assert any("String" in t for t in types) and numeric, f"{where}: {types}"


class TestModel:
    """Grafana's dashboard model: what Grafana needs to load and wire them."""

    @pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
    def test_dashboard_is_well_formed(self, path: Path) -> None:
        """uid, schema version, a data source variable every panel uses, unique panel ids
        on the 24-column grid, one SQL target each, time macros in the time panels."""
        doc = load(path)
        assert doc["uid"].startswith("rackwatch-") and doc["schemaVersion"] >= 36
        assert "rackwatch" in doc["tags"] and doc["time"]["from"].startswith("now-")
        variables = {v["name"]: v for v in doc["templating"]["list"]}
        assert variables["datasource"]["query"] == PLUGIN
        ids = [p["id"] for p in doc["panels"]]
        assert len(ids) == len(set(ids)) and ids
        for p in doc["panels"]:
            g = p["gridPos"]
            assert g["x"] >= 0 and g["x"] + g["w"] <= 24 and g["h"] > 0
            assert p["datasource"] == {"type": PLUGIN, "uid": "${datasource}"}
            assert p["type"] in SHAPES
            (t,) = p["targets"]
            assert t["editorType"] == "sql" and t["datasource"]["uid"] == "${datasource}"
            used = set(re.findall(r"\$\{?(\w+)", t["rawSql"])) - {"__timeFilter",
                                                                  "__timeInterval",
                                                                  "__interval_s", "__toTime",
                                                                  "__fromTime",
                                                                  "__conditionalAll"}
            assert used <= set(variables), f"{p['title']}: undefined {used - set(variables)}"
            if p["type"] in ("timeseries", "heatmap"):
                assert "$__timeFilter(" in t["rawSql"] and "$__timeInterval(" in t["rawSql"]

    @pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
    def test_no_host_is_hard_coded(self, path: Path) -> None:
        """Hosts, racks and GPUs come from variables, never from the simulator's names."""
        text = path.read_text()
        assert not re.search(r"r\d\d-(gpu|cpu)\d\d|'r\d\d'|gpu-\d+", text)
        assert not re.search(r"host\s*=\s*'[^$']", text)

    def test_six_dashboards_and_the_forwarders_link(self) -> None:
        """The six dashboards; the alerts one answers the forwarder's generatorURL."""
        from common.config import ForwarderConfig

        assert {load(p)["uid"] for p in DASHBOARDS} == {
            "rackwatch-fleet", "rackwatch-host", "rackwatch-gpu", "rackwatch-alerts",
            "rackwatch-logs", "rackwatch-pipeline"}
        link = ForwarderConfig().generator_url
        alerts = load(GRAFANA / "dashboards" / "alerts-and-incidents.json")
        assert f"/d/{alerts['uid']}/" in link and "var-fingerprint=" in link
        assert "fingerprint" in {v["name"] for v in alerts["templating"]["list"]}

    def test_provisioning(self) -> None:
        """The data source is the ClickHouse plugin, secrets from the environment; the
        dashboards provider reads a folder."""
        ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" /
                             "rackwatch-clickhouse.yaml").read_text())
        (source,) = ds["datasources"]
        assert source["type"] == PLUGIN and source["jsonData"]["defaultDatabase"] == "rackwatch"
        assert source["secureJsonData"]["password"].startswith("${")
        prov = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" /
                               "rackwatch.yaml").read_text())
        assert prov["providers"][0]["type"] == "file"


class TestPanelsAgainstTheStore:
    """Every query, as the plugin sends it, returns rows of the shape its panel needs."""

    @pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
    def test_every_panel(self, path: Path, store: Store, window: tuple[int, int]) -> None:
        """Variables resolved from the store, macros expanded, run, shape checked: with
        every multi-value variable at All, then at a single value."""
        doc = load(path)
        tr = time_range(window)
        busiest = store.query(
            "SELECT host FROM alerts GROUP BY host ORDER BY count() DESC LIMIT 1"
        ).result_rows[0][0]
        chosen = {"host": busiest, "metric": "cpu.usage"}
        for everything in (True, False):
            values = resolve(store, doc, tr, chosen, everything)
            for panel in doc["panels"]:
                sql = expand(interpolate(sql_of(panel), values, tr), tr)
                assert "$" not in sql.replace("'$", ""), sql
                names, types, rows = columns(store, sql)
                if everything:  # a single rack or host may well have none of some faults
                    check_shape(panel, names, types, rows)
                if everything and any(t["id"] == "groupingToMatrix"
                                      for t in panel.get("transformations", [])):
                    assert {"rack", "host", "worst"} <= set(names)
                    assert {r[names.index("worst")] for r in rows} >= {0, 2}

    def test_one_alerts_history_by_fingerprint(self, store: Store,
                                               window: tuple[int, int]) -> None:
        """With a fingerprint (the forwarder's link), only that alert's changes show."""
        doc = load(GRAFANA / "dashboards" / "alerts-and-incidents.json")
        tr = time_range(window)
        fp = store.query("SELECT fingerprint FROM alerts WHERE status = 'resolved' "
                         "LIMIT 1").result_rows[0][0]
        values = resolve(store, doc, tr, {"fingerprint": fp})
        (panel,) = [p for p in doc["panels"] if "fingerprint" in p["title"]]
        names, _, rows = columns(store, expand(interpolate(sql_of(panel), values, tr), tr))
        assert rows and {r[names.index("fingerprint")] for r in rows} == {fp}
        assert {r[names.index("status")] for r in rows} >= {"firing", "resolved"}
