"""Incidents: alerts and fault events grouped per host, rack and job, with root-cause
hints and a fault probability (see docs/incidents.md).

The package is a pure core: `Correlator.on_event` / `Correlator.tick` take a plain
state dict and return incident messages; nothing here talks to Kafka or ClickHouse
except the `train --from-clickhouse` command, through the store module.
"""

from streams.incidents.config import SYMPTOM_FAULTS, CorrelatorConfig
from streams.incidents.correlator import Correlator, CorrelatorCounters
from streams.incidents.events import route_event, routes_for
from streams.incidents.features import FEATURES, features_from_context
from streams.incidents.model import FaultModel, ModelError
from streams.incidents.training import Evaluation, TrainingError, evaluate, train

__all__ = [
    "FEATURES",
    "SYMPTOM_FAULTS",
    "Correlator",
    "CorrelatorConfig",
    "CorrelatorCounters",
    "Evaluation",
    "FaultModel",
    "ModelError",
    "TrainingError",
    "evaluate",
    "features_from_context",
    "route_event",
    "routes_for",
    "train",
]
