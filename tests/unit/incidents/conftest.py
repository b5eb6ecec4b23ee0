"""Fixtures of the incident tests: a correlator with a small, known fault model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the dev extras
import pytest

from streams.incidents import Correlator, CorrelatorConfig, FaultModel

SCHEMA = Path(__file__).resolve().parents[3] / "schemas" / "json" / "incident.v1.schema.json"


@pytest.fixture
def model() -> FaultModel:
    """A hand-made model: hot GPUs and recent GPU faults raise the probability."""
    return FaultModel(intercept=-4.0, coefficients={"gpu_hot_minutes": 3.0, "faults_gpu": 2.0})


@pytest.fixture
def make_correlator(model: FaultModel) -> Callable[..., Correlator]:
    def make(**overrides: Any) -> Correlator:
        return Correlator(CorrelatorConfig(**overrides), model)
    return make


@pytest.fixture(scope="session")
def check_incident() -> Callable[[dict[str, Any]], None]:
    """Validates a message against the published JSON Schema of rackwatch.incident/v1."""
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))

    def check(message: dict[str, Any]) -> None:
        validator.validate(message)
    return check
