"""The image: dependencies in their own layer, non-root, a readiness health check, and
chDB only where it is asked for (the `embedded` extra)."""

from __future__ import annotations

import fnmatch
import http.server
import socket
import threading
import tomllib
from collections.abc import Iterator
from importlib import util
from pathlib import Path

import pytest

from tests.unit.deploy.helpers import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def _load(path: Path, name: str) -> object:
    spec = util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _instructions() -> list[str]:
    lines, current = [], ""
    for raw in DOCKERFILE.splitlines():
        if raw.strip().startswith("#") or not raw.strip():
            continue
        current += raw.rstrip("\\").strip() + " "
        if not raw.rstrip().endswith("\\"):
            lines.append(current.strip())
            current = ""
    return lines


class TestDockerfile:
    """Layers, user and health check."""

    def test_dependencies_install_before_the_code_is_copied(self) -> None:
        steps = _instructions()
        deps = next(i for i, s in enumerate(steps) if "pip install -r" in s)
        code = next(i for i, s in enumerate(steps) if s.startswith("COPY . "))
        copies_before = [s for s in steps[:deps] if s.startswith("COPY")]
        assert deps < code
        assert all(set(s.split()[1:-1]) <= {"pyproject.toml", "deploy/docker/requirements.py"}
                   for s in copies_before), copies_before

    def test_runs_as_a_non_root_user_with_a_readiness_check(self) -> None:
        steps = _instructions()
        final = steps[max(i for i, s in enumerate(steps) if s.startswith("FROM")):]
        assert any(s.startswith("USER rackwatch") for s in final)
        health = next(s for s in final if s.startswith("HEALTHCHECK"))
        assert "rackwatch-healthcheck" in health

    def test_requirements_come_from_pyproject_alone(self) -> None:
        mod = _load(REPO / "deploy/docker/requirements.py", "requirements")
        base = mod.requirements(str(REPO / "pyproject.toml"), "gpu")  # type: ignore[attr-defined]
        assert base == PYPROJECT["project"]["dependencies"] + ["nvidia-ml-py>=12.535"]
        assert not any(r.startswith("chdb") for r in base)
        with_store = mod.requirements(str(REPO / "pyproject.toml"),  # type: ignore[attr-defined]
                                      "gpu,embedded")
        assert any(r.startswith("chdb") for r in with_store)
        with pytest.raises(SystemExit, match="unknown extra"):
            mod.requirements(str(REPO / "pyproject.toml"), "nope")  # type: ignore[attr-defined]


class TestBuildContext:
    """.dockerignore lets in the packages and nothing of the workbench."""

    def _included(self, path: str) -> bool:
        verdict = True
        for line in (REPO / ".dockerignore").read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pattern = line.lstrip("!").rstrip("/")
            if (fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/")
                    or fnmatch.fnmatch(path, pattern.replace("**/", ""))
                    or any(fnmatch.fnmatch(part, pattern.replace("**/", ""))
                           for part in path.split("/"))):
                verdict = negate
        return verdict

    def test_every_package_is_in_the_context(self) -> None:
        for pattern in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]:
            package = pattern.rstrip("*")
            assert self._included(f"{package}/__init__.py"), package
        assert self._included("pyproject.toml") and self._included("README.md")
        assert self._included("deploy/docker/healthcheck.py")

    @pytest.mark.parametrize("path", [".venv/bin/python", ".rackwatch/clickhouse/x",
                                      ".git/HEAD", "tests/unit/x.py", "sinks/__pycache__/a.pyc",
                                      "benchmarks/run.py", "docs/storage.md"])
    def test_the_workbench_stays_out(self, path: str) -> None:
        assert not self._included(path)


class TestEmbeddedExtra:
    """chDB is the `embedded` extra; make setup installs it."""

    def test_chdb_is_an_extra_not_a_dependency(self) -> None:
        project = PYPROJECT["project"]
        assert not any(d.startswith("chdb") for d in project["dependencies"])
        assert any(d.startswith("chdb") for d in project["optional-dependencies"]["embedded"])
        assert "'.[dev,embedded]'" in (REPO / "Makefile").read_text()

    def test_a_chdb_store_without_chdb_says_what_to_install(
            self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
            tmp_path: Path) -> None:
        """The store, the sink command and the demo name the extra; a server DSN
        needs no chDB."""
        import sinks.store as store_mod
        from common.config import Config
        from rackwatch.cli import main

        real = util.find_spec
        monkeypatch.setattr(util, "find_spec",
                            lambda name, *a: None if name == "chdb" else real(name, *a))
        with pytest.raises(store_mod.EmbeddedEngineMissing, match=r"rackwatch\[embedded\]"):
            store_mod.open_store(Config(home=tmp_path))
        store_mod.require_embedded_engine("http://clickhouse:8123")
        monkeypatch.setenv("RACKWATCH_HOME", str(tmp_path))
        monkeypatch.delenv("RACKWATCH_CLICKHOUSE_DSN", raising=False)
        assert main(["sink"]) == 2
        assert main(["demo", "--duration", "1"]) == 2
        assert main(["backup", str(tmp_path / "b")]) == 1
        err = capsys.readouterr().err
        assert err.count("pip install 'rackwatch[embedded]'") == 3


@pytest.fixture
def endpoint() -> Iterator[tuple[int, list[int]]]:
    """A /readyz on localhost whose answer the test sets: (port, [status])."""
    answer = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(answer[0] if self.path == "/readyz" else 404)
            self.end_headers()
            self.wfile.write(b"ready" if answer[0] == 200 else b"lagging")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), answer
    finally:
        server.shutdown()
        server.server_close()


class TestHealthCheck:
    """The image's health check follows the role's /readyz."""

    def test_ready_not_ready_and_absent(self, endpoint: tuple[int, list[int]]) -> None:
        check = _load(REPO / "deploy/docker/healthcheck.py", "healthcheck").check  # type: ignore[attr-defined]
        port, answer = endpoint
        assert check([port])[0] is True
        answer[0] = 503
        ok, why = check([port])
        assert ok is False and "503" in why and "lagging" in why
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            free = s.getsockname()[1]
        assert check([free]) == (False, f"no readiness endpoint on ports {free}")
        answer[0] = 200
        assert check([free, port])[0] is True  # the first that answers decides

    def test_default_ports_are_the_roles(self) -> None:
        from common.config import WorkerConfig

        mod = _load(REPO / "deploy/docker/healthcheck.py", "healthcheck")
        assert mod.PORTS[0] == WorkerConfig().metrics_port  # type: ignore[attr-defined]
        assert mod.PORTS == (9464, 9465, 9466, 9467)  # type: ignore[attr-defined]
