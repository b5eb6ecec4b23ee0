"""Shared fixtures: a real local Kafka broker for the whole session, unique names per test.

The broker is started once per test session on free ports with its data in a
temporary directory, and stopped at the end whatever happens, so a test run leaves
nothing running behind it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.broker import LocalBroker, free_port
from common.config import BrokerConfig

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def local_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A real single-node KRaft Kafka broker, started once for the session."""
    cfg = BrokerConfig(port=free_port(), controller_port=free_port())
    broker = LocalBroker(cfg, tmp_path_factory.mktemp("kafka"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_broker(local_broker: LocalBroker) -> str:
    """The bootstrap address ("127.0.0.1:PORT") of the session's broker."""
    return local_broker.bootstrap


@pytest.fixture
def topic_prefix() -> str:
    """A topic prefix no other test uses, so tests never see each other's data."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def shared_dir() -> Path:
    """The shared data folder beside the repository, or skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED}")
    return SHARED
