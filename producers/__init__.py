"""rackwatch producers: the host agent and the simulated fleet.

- `producers.agent`: `run_agent`, `AgentOptions`, `collect_once` (psutil, NVML, log
  files, /dev/kmsg -> `rackwatch.metrics` and `rackwatch.logs`).
- `producers.simulator`: `Fleet`, `SimOptions`, `run_simulator` (fault injection and
  ground-truth manifest).
- `producers.publisher` / `producers.buffer`: the ordered, bounded, spilling sender
  both share.
- `rackwatch.commands.producers`: the `agent` and `simulate` subcommands.
"""
