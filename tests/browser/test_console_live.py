"""The console in a real browser while the real pipeline runs, as a person would use it.

A broker (the session's), a worker, a sink, a simulated fleet of 32 GPU hosts in two
racks and `rackwatch console` run as processes; the simulator injects an XID 48 on one
GPU of r01-gpu05 and a power failure of rack r00. Headless Chromium then checks that
the cells turn red, the incidents appear with the right suspects, the host page draws
its chart with the threshold line, the health strip shows non-zero rates, the page has
no serious accessibility violation (axe-core) and every API answers in its schema.
Screenshots: .rackwatch/test-artifacts/console/.
"""

from __future__ import annotations

import contextlib
import urllib.error
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from common.broker import free_port
from rackwatch.demo import demo_rules
from tests.browser.chromium import axe_violations, js_errors
from tests.browser.conftest import get_json, screenshot, wait_until
from tests.integration.harness import Pipeline
from tests.unit.console.apischema import validate

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.slow]

XID_HOST, XID_GPU, DEAD_RACK = "r01-gpu05", "3", "r00"
FAULTS = (f"gpu_xid_48(host={XID_HOST}, gpu={XID_GPU})@15s:4m, "
          f"rack_power(rack={DEAD_RACK})@20s:3m")


@dataclass
class Live:
    pipe: Pipeline
    url: str
    driver: Any

    def diagnostics(self) -> str:
        return "\n".join(f"--- {name}.log ---\n{self.pipe.log_of(name)[-2500:]}"
                         for name in ("console", "worker", "sink", "simulate"))

    def js(self, script: str) -> Any:
        return self.driver.execute_script(script)


@pytest.fixture(scope="module")
def live(kafka_broker: str, tmp_path_factory: pytest.TempPathFactory,
         module_browser: Any) -> Iterator[Live]:
    """The whole pipeline plus the console, and the browser on the console's page."""
    home = tmp_path_factory.mktemp("console-live") / "home"
    home.mkdir()
    pipe = Pipeline(home, kafka_broker, f"t{uuid.uuid4().hex[:10]}.", rules=demo_rules(home),
                    partitions=2, serve_port=free_port())
    metrics_port, console_port = free_port(), free_port()
    url = f"http://127.0.0.1:{console_port}/"
    live = Live(pipe, url, module_browser)
    try:
        pipe.ensure_topics()
        pipe.start("sink", "sink")
        pipe.start("worker", "--set", "worker.ewma_tau_s=20",
                   "--set", f"worker.metrics_port={metrics_port}", "worker")
        pipe.start("console", "--set", f"worker.metrics_port={metrics_port}", "console",
                   "--port", str(console_port))
        wait_until(lambda: _answers(url + "api/status"), 60, "the console to answer",
                   live.diagnostics)
        pipe.start("simulate", "simulate", "--hosts", "32", "--racks", "2", "--interval", "2",
                   "--realtime", "--seed", "7", "--faults", FAULTS)
        module_browser.get(url)
        yield live
    finally:
        pipe.stop_all()


def _answers(url: str) -> bool:
    with contextlib.suppress(OSError, urllib.error.URLError):
        get_json(url)
        return True
    return False


def _cell_class(live: Live, host: str) -> str:
    return str(live.js(f"const c = document.querySelector('.cell[data-host=\"{host}\"]');"
                       "return c ? c.className : '';"))


class TestFleet:
    """The fleet grid fills from the store and turns red as faults are raised."""

    def test_grid_shows_every_simulated_host(self, live: Live) -> None:
        """All 32 hosts appear, in two rack rows, without a reload."""
        n = wait_until(lambda: live.js("return document.querySelectorAll('.cell').length") >= 32,
                       90, "32 host cells", live.diagnostics)
        assert n
        groups = live.js("return [...document.querySelectorAll('.frow')].map(r => r.dataset.group)")
        assert groups == ["r00", "r01"]

    def test_cells_turn_red(self, live: Live) -> None:
        """The XID host and every host of the dead rack turn critical (red) live."""
        wait_until(lambda: "sev-critical" in _cell_class(live, XID_HOST), 150,
                   f"{XID_HOST} to turn red", live.diagnostics)
        dead = [f"{DEAD_RACK}-gpu{i:02d}" for i in range(1, 17)]
        wait_until(lambda: all("sev-critical" in _cell_class(live, h) for h in dead), 150,
                   f"every host of rack {DEAD_RACK} to turn red", live.diagnostics)
        assert "sev-critical" not in _cell_class(live, "r01-gpu01")
        live.driver.execute_script("window.scrollTo(0, 0)")
        screenshot(live.driver, "fleet-red")


