"""A simulated GPU fleet with fault injection: the same events as real agents.

`Fleet(opts).events()` is a pure, seeded generator (tests, benchmarks, replay
files); `run_simulator` plays it to Kafka or a file, fast or in real time, and
writes the ground-truth manifest of injected faults.
"""

from producers.simulator.fleet import Event, Fleet, generate
from producers.simulator.options import FAST_EPOCH_MS, SimOptions
from producers.simulator.runner import SimStats, run_simulator
from producers.simulator.spec import KINDS, SCENARIOS, FaultSpec, FaultSpecError, parse_faults

__all__ = [
    "FAST_EPOCH_MS",
    "KINDS",
    "SCENARIOS",
    "Event",
    "FaultSpec",
    "FaultSpecError",
    "Fleet",
    "SimOptions",
    "SimStats",
    "generate",
    "parse_faults",
    "run_simulator",
]
