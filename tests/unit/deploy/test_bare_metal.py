"""deploy/systemd and deploy/ansible: hardened units, a playbook Ansible accepts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.deploy.helpers import REPO, check_command, tool

UNITS = REPO / "deploy" / "systemd"
ANSIBLE = REPO / "deploy" / "ansible"
SERVICES = sorted(p.name for p in UNITS.glob("rackwatch-*.service")
                  if "compose" not in p.name)


def _entries(name: str, section: str) -> list[tuple[str, str]]:
    """(key, value) of one section, in order: systemd keys repeat (Environment=)."""
    out, current = [], ""
    for line in (UNITS / name).read_text().splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
        elif line and not line.startswith(("#", ";")) and current == section:
            key, _, value = line.partition("=")
            out.append((key.strip(), value.strip()))
    return out


def _unit(name: str) -> dict[str, dict[str, str]]:
    """Section -> key -> its last value."""
    return {section: dict(_entries(name, section)) for section in ("Unit", "Service",
                                                                  "Timer", "Install")}


def _exec(name: str) -> list[str]:
    return _unit(name)["Service"]["ExecStart"].split()


def _home(name: str) -> str:
    return next(v for k, v in _entries(name, "Service")
                if k == "Environment" and v.startswith("RACKWATCH_HOME=")).split("=", 1)[1]


class TestUnits:
    """The units are valid systemd, hardened, and run real rackwatch commands."""

    def test_systemd_analyze_verify_accepts_them(self, tmp_path: Path) -> None:
        """Every unit verifies with no unknown key or bad value (ExecStart's binary is
        swapped for one that exists here)."""
        exe = shutil.which("systemd-analyze")
        if exe is None:
            pytest.skip("systemd-analyze is not installed (Debian package systemd)")
        for unit in UNITS.iterdir():
            text = unit.read_text().replace("/opt/rackwatch/bin/rackwatch", "/bin/true")
            (tmp_path / unit.name).write_text(text.replace("/usr/bin/docker", "/bin/true"))
        run = subprocess.run([exe, "verify", *sorted(str(p) for p in tmp_path.iterdir())],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0 and not run.stderr.strip(), run.stderr

    def test_verify_catches_a_bad_unit(self, tmp_path: Path) -> None:
        """The check can fail: an unknown key is reported."""
        exe = shutil.which("systemd-analyze")
        if exe is None:
            pytest.skip("systemd-analyze is not installed (Debian package systemd)")
        bad = tmp_path / "rackwatch-bad.service"
        bad.write_text("[Service]\nExecStart=/bin/true\nProtectSytem=strict\n")
        run = subprocess.run([exe, "verify", str(bad)], capture_output=True, text=True,
                             timeout=60)
        assert "Unknown key" in run.stderr

    @pytest.mark.parametrize("name", SERVICES)
    def test_commands_are_real(self, name: str) -> None:
        argv = _exec(name)
        assert argv[0] == "/opt/rackwatch/bin/rackwatch"
        check_command(["rackwatch", *argv[1:]])

    @pytest.mark.parametrize("name", SERVICES)
    def test_hardened(self, name: str) -> None:
        """A dedicated user, state in StateDirectory=, the system read-only, no new
        privileges; long-running roles restart."""
        service = _unit(name)["Service"]
        assert service["User"] == "rackwatch"
        assert service["StateDirectory"].startswith("rackwatch")
        assert _home(name).removeprefix("/var/lib/") in service["StateDirectory"].split()
        for key, value in (("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"),
                           ("ProtectHome", "yes"), ("PrivateTmp", "yes")):
            assert service.get(key) == value, (name, key)
        if service.get("Type") != "oneshot":
            assert service["Restart"] == "always"

    @pytest.mark.parametrize("name", SERVICES)
    def test_capabilities_only_where_kmsg_is_read(self, name: str) -> None:
        service = _unit(name)["Service"]
        if name == "rackwatch-agent.service":
            assert service["AmbientCapabilities"] == "CAP_SYSLOG"
            assert service["CapabilityBoundingSet"] == "CAP_SYSLOG"
            assert "ProtectKernelLogs" not in service  # it would hide /dev/kmsg
        else:
            assert "AmbientCapabilities" not in service
            assert service["CapabilityBoundingSet"] == ""

    def test_backup_timer_runs_the_backup(self) -> None:
        timer = _unit("rackwatch-backup.timer")["Timer"]
        assert timer["Persistent"] == "true" and timer["OnCalendar"]
        argv = _exec("rackwatch-backup.service")
        assert "--into" in argv and "--keep" in argv
        sink = _unit("rackwatch-sink.service")["Service"]
        # the status lands in the sink's home, whose /metrics reports it
        assert _home("rackwatch-backup.service") == _home("rackwatch-sink.service")
        target = argv[argv.index("--into") + 1]
        assert target in sink["ReadWritePaths"]


class TestAnsible:
    """The playbook and role pass Ansible's syntax check and ansible-lint."""

    def test_syntax_check(self) -> None:
        exe = tool("ansible-playbook")
        run = subprocess.run([str(exe), "--syntax-check", "-i",
                              str(ANSIBLE / "inventory.example.ini"),
                              str(ANSIBLE / "playbook.yml")],
                             capture_output=True, text=True, timeout=300, cwd=ANSIBLE)
        assert run.returncode == 0, run.stdout + run.stderr

    def test_ansible_lint(self) -> None:
        exe = tool("ansible-lint")
        run = subprocess.run([str(exe), "--offline", "--profile", "production",
                              str(ANSIBLE)], capture_output=True, text=True, timeout=600,
                             cwd=REPO)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    def test_ansible_lint_catches_a_bad_task(self, tmp_path: Path) -> None:
        """The check can fail: a task without a name and a bare command are reported."""
        exe = tool("ansible-lint")
        copy = tmp_path / "ansible"
        shutil.copytree(ANSIBLE, copy)
        shutil.copytree(UNITS, tmp_path / "systemd")
        tasks = copy / "roles" / "rackwatch" / "tasks" / "main.yml"
        tasks.write_text(tasks.read_text() + "\n- command: ls /\n")
        run = subprocess.run([str(exe), "--offline", "--profile", "production", str(copy)],
                             capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert run.returncode != 0
        assert "name[missing]" in run.stdout + run.stderr

    def test_the_role_installs_deploy_systemds_units(self) -> None:
        """The role copies the very units checked above (no second copy to drift)."""
        tasks = (ANSIBLE / "roles/rackwatch/tasks/main.yml").read_text()
        tasks += (ANSIBLE / "roles/rackwatch/tasks/backup.yml").read_text()
        assert "../../../systemd/" in tasks
        for name in ("rackwatch-agent.service", "rackwatch-worker@.service",
                     "rackwatch-sink.service", "rackwatch-backup.service",
                     "rackwatch-backup.timer"):
            assert name in tasks and (UNITS / name).is_file()
