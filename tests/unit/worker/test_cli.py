"""`rackwatch worker`'s faust Worker: no terminal codes in a log file."""

from __future__ import annotations

import io

import faust

from rackwatch.commands.streams import faust_worker


class TestSpinner:
    def test_no_spinner_when_stdout_is_not_a_terminal(self) -> None:
        """The progress spinner (cursor codes like ESC[?25l) is off for a log file."""
        app = faust.App("rackwatch-test-spinner", broker="kafka://127.0.0.1:1",
                        web_enabled=False)
        worker = faust_worker(app, "warning", stdout=io.StringIO())
        assert worker.spinner is None
