"""A real Alertmanager and small HTTP receivers, for the forwarder's integration tests.

`Receiver` is a local HTTP server that records every POST and checks that each body is
Alertmanager's webhook payload (version 4); it can answer with errors first, to test
retries. `AlertmanagerProcess` runs the real binary on a free port, with one route to a
Receiver (so what Alertmanager itself notifies, firing and resolved, is visible), and
talks to its API v2.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from common.broker import free_port

__all__ = ["AlertmanagerProcess", "Receiver", "check_webhook_payload"]

_WEBHOOK_KEYS = {"version": str, "groupKey": str, "truncatedAlerts": int, "status": str,
                 "receiver": str, "groupLabels": dict, "commonLabels": dict,
                 "commonAnnotations": dict, "externalURL": str, "alerts": list}
_ALERT_KEYS = {"status": str, "labels": dict, "annotations": dict, "startsAt": str,
               "endsAt": str, "generatorURL": str, "fingerprint": str}


def check_webhook_payload(body: Any) -> list[str]:
    """Why `body` is not Alertmanager's webhook payload, version 4 (empty: it is)."""
    if not isinstance(body, dict):
        return ["not an object"]
    bad = [f"{k}: missing or not {t.__name__}" for k, t in _WEBHOOK_KEYS.items()
           if not isinstance(body.get(k), t)]
    if body.get("version") != "4" or body.get("status") not in ("firing", "resolved"):
        bad.append(f"version {body.get('version')!r}, status {body.get('status')!r}")
    for i, a in enumerate(body.get("alerts") or []):
        bad += [f"alerts[{i}].{k}: missing or not {t.__name__}" for k, t in _ALERT_KEYS.items()
                if not isinstance(a.get(k), t)]
        if a.get("status") not in ("firing", "resolved") or "alertname" not in a.get(
                "labels", {}):
            bad.append(f"alerts[{i}]: status {a.get('status')!r} or no alertname")
    return bad


class Receiver:
    """Records POSTed JSON bodies; answers `fail_first` requests with 500 first."""

    def __init__(self, fail_first: int = 0, port: int = 0) -> None:
        self.bodies: list[Any] = []
        self.problems: list[str] = []
        self.requests = 0
        self.fail_first = fail_first
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with owner.lock:
                    owner.requests += 1
                    failing = owner.requests <= owner.fail_first
                    if not failing:
                        body = json.loads(raw)
                        owner.problems += check_webhook_payload(body)
                        owner.bodies.append(body)
                self.send_response(500 if failing else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert received, in order."""
        with self.lock:
            return [a for b in self.bodies for a in b["alerts"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


_CONFIG = """route:
  receiver: recorder
  group_by: [alertname, host]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: recorder
    webhook_configs:
      - url: {url}
        send_resolved: true
"""


class AlertmanagerProcess:
    """The real Alertmanager on a free port, notifying `receiver`."""

    def __init__(self, binary: Path, workdir: Path, receiver: Receiver) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "alertmanager.yml").write_text(_CONFIG.format(url=receiver.url))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "alertmanager.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(binary), f"--config.file={workdir / 'alertmanager.yml'}",
                 f"--storage.path={workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}",
                 "--cluster.listen-address=", "--log.level=info"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.wait_ready()

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=5) as r:
            return json.loads(r.read())

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"Alertmanager did not start:\n{self.log.read_text()[-2000:]}")

    def alerts(self, **labels: str) -> list[dict[str, Any]]:
        """GET /api/v2/alerts filtered on `labels` (active, silenced and inhibited)."""
        from urllib.parse import quote

        query = "&".join(f"filter={quote(f'{k}={json.dumps(v)}')}" for k, v in labels.items())
        found: list[dict[str, Any]] = self._get("/api/v2/alerts" + ("?" + query if query
                                                                    else ""))
        return found

    def silence(self, comment: str, **labels: str) -> str:
        """Create a silence for an hour on `labels` (POST /api/v2/silences); its id."""
        now = time.time()
        body = {"matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True}
                             for k, v in labels.items()],
                "startsAt": _iso(now), "endsAt": _iso(now + 3600), "createdBy": "test",
                "comment": comment}
        req = urllib.request.Request(self.url + "/api/v2/silences", method="POST",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            sid: str = json.loads(r.read())["silenceID"]
        return sid

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 90.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = check()
            if got:
                return got
            time.sleep(0.5)
        raise TimeoutError(f"{what}: not within {timeout:.0f}s")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
