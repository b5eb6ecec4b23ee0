"""`[correlator]` in the one configuration model reaches the correlator of replay (and so
of the worker, which builds it the same way)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from common.config import ConfigError, CorrelatorSection, load_config
from streams.incidents.config import CorrelatorConfig, from_section

T0 = 1_700_000_000_000
RULES = """
groups:
  - name: t
    rules:
      - alert: Hot
        kind: threshold
        metric: cpu.usage
        above: 0.9
        labels: {severity: warning}
"""


def _section(text: str) -> CorrelatorSection:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "rackwatch.toml"
        path.write_text(text)
        return load_config(path, env={"RACKWATCH_HOME": d}).correlator


class TestFromSection:
    """Seconds become event-time milliseconds; defaults equal the correlator's own."""

    def test_defaults_are_the_correlators(self) -> None:
        assert from_section(_section("")) == CorrelatorConfig()

    def test_values_carried_over(self, tmp_path: Path) -> None:
        graph = tmp_path / "calls.yaml"
        graph.write_text("frontend: [cart, checkout]\n")
        got = from_section(_section(f"""
[correlator]
window_s = 600
grace_s = 10.5
place_labels = ["node"]
call_graph = "{graph}"
"""))
        assert (got.window_ms, got.grace_ms, got.place_labels) == (600_000, 10_500, ("node",))
        assert got.call_graph == {"frontend": ("cart", "checkout")}

    def test_impossible_combination_is_named(self) -> None:
        with pytest.raises(ValueError, match="grace_ms must be shorter than window_ms"):
            from_section(_section("[correlator]\nwindow_s = 30\ngrace_s = 45\n"))

    def test_unknown_key_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError, match=r"unknown key \[correlator\].windw_s"):
            _section("[correlator]\nwindw_s = 3\n")


def _events(path: Path) -> Path:
    """Three pods of node n7 (no rack) running hot at once."""
    lines = []
    for i in range(12):
        for h in ("pod-a", "pod-b", "pod-c"):
            lines.append(orjson.dumps({
                "schema": "rackwatch.metrics/v1", "host": h, "ts": T0 + i * 10_000,
                "seq": i + 1, "labels": {"node": "n7"}, "interval_ms": 10_000,
                "samples": [{"name": "cpu.usage", "value": 0.99 if i >= 2 else 0.1}]}))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _replay(tmp_path: Path, toml: str) -> tuple[int, list[dict[str, object]], str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "rackwatch.toml").write_text(toml)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    p = subprocess.run([sys.executable, "-m", "rackwatch.cli", "replay",
                        str(_events(tmp_path / "ev.jsonl")), "--rules", str(rules),
                        "--emit", "incidents"],
                       capture_output=True, text=True, env={"RACKWATCH_HOME": str(home),
                                                            "PATH": "/usr/bin:/bin"},
                       timeout=120)
    return p.returncode, [orjson.loads(x) for x in p.stdout.splitlines()], p.stderr


class TestThroughReplay:
    """The configured place label makes a node incident; the default makes none."""

    def test_place_labels_from_the_config(self, tmp_path: Path) -> None:
        rc, out, err = _replay(tmp_path, '[correlator]\nplace_labels = ["node"]\n')
        assert rc == 0, err
        scopes = {(i["scope"], i.get("scope_value")) for i in out}
        assert ("node", "n7") in scopes
        rc, out, err = _replay(tmp_path, "")
        assert rc == 0, err
        assert all(i["scope"] != "node" for i in out)

    def test_impossible_settings_exit_2_without_traceback(self, tmp_path: Path) -> None:
        rc, _, err = _replay(tmp_path, "[correlator]\nwindow_s = 30\ngrace_s = 45\n")
        assert rc == 2
        assert "grace_ms must be shorter than window_ms" in err and "Traceback" not in err
