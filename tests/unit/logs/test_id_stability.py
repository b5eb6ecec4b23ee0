"""Template ids across processes: real child processes, different hash seeds, a restart."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from streams.logs import LogProcessor

REPO = Path(__file__).resolve().parents[3]

# The child: read {"events": [...], "state": base64|null} on stdin, process every event,
# print {"ids": [...], "templates": [...], "state": base64}.
CHILD = """
import base64, json, sys
from streams.logs import LogProcessor
job = json.load(sys.stdin)
state = base64.b64decode(job["state"]) if job["state"] else None
p = LogProcessor(miner_state=state)
records = [p.process(ev) for ev in job["events"]]
print(json.dumps({
    "ids": [r["template_id"] for r in records],
    "templates": [r["template"] for r in records],
    "state": base64.b64encode(p.snapshot()).decode(),
}))
"""


def run_child(events: list[dict[str, Any]], state: str | None = None,
              hash_seed: str = "0") -> dict[str, Any]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", CHILD], input=json.dumps({"events": events, "state": state}),
        capture_output=True, text=True, cwd=REPO, env=env, timeout=60, check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def events(host: str, lines: list[str]) -> list[dict[str, Any]]:
    return [{"schema": "rackwatch.logs/v1", "host": host, "ts": 1_718_000_000_000 + i,
             "seq": i, "message": line} for i, line in enumerate(lines)]


MIXED = [
    "Jun 10 12:00:01 gpu01 sshd[101]: session closed for user alice",
    "Jun 10 12:00:02 gpu01 kernel: [ 12.5] NVRM: Xid (PCI:0000:3b:00): 79, pid=2345, "
    "name=python, GPU has fallen off the bus.",
    "Jun 10 12:00:03 gpu01 sshd[102]: session closed for user bob",
    "Jun 10 12:00:04 gpu01 sshd[103]: Connection closed by 10.1.2.3 port 5022 [preauth]",
    "<11>1 2024-06-10T12:00:05Z gpu01 trainer 77 - - step 100 loss=0.25 lr=0.001",
    '{"level":"warn","msg":"slow collective on rank 3","ts":1718020806}',
    "Jun 10 12:00:07 gpu01 sshd[104]: session closed for user carol",
    "Jun 10 12:00:08 gpu01 kernel: [ 13.1] mlx5_core 0000:5e:00.0 ens1f0: Link down",
    "Jun 10 12:00:09 gpu01 sshd[105]: Connection closed by 10.9.8.7 port 6022 [preauth]",
    "Jun 10 12:00:10 gpu01 trainer[77]: step 200 loss=0.21 lr=0.001",
]


class TestTwoProcesses:
    def test_same_stream_same_ids_whatever_the_hash_seed(self) -> None:
        """Two interpreters with different hash seeds give every line the same id."""
        evs = events("gpu01", MIXED * 2)
        a = run_child(evs, hash_seed="1")
        b = run_child(evs, hash_seed="2")
        assert a["ids"] == b["ids"]
        assert a["templates"] == b["templates"]
        local = LogProcessor()
        assert [local.process(e)["template_id"] for e in evs] == a["ids"]

    def test_different_histories_agree_on_masked_templates(self) -> None:
        """Workers seeing different hosts, values and orders agree where values are masked."""
        worker_a = [
            "NVRM: Xid (PCI:0000:3b:00): 79, pid=2345, name=python, GPU has fallen off the bus.",
            "Connection closed by 10.1.2.3 port 5022 [preauth]",
            "watchdog: BUG: soft lockup - CPU#3 stuck for 22s! [python:1234]",
            "blk_update_request: I/O error, dev sda, sector 12345",
        ]
        worker_b = [
            "blk_update_request: I/O error, dev sda, sector 999",
            "something only worker b sees",
            "watchdog: BUG: soft lockup - CPU#17 stuck for 61s! [python:4321]",
            "NVRM: Xid (PCI:0000:86:00): 79, pid=7, name=python, GPU has fallen off the bus.",
            "Connection closed by 192.168.0.9 port 40022 [preauth]",
        ]
        a = run_child(events("node-a", worker_a), hash_seed="3")
        b = run_child(events("node-b", worker_b), hash_seed="4")
        ids_a = dict(zip(a["templates"], a["ids"], strict=True))
        ids_b = dict(zip(b["templates"], b["ids"], strict=True))
        shared = set(ids_a) & set(ids_b)
        assert len(shared) == 4
        assert all(ids_a[t] == ids_b[t] for t in shared)


class TestRestart:
    def test_restored_state_continues_like_an_uninterrupted_run(self) -> None:
        """Stop after half the stream, restart in a new process from the snapshot: same ids."""
        evs = events("gpu01", MIXED * 2)
        half = 2  # the restart resumes at "user bob": a fresh miner would give it a new id
        whole = run_child(evs, hash_seed="5")
        first = run_child(evs[:half], hash_seed="6")
        second = run_child(evs[half:], state=first["state"], hash_seed="7")
        assert first["ids"] + second["ids"] == whole["ids"]
        assert json.loads(base64.b64decode(second["state"])) == json.loads(
            base64.b64decode(whole["state"]))
