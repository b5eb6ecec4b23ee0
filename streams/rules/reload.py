"""Hot reload of a rule file: notice a change, validate, and hand over a new RuleSet.

The worker calls `poll()` from a timer and `reload()` on SIGHUP, then gives the new
rules to `RuleEngine.replace_rules`. A file that fails validation never replaces
working rules: its problems are logged and kept in `last_error`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from streams.rules.model import RuleError, RuleSet
from streams.rules.parse import load_rules

__all__ = ["RulesWatcher"]

log = logging.getLogger(__name__)

_Stamp = tuple[int, int, int]


class RulesWatcher:
    """Watches one rule file by (mtime, size, inode); `rules` is the last good RuleSet."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stamp = self._stat()
        self.rules: RuleSet = load_rules(self.path)  # a bad file at start-up is fatal
        self.last_error: RuleError | None = None

    def _stat(self) -> _Stamp | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def poll(self) -> RuleSet | None:
        """A new RuleSet if the file changed and is valid, else None."""
        stamp = self._stat()
        if stamp is None or stamp == self._stamp:
            return None
        self._stamp = stamp
        return self._load()

    def reload(self) -> RuleSet | None:
        """Re-read now (SIGHUP); a new RuleSet if the content changed and is valid."""
        self._stamp = self._stat()
        return self._load()

    def _load(self) -> RuleSet | None:
        try:
            rules = load_rules(self.path)
        except RuleError as e:
            self.last_error = e
            for problem in e.problems:
                log.error("rules not reloaded: %s", problem)
            return None
        self.last_error = None
        if rules.digest == self.rules.digest:
            return None
        log.info("rules reloaded from %s: %d rules, %d inhibit rules", self.path,
                 len(rules.rules), len(rules.inhibit_rules))
        self.rules = rules
        return rules
