"""The configured targets: each has a kind, a name, a URL and a consumer group.

Each target reads `rackwatch.alerts` in a consumer group of its own, so its offsets
move only with its own deliveries: a target that stays down holds back its own group,
never the others (its lag shows it), and a new target starts without touching the rest.
The group's name comes from the URL (`<prefix>.alertmanager-<8 hex of the URL>`), so it
stays the same across restarts as long as the URL does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from common.config import Config
from common.dsn import mask_dsn

__all__ = ["ALERTMANAGER", "WEBHOOK", "Target", "targets"]

ALERTMANAGER, WEBHOOK = "alertmanager", "webhook"


@dataclass(frozen=True)
class Target:
    kind: str  # ALERTMANAGER or WEBHOOK
    url: str  # where requests go (Alertmanager: its /api/v2/alerts)
    name: str  # for logs and metric labels: kind:host:port/path, no credentials
    group_id: str

    @property
    def refreshes(self) -> bool:
        """Whether firing alerts are re-sent (Alertmanager expires what is not)."""
        return self.kind == ALERTMANAGER


def _name(kind: str, url: str) -> str:
    p = urlsplit(url)
    where = f"{p.hostname}:{p.port}" if p.port else str(p.hostname)
    return f"{kind}:{where}{p.path.rstrip('/')}"


def targets(cfg: Config) -> list[Target]:
    """Every configured target, Alertmanagers first."""
    f = cfg.forwarder
    base = f.group_id or cfg.kafka.topic_prefix + "forward"
    out = []
    for kind, urls in ((ALERTMANAGER, f.alertmanager_urls), (WEBHOOK, f.webhook_urls)):
        for url in urls:
            post = url.rstrip("/") + "/api/v2/alerts" if kind == ALERTMANAGER else url
            digest = hashlib.sha256(url.encode()).hexdigest()[:8]
            out.append(Target(kind, post, mask_dsn(_name(kind, url)),
                              f"{base}.{kind}-{digest}"))
    return out
