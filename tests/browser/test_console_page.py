"""The console page in a real browser over a synthetic fleet of 2,000 hosts (no broker).

The console serves a fake store (tests/browser/fakes.py) and takes alerts from a queue
the test fills, so the page's own behaviour is checked quickly and exactly: live cell
colours without reloading, fading and removal of resolved alerts, grouping of hosts
without a rack, GPUs on hover and zoom, filters, and accessibility at full size.
"""

from __future__ import annotations

import asyncio
import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.config import Config
from console.app import start_console
from console.hub import Hub
from tests.browser.chromium import axe_violations, js_errors
from tests.browser.conftest import screenshot, wait_until
from tests.browser.fakes import FakeReader, alert_message, iso

pytestmark = [pytest.mark.browser]

HOSTS, RACKLESS = 2000, 16
Inbox = queue.Queue[dict[str, Any]]


@pytest.fixture(scope="module")
def inbox() -> Inbox:
    return queue.Queue()


@pytest.fixture(scope="module")
def console_url(inbox: Inbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A console over 2,000 fake hosts whose alerts come from `inbox`."""
    async def feed(hub: Hub, stop: asyncio.Event) -> None:
        while not stop.is_set():
            while not inbox.empty():
                msg = inbox.get_nowait()
                kind = "incidents" if msg["schema"] == "rackwatch.incident/v1" else "alerts"
                hub.take_message(kind, msg, int(time.time() * 1000))
            await asyncio.sleep(0.05)

    cfg = Config(home=tmp_path_factory.mktemp("home"))
    url, stop = start_console(cfg, port=0, reader=FakeReader(HOSTS, RACKLESS), follow=False,
                              feeders=[feed], scrape=("http://127.0.0.1:9/metrics",), fade_s=3.0)
    try:
        yield url
    finally:
        stop()


def send(inbox: Inbox, host: str, status: str, fp: str, severity: str = "critical",
         gpu: str | None = "3", rule: str = "GpuTooHot") -> None:
    rack = host.split("-")[0] if "-" in host else ""
    inbox.put(alert_message(host, rack, rule, severity, status, int(time.time() * 1000),
                            fingerprint=fp, gpu=gpu))


def cell_class(driver: Any, host: str) -> str:
    return str(driver.execute_script(
        f"const c = document.querySelector('.cell[data-host=\"{host}\"]');"
        "return c ? c.className : ''"))


class TestFullFleet:
    """2,000 hosts render, grouped by rack, rack-less hosts by cluster."""

    def test_renders_every_host(self, browser: Any, console_url: str) -> None:
        """Every host has a cell; rack-less hosts sit under their cluster, not a made-up rack."""
        browser.get(console_url)
        wait_until(lambda: browser.execute_script(
            "return document.querySelectorAll('.cell').length") == HOSTS, 30, "2,000 cells")
        groups = browser.execute_script(
            "return [...document.querySelectorAll('.frow')].map(r => r.dataset.group)")
        assert len(groups) == (HOSTS - RACKLESS + 15) // 16 + 1
        assert groups[-1] == "cluster c15" and "no rack" not in groups
        assert not js_errors(browser)


class TestLiveUpdates:
    """Cells change colour as alerts arrive and leave, without a reload."""

    def test_fire_then_resolve(self, browser: Any, console_url: str, inbox: Inbox) -> None:
        """Critical turns the cell red; resolving fades the row, then removes it."""
        browser.get(console_url)
        wait_until(lambda: browser.execute_script("return document.body.dataset.rendered"), 30,
                   "the first render")
        send(inbox, "r05-gpu07", "firing", "fp-live")
        wait_until(lambda: "sev-critical" in cell_class(browser, "r05-gpu07"), 5, "a red cell")
        send(inbox, "r05-gpu08", "firing", "fp-warn", severity="warning", gpu=None,
             rule="CpuHigh")
        wait_until(lambda: "sev-warning" in cell_class(browser, "r05-gpu08"), 5, "an amber cell")
        send(inbox, "r05-gpu07", "resolved", "fp-live")
        wait_until(lambda: "sev-ok" in cell_class(browser, "r05-gpu07"), 5, "the cell cleared")
        opacity = wait_until(lambda: browser.execute_script(
            "const r = document.querySelector('#alerts tr[data-fp=\"fp-live\"]');"
            "return r && r.classList.contains('resolved') ? r.style.opacity : null"), 5,
            "the resolved row")
        assert 0.7 <= float(opacity) < 1.0
        wait_until(lambda: browser.execute_script(
            "return !document.querySelector('#alerts tr[data-fp=\"fp-live\"]')"), 10,
            "the resolved row to go")

    def test_gpus_on_hover_and_zoom(self, browser: Any, console_url: str, inbox: Inbox) -> None:
        """Hover shows the host's GPUs with the faulty one red; zoom draws them in cells."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By

        browser.get(console_url)
        send(inbox, "r01-gpu04", "firing", "fp-gpu")
        wait_until(lambda: "sev-critical" in cell_class(browser, "r01-gpu04"), 10, "a red cell")
        cell = browser.find_element(By.CSS_SELECTOR, '.cell[data-host="r01-gpu04"]')
        ActionChains(browser).move_to_element(cell).perform()
        tip = wait_until(lambda: browser.execute_script(
            "const t = document.querySelector('#tooltip');"
            "return t.hidden ? null : [...t.querySelectorAll('.gpu')].map(g => g.className)"),
            5, "the tooltip")
        assert len(tip) == 8 and "sev-critical" in tip[3] and "sev-ok" in tip[0]
        screenshot(browser, "fleet-2000-hover")
        browser.find_element(By.ID, "zoom").click()
        gpus = browser.execute_script(
            "return [...document.querySelectorAll('.cell[data-host=\"r01-gpu04\"] .gpu')]"
            ".map(g => g.className)")
        assert len(gpus) == 8 and "sev-critical" in gpus[3]
        screenshot(browser, "fleet-2000-zoom")


class TestFiltersAndAccess:
    """Filters narrow the list; the full-size page passes axe-core."""

    def test_severity_filter(self, browser: Any, console_url: str, inbox: Inbox) -> None:
        """Filtering to warnings leaves no critical row."""
        browser.get(console_url)
        send(inbox, "r02-gpu01", "firing", "fp-f1")
        send(inbox, "r02-gpu02", "firing", "fp-f2", severity="warning", gpu=None, rule="CpuHigh")
        wait_until(lambda: browser.execute_script(
            "return document.querySelectorAll('#alerts tbody tr.firing').length") >= 2, 10,
            "two alerts")
        browser.execute_script("const s = document.querySelector('#f-severity');"
                               "s.value = 'warning'; s.dispatchEvent(new Event('change'));")
        sevs = browser.execute_script(
            "return [...document.querySelectorAll('#alerts tbody td:first-child .badge')]"
            ".map(b => b.textContent)")
        assert sevs and set(sevs) == {"warning"}

    def test_axe_at_full_size(self, browser: Any, console_url: str, tmp_path: Path) -> None:
        """No serious or critical axe-core violation with 2,000 hosts on the page."""
        browser.get(console_url)
        wait_until(lambda: browser.execute_script(
            "return document.querySelectorAll('.cell').length") == HOSTS, 30, "2,000 cells")
        bad = [v for v in axe_violations(browser) if v["impact"] in ("serious", "critical")]
        assert not bad, bad


class TestKeyboard:
    """Arrow keys follow the grid as drawn: racks flow in columns."""

    def test_arrows_follow_the_layout(self, browser: Any, console_url: str) -> None:
        """Right moves along a rack, Down to the rack drawn below, End to the rack's last."""
        from selenium.webdriver.common.keys import Keys

        browser.get(console_url)
        wait_until(lambda: browser.execute_script(
            "return document.querySelectorAll('.cell').length") == HOSTS, 30, "2,000 cells")
        browser.execute_script("document.querySelector('.cell[tabindex=\"0\"]').focus()")

        def press(key: str) -> str:
            browser.switch_to.active_element.send_keys(key)
            return str(browser.execute_script("return document.activeElement.dataset.host"))

        assert press(Keys.ARROW_RIGHT) == "r00-gpu02"
        below = press(Keys.ARROW_DOWN)
        tops = browser.execute_script(
            "const a = document.querySelector('.cell[data-host=\"r00-gpu02\"]')"
            ".getBoundingClientRect(), b = document.activeElement.getBoundingClientRect();"
            "return [a.left, a.top, b.left, b.top]")
        assert below.endswith("-gpu02") and abs(tops[0] - tops[2]) < 2 and tops[3] > tops[1]
        assert press(Keys.END).endswith("-gpu16")
        assert press(Keys.ARROW_UP) == "r00-gpu16"
        assert browser.execute_script(
            "return document.querySelectorAll('#fleet [tabindex=\"0\"]').length") == 1


class TestIncidentCard:
    """An incident shows its suspect as a link, its hint, probability and other candidates."""

    def test_card(self, browser: Any, console_url: str, inbox: Inbox) -> None:
        """The ranked candidates after the first appear as 'Other candidates'."""
        now = int(time.time() * 1000)
        inbox.put({"schema": "rackwatch.incident/v1", "incident_id": "inc-page", "status": "open",
                   "scope": "host", "scope_value": "r07-gpu02", "suspect": "host r07-gpu02 gpu 5",
                   "root_cause_hint": "GPU 5 reported XID 79", "fault_probability": 0.83,
                   "hosts": ["r07-gpu02"], "alerts": ["a"], "fault_classes": ["gpu_xid_79"],
                   "severity": "critical", "opened_at": iso(now), "updated_at": iso(now),
                   "resolved_at": None, "evidence": {},
                   "suspects": [{"host": "r07-gpu02", "score": 0.9, "reason": "xid"},
                                {"host": "r07-gpu03", "score": 0.2, "reason": "same job"}]})
        browser.get(console_url)
        card = wait_until(lambda: browser.execute_script(
            "const c = document.querySelector('#incidents li[data-id=\"inc-page\"]');"
            "return c ? [c.querySelector('.inc-suspect a').getAttribute('href'),"
            " c.textContent] : null"), 10, "the incident card")
        href, text = card
        assert href == "#/host/r07-gpu02"
        assert "Other candidates: r07-gpu03 (0.20)" in text and "83 %" in text


class TestMoreRows:
    """The newest 60 matching alerts are drawn; 'Show 60 more' draws the rest."""

    def test_show_more(self, browser: Any, console_url: str, inbox: Inbox) -> None:
        """70 alerts of one rule: 60 rows and the button, then 70 rows."""
        from selenium.webdriver.common.by import By

        for i in range(70):
            send(inbox, f"r09-gpu{i % 16 + 1:02d}", "firing", f"bulk-{i}", severity="info",
                 gpu=str(i % 8), rule="BulkRule")
        browser.get(console_url)

        def rows() -> int:
            return int(browser.execute_script(
                "return document.querySelectorAll('#alerts tbody tr.firing').length"))

        wait_until(lambda: browser.execute_script(
            "return [...document.querySelectorAll('#f-rule option')]"
            ".some(o => o.value === 'BulkRule')"), 10, "the rule filter to offer BulkRule")
        browser.execute_script("const s = document.querySelector('#f-rule');"
                               "s.value = 'BulkRule'; s.dispatchEvent(new Event('change'));")
        assert rows() == 60
        more = browser.find_element(By.ID, "alerts-more")
        assert more.is_displayed()
        more.click()
        assert rows() == 70 and not more.is_displayed()
