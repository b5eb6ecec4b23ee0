"""Headless Debian Chromium driven by Selenium through the system chromedriver.

Never a browser of a tool's own: the binary and driver are Debian's (`make browser`
installs them), Selenium is told both paths so it never looks for or fetches one, and
every session gets a fresh profile directory. Used by the browser tests and by
benchmarks/console.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

__all__ = ["AXE", "FLAGS", "axe_violations", "heap_metrics", "js_errors", "missing",
           "start_browser"]

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "console" / "node_modules" / "axe-core" / "axe.min.js"
VENDOR = REPO / "console" / "static" / "vendor" / "uPlot.iife.min.js"
CHROMIUM = os.environ.get("RACKWATCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = (os.environ.get("RACKWATCH_CHROMEDRIVER") or shutil.which("chromedriver")
                or "/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage", "--disable-extensions", "--hide-scrollbars")


def missing() -> str | None:
    """Why the browser cannot run here, or None when it can."""
    for what, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return (f"{what} not found at {path}: install Debian's chromium and "
                    "chromium-driver (make browser) to run the console's browser tests")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (pip install -e '.[dev]')"
    for asset in (VENDOR, AXE):
        if not asset.is_file():
            return (f"{asset.relative_to(REPO)} is missing: the console's front-end packages are "
                    "installed from npm by `make setup` (npm ci in console/)")
    return None


def start_browser(profile: Path, width: int = 1600, height: int = 1000) -> Any:
    """A headless Chromium session with a fresh profile under `profile`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile.mkdir(parents=True, exist_ok=True)
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.add_argument(f"--window-size={width},{height}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER, log_output=str(profile / "driver.log"))
    driver = webdriver.Chrome(service=service, options=opts)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(60)
    return driver


def js_errors(driver: Any) -> list[str]:
    """The page's console errors since the last call (SEVERE entries)."""
    return [str(e.get("message")) for e in driver.get_log("browser")
            if e.get("level") == "SEVERE"]


def heap_metrics(driver: Any) -> dict[str, float]:
    """Chromium's own performance metrics of the page (JSHeapUsedSize, Nodes, ...)."""
    driver.execute_cdp_cmd("Performance.enable", {})
    got = driver.execute_cdp_cmd("Performance.getMetrics", {})
    return {m["name"]: float(m["value"]) for m in got["metrics"]}


def axe_violations(driver: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the current page (WCAG 2 A/AA and best practices)."""
    if not AXE.is_file():
        raise FileNotFoundError(f"{AXE} is missing: run `make setup` (npm ci in console/)")
    driver.execute_script(AXE.read_text())
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ': ' + n.failureSummary)}))))"
        ".catch(e => done({error: String(e)}));")
    if isinstance(result, dict):
        raise RuntimeError(f"axe-core failed: {result.get('error')}")
    return list(result)
