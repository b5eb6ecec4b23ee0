"""The KRaft cluster id handed to Kafka's storage tool on the command line."""

from __future__ import annotations

import base64
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from common.broker import _cluster_id


@given(st.text(min_size=1, max_size=60).filter(lambda s: "\x00" not in s))
def test_cluster_id_is_a_kafka_uuid_that_cannot_read_as_an_option(name: str) -> None:
    cid = _cluster_id(Path("/data") / name)
    assert len(cid) == 22
    assert not cid.startswith("-")
    assert len(base64.urlsafe_b64decode(cid + "==")) == 16
    assert _cluster_id(Path("/data") / name) == cid  # stable for one directory


def test_cluster_id_skips_a_leading_dash() -> None:
    # Find data directories whose first hash would start with "-" (about 1 in 64):
    # the id must still be valid, and distinct directories still get distinct ids.
    ids = {_cluster_id(Path(f"/tmp/kafka{i}")) for i in range(500)}
    assert len(ids) == 500
    assert not any(i.startswith("-") for i in ids)
