#!/usr/bin/env python3
"""The image's health check: GET /readyz of the role in this container.

`rackwatch-healthcheck [PORT...]`: exit 0 when the first port that answers says ready
(200), 1 otherwise. Without ports it tries every role's usual one (worker 9464, sink 9465,
forwarder 9466, agent 9467): a container runs one role.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

PORTS = (9464, 9465, 9466, 9467)


def check(ports: list[int], timeout: float = 3.0) -> tuple[bool, str]:
    for port in ports:
        url = f"http://127.0.0.1:{port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                return resp.status == 200, f"{url}: {resp.read(200).decode().strip()}"
        except urllib.error.HTTPError as e:  # answered, not ready (503 and its reason)
            return False, f"{url}: {e.code} {e.read(200).decode().strip()}"
        except OSError:
            continue  # nothing on this port
    return False, f"no readiness endpoint on ports {', '.join(map(str, ports))}"


if __name__ == "__main__":
    ok, why = check([int(p) for p in sys.argv[1:]] or list(PORTS))
    print(why)
    sys.exit(0 if ok else 1)
