"""Every role's /metrics: valid exposition text, documented, and what the rules use."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support import tools
from tests.support.exposition import ROLES, collectors, exposition

REPO = Path(__file__).resolve().parents[3]
RULES = REPO / "deploy" / "prometheus" / "rackwatch-rules.yaml"
_SUFFIX = re.compile(r"_(total|bucket|count|sum|created)$")


def exported() -> dict[str, str]:
    """Every metric name as scraped (counters with _total) -> its role."""
    out = {}
    for role, c in collectors().items():
        for fam in c.collect():
            out[fam.name + ("_total" if fam.type == "counter" else "")] = role
    return out


def promtool() -> Path:
    found = tools.promtool()
    if found is None:
        pytest.skip("promtool not found: `make tools` builds it (Go needed), or set "
                    "RACKWATCH_PROMTOOL")
    return found


class TestExposition:
    """The text each endpoint serves."""

    @pytest.mark.parametrize("role", ROLES)
    def test_a_real_parser_reads_it(self, role: str) -> None:
        """prometheus-client's parser reads every family; names say whose they are."""
        fams = list(text_string_to_metric_families(exposition(role)))
        assert fams and all(f.name.startswith(f"rackwatch_{role}_") for f in fams)
        assert all(f.documentation for f in fams)
        assert any(f.type == "histogram" for f in fams)

    @pytest.mark.parametrize("role", ROLES)
    def test_promtool_check_metrics(self, role: str) -> None:
        """Prometheus' own linter finds nothing (names, units, help, types)."""
        res = subprocess.run([str(promtool()), "check", "metrics"], input=exposition(role),
                             capture_output=True, text=True, check=False)
        assert res.returncode == 0, res.stdout + res.stderr

    def test_no_name_twice(self) -> None:
        """Four roles, no metric name shared (each is scraped with its job label)."""
        names = [f.name for c in collectors().values() for f in c.collect()]
        assert len(names) == len(set(names))


class TestDocumented:
    """docs/operations.md lists every metric, and nothing else by that prefix."""

    def test_every_metric_is_documented(self) -> None:
        """The same set of names in the docs as in the exposition."""
        text = (REPO / "docs" / "operations.md").read_text()
        section = text[text.index("## Watch rackwatch with Prometheus"):]
        documented = set(re.findall(r"`(rackwatch_[a-z0-9_]+)`", section))
        assert documented == set(exported())


class TestRules:
    """deploy/prometheus/rackwatch-rules.yaml is valid and uses what rackwatch exports."""

    def exprs(self) -> list[str]:
        doc = yaml.safe_load(RULES.read_text())
        return [r["expr"] for g in doc["groups"] for r in g["rules"]]

    def test_every_metric_in_an_expr_is_exported(self) -> None:
        """A rule over a metric nobody exports would never fire: none is."""
        known = {_SUFFIX.sub("", n) for n in exported()} | set(exported())
        used = {m for e in self.exprs() for m in re.findall(r"\brackwatch_[a-z0-9_]+", e)}
        assert used and used <= known, used - known
        needed = {"rackwatch_worker_partition_lag", "rackwatch_worker_dead_letters_total",
                  "rackwatch_sink_partition_lag", "rackwatch_agent_spill_bytes",
                  "rackwatch_worker_watchdog_actions_total"}
        assert needed <= used

    def test_promtool_checks_and_tests_the_rules(self) -> None:
        """promtool check rules, then the unit tests of the alerts beside them."""
        tool = str(promtool())
        check = subprocess.run([tool, "check", "rules", str(RULES)], capture_output=True,
                               text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr
        unit = subprocess.run([tool, "test", "rules", "rackwatch-rules.test.yaml"],
                              cwd=RULES.parent, capture_output=True, text=True, check=False)
        assert unit.returncode == 0, unit.stdout + unit.stderr
