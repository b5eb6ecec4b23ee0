"""Rules reloaded in a running worker, on SIGHUP or when the file changes.

Alert state is kept across a reload (streams.rules.engine decides what a change of a
rule means for its alerts). A bad new version never replaces working rules: its
problems are logged once per version and the old rules stay.
"""

from __future__ import annotations

import logging
import signal
from typing import Any

from streams.rules import RulesWatcher
from streams.runtime import Runtime

__all__ = ["RulesReloader"]

log = logging.getLogger(__name__)


class RulesReloader:
    """Call `check()` from a timer; SIGHUP makes the next check reload at once."""

    def __init__(self, path: str, runtime: Runtime) -> None:
        self.path = path
        self.runtime = runtime
        self.watcher = RulesWatcher(path)
        self.requested = False
        self._logged: Any = None
        signal.signal(signal.SIGHUP, self._on_hup)

    def _on_hup(self, signum: int, frame: Any) -> None:
        self.requested = True

    def check(self) -> None:
        new = self.watcher.reload() if self.requested else self.watcher.poll()
        self.requested = False
        if new is not None:
            self.runtime.replace_rules(new)
            log.warning("rules reloaded from %s", self.path)
        elif self.watcher.last_error is not None and self._logged is not self.watcher.last_error:
            self._logged = self.watcher.last_error  # said once per bad version
            log.error("rules file %s is invalid, keeping the old rules: %s", self.path,
                      self.watcher.last_error)