class TestIncidents:
    """Incidents appear with the suspect the fault implies."""

    def test_incidents_name_the_suspects(self, live: Live) -> None:
        """One incident names the XID host (its GPU), one names the dead rack."""
        def suspects() -> list[str]:
            return list(live.js("return [...document.querySelectorAll('#incidents .inc-suspect')]"
                                ".map(n => n.textContent)"))

        wait_until(lambda: any(XID_HOST in s for s in suspects()), 150,
                   f"an incident naming {XID_HOST}", live.diagnostics)
        wait_until(lambda: any(DEAD_RACK in s for s in suspects()), 150,
                   f"an incident naming rack {DEAD_RACK}", live.diagnostics)
        screenshot(live.driver, "overview")
        api = get_json(live.url + "api/incidents")["incidents"]
        host_inc = [i for i in api if i["scope"] == "host" and i["scope_value"] == XID_HOST]
        assert host_inc and f"gpu {XID_GPU}" in host_inc[0]["suspect"]
        assert any(i["scope"] == "rack" and i["scope_value"] == DEAD_RACK for i in api)

    def test_alert_filters(self, live: Live) -> None:
        """Filtering by rack keeps only that rack's alerts."""
        d = live.driver
        d.execute_script("const s = document.querySelector('#f-rack'); s.value = 'r01';"
                         "s.dispatchEvent(new Event('change'));")
        hosts = live.js("return [...document.querySelectorAll('#alerts tbody tr td:nth-child(2)')]"
                        ".map(n => n.textContent)")
        d.execute_script("const s = document.querySelector('#f-rack'); s.value = '';"
                         "s.dispatchEvent(new Event('change'));")
        assert hosts and all(h.startswith("r01-") for h in hosts), hosts


class TestHostPage:
    """The host page of the XID host draws its chart with the rule's lines."""

    def test_chart_with_threshold_line(self, live: Live) -> None:
        """The suggested metric's chart has points, a threshold line, and its alert shading."""
        live.driver.get(live.url + f"#/host/{quote(XID_HOST)}")
        drawn = wait_until(lambda: live.js(
            "const c = document.querySelector('#chart-main');"
            "return c && c.dataset.drawn ? [c.dataset.drawn, c.dataset.lines, c.dataset.periods,"
            " !!c.querySelector('canvas')] : null"), 60, "the host chart", live.diagnostics)
        points, lines, periods, canvas = drawn
        assert int(points) > 5 and int(lines) >= 1 and canvas
        assert int(periods) >= 1  # the GPU's alert is shaded
        wait_until(lambda: live.js(
            "return document.querySelectorAll('#host-logs tbody tr').length"), 30,
            "the host's fault log lines")
        faults = live.js("return document.querySelector('#host-logs').textContent")
        assert "gpu_xid_48" in faults
        screenshot(live.driver, "host-xid")

    def test_temperature_chart_per_gpu(self, live: Live) -> None:
        """gpu.temperature: threshold and clear lines, and one line per GPU below."""
        live.driver.get(live.url + f"#/host/{quote(XID_HOST)}?metric=gpu.temperature&range=15m")
        got = wait_until(lambda: live.js(
            "const a = document.querySelector('#chart-main[data-metric=\"gpu.temperature\"]'),"
            " b = document.querySelector('#chart-series[data-metric=\"gpu.temperature\"]');"
            "return a && b && a.dataset.drawn && b.dataset.drawn ? [a.dataset.lines, "
            "b.dataset.drawn] : null"), 60, "the temperature charts", live.diagnostics)
        assert got == ["1", "8"]  # GpuTooHot's pair of lines; 8 GPUs
        screenshot(live.driver, "host-temperature")


class TestHealth:
    """The health strip and panel show the pipeline moving."""

    def test_rates_are_non_zero(self, live: Live) -> None:
        """Events in and sink rows per second are above zero, from the processes' metrics."""
        live.driver.get(live.url + "#/health")

        def rates() -> dict[str, Any]:
            return dict(get_json(live.url + "api/health")["rates"])

        wait_until(lambda: (rates().get("events_in") or 0) > 0
                   and (rates().get("sink_rows") or 0) > 0, 60, "non-zero rates",
                   live.diagnostics)
        strip = wait_until(lambda: live.js(
            "const t = document.querySelector('#hs-in strong');"
            "return t && t.textContent.endsWith('/s') && t.textContent !== '0/s' ?"
            " t.textContent : null"),
            30, "the strip's events/s")
        assert strip.endswith("/s")
        wait_until(lambda: live.js("return document.querySelectorAll('#health-panel table').length")
                   >= 3, 30, "the health tables")
        lag = live.js("return document.querySelector('#health-panel').textContent")
        assert "Consumer lag per partition" in lag
        screenshot(live.driver, "health")


