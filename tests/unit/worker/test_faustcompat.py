"""The one private faust call the worker makes still exists with the shape it relies on."""

from __future__ import annotations

import inspect

from faust.transport.consumer import Consumer


class TestFaustPrivateApi:
    def test_consumer_commit_takes_an_offset_mapping(self) -> None:
        """`Consumer._commit(offsets)` is a coroutine function of one mapping argument; if
        faust renames or reshapes it, this fails before any commit silently does."""
        commit = Consumer._commit
        assert inspect.iscoroutinefunction(commit)
        params = list(inspect.signature(commit).parameters)
        assert params == ["self", "offsets"]

    def test_public_calls_the_worker_uses_exist(self) -> None:
        """seek (re-reads from an offset) and highwater (a partition's end) are public."""
        assert inspect.iscoroutinefunction(Consumer.seek)
        assert list(inspect.signature(Consumer.seek).parameters) == ["self", "partition",
                                                                     "offset"]
        assert callable(Consumer.highwater)
