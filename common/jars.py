"""Kafka's jars, resolved once with the machine's Maven into a cache shared by checkouts.

A pinned release and its runtime dependencies (plus the logging backend it ships
with) are copied by `mvn dependency:copy-dependencies` into a temporary directory that
is renamed into place only when Maven succeeded, so an interrupted fetch is redone,
never half used. The local broker (common.broker) runs them.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from common.config import BrokerConfig

__all__ = ["BrokerError", "fetch_jars", "jar_cache_dir"]

log = logging.getLogger(__name__)

# The logging backend Kafka 3.9 ships with (reload4j behind slf4j 1.7).
_EXTRA_DEPENDENCIES = [("org.slf4j", "slf4j-reload4j", "1.7.36")]

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>rackwatch.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
</project>
"""

class BrokerError(RuntimeError):
    """The local broker could not be fetched, started or stopped."""


def jar_cache_dir(cfg: BrokerConfig) -> Path:
    """Where the jars of one Kafka release live; shared by all checkouts of a machine."""
    base = os.environ.get("RACKWATCH_KAFKA_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "rackwatch"
    return root / f"kafka_{cfg.scala}-{cfg.version}"


def fetch_jars(cfg: BrokerConfig, progress: Callable[[str], None] | None = None) -> Path:
    """Resolve the release and its runtime dependencies with Maven, once. Idempotent.

    The first run downloads about 40 jars (~70 MB); `progress` is told about each one
    as Maven reports it, so a first `make demo` does not look stuck."""
    cache = jar_cache_dir(cfg)
    lib = cache / "lib"
    done = cache / ".complete"
    if done.is_file() and any(lib.glob("kafka_*.jar")):
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Maven (mvn) is not on PATH; it is needed once to fetch Kafka's jars")
    cache.mkdir(parents=True, exist_ok=True)
    deps = [("org.apache.kafka", f"kafka_{cfg.scala}", cfg.version), *_EXTRA_DEPENDENCIES]
    xml = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version></dependency>"
        for g, a, v in deps
    )
    (cache / "pom.xml").write_text(_POM.format(deps=xml))
    tmp = cache / "lib.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    log.info("fetching Apache Kafka %s jars with Maven into %s", cfg.version, cache)
    if progress is not None:
        progress(f"fetching Apache Kafka {cfg.version} with Maven into {cache} (first run "
                 "only; about 70 MB)")
    code, output = _run_maven(
        [mvn, "-B", "-f", str(cache / "pom.xml"), "dependency:copy-dependencies",
         f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"], progress)
    if code != 0:
        raise BrokerError(f"mvn failed to fetch Kafka {cfg.version}:\n{output[-4000:]}")
    shutil.rmtree(lib, ignore_errors=True)
    tmp.rename(lib)
    done.write_text(cfg.version + "\n")
    if progress is not None:
        progress(f"fetched {sum(1 for _ in lib.glob('*.jar'))} jars into {lib}")
    return lib


_DOWNLOADED = re.compile(r"Downloaded from \S+: \S*/([^/\s]+\.jar) \(([^)]*?)(?: at [^)]*)?\)")


def _run_maven(cmd: list[str], progress: Callable[[str], None] | None) -> tuple[int, str]:
    """Run Maven, telling `progress` of each jar downloaded; (exit code, whole output)."""
    lines: list[str] = []
    jars = 0
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          stdin=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            m = _DOWNLOADED.search(line)
            if m and progress is not None:
                jars += 1
                progress(f"  [{jars:>2}] {m.group(1)} ({m.group(2)})")
    return proc.returncode, "".join(lines)
