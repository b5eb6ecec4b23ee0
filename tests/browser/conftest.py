"""Fixtures of the browser tests: a headless Chromium session, artifacts, API schemas.

Every test here is skipped, with the reason, when Debian's chromium or chromedriver is
absent (`make browser` installs them). Screenshots go under
.rackwatch/test-artifacts/console/ so a person can look at what the test saw.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".rackwatch" / "test-artifacts" / "console"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = chromium.missing()
    if reason is None:
        return
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A headless Chromium with a fresh profile; console errors fail the test."""
    driver = chromium.start_browser(tmp_path / "profile")
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def module_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Chromium for a whole module (the live pipeline test shares it)."""
    driver = chromium.start_browser(tmp_path_factory.mktemp("profile"))
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def wait_until(check: Callable[[], Any], timeout: float, what: str,
               on_timeout: Callable[[], str] | None = None, every: float = 0.5) -> Any:
    """Poll `check` until it returns something truthy; fail saying `what` otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    extra = on_timeout() if on_timeout is not None else ""
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last {last!r:.300}\n{extra}")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())