class TestLogs:
    """The logs page ranks templates and opens a template's lines."""

    def test_templates_and_lines(self, live: Live) -> None:
        """The XID template is listed and its lines name the XID host."""
        live.driver.get(live.url + "#/logs")
        live.driver.execute_script("const s = document.querySelector('#l-order');"
                                   "s.value = 'novelty'; s.dispatchEvent(new Event('change'));")
        wait_until(lambda: live.js("return document.querySelectorAll('#templates-table tbody tr')"
                                   ".length"), 30, "the templates table")
        clicked = live.js(
            "const row = [...document.querySelectorAll('#templates-table tbody tr')]"
            ".find(r => r.textContent.includes('gpu_xid_48'));"
            "if (!row) return false; row.querySelector('button').click(); return true;")
        assert clicked
        wait_until(lambda: live.js("return document.querySelectorAll('#lines-table tbody tr')"
                                   ".length"), 30, "the template's lines")
        assert XID_HOST in live.js("return document.querySelector('#lines-table').textContent")
        screenshot(live.driver, "logs")


class TestAccessibilityAndApis:
    """No serious accessibility violation; every API answers in its schema."""

    @pytest.mark.parametrize("route", ["#/", f"#/host/{XID_HOST}", "#/logs", "#/health"])
    def test_no_serious_axe_violations(self, live: Live, route: str) -> None:
        """axe-core, run in the page, finds no serious or critical violation."""
        live.driver.get(live.url + route)
        wait_until(lambda: live.js("return document.body.dataset.rendered === '1'"), 30,
                   "the first render")
        if route.startswith("#/host/"):
            wait_until(lambda: live.js("const c = document.querySelector('#chart-main');"
                                       "return c && c.dataset.drawn"), 30, "the chart")
        bad = [v for v in axe_violations(live.driver) if v["impact"] in ("serious", "critical")]
        assert not bad, bad
        assert not js_errors(live.driver)

    def test_keyboard_reaches_a_host(self, live: Live) -> None:
        """Tab reaches the grid (one tab stop); arrow right, Enter: the next host's page."""
        from selenium.webdriver.common.keys import Keys

        d = live.driver
        d.get(live.url + "#/")
        wait_until(lambda: live.js("return document.querySelectorAll('.cell').length") >= 32, 30,
                   "the grid")
        d.execute_script("document.querySelector('#zoom').focus()")
        d.switch_to.active_element.send_keys(Keys.TAB)  # the grid is the next tab stop
        assert live.js("return document.activeElement.classList.contains('cell')")
        d.execute_script("document.querySelector('.cell[data-host=\"r00-gpu01\"]').focus()")
        assert live.js("return document.querySelectorAll('#fleet [tabindex=\"0\"]').length") == 1
        d.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
        focused = live.js("return document.activeElement.dataset.host")
        d.switch_to.active_element.send_keys(Keys.ENTER)
        wait_until(lambda: live.js("return location.hash") == f"#/host/{focused}", 10,
                   "the host page")
        assert focused == "r00-gpu02"

    def test_every_api_answers_in_its_schema(self, live: Live) -> None:
        """Each documented API's real answer validates against its JSON Schema."""
        base = live.url + "api/"
        tid = get_json(base + "logs/templates?range=15m")["templates"][0]["template_id"]
        calls = {
            "status": "status", "fleet": "fleet", "alerts": "alerts?status=active",
            "incidents": "incidents", "health": "health", "host": f"hosts/{XID_HOST}",
            "series": f"hosts/{XID_HOST}/series?metric=gpu.temperature&range=15m",
            "host_logs": f"hosts/{XID_HOST}/logs?lines=all", "host_history":
                f"hosts/{XID_HOST}/history", "log_templates": "logs/templates?order=novelty",
            "log_lines": f"logs/lines?template_id={tid}&range=15m",
        }
        for schema, path in calls.items():
            doc = get_json(base + path)
            validate(doc, schema)
        assert get_json(base + "fleet")["counts"]["hosts"] >= 32
