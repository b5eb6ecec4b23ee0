"""docs/console.md documents every API route and every response schema."""

from __future__ import annotations

import re
from pathlib import Path

from console.api import Api
from console.hub import Hub
from console.server import SCHEMAS, build_app
from console.settings import ConsoleSettings
from console.state import FleetState
from streams.rules import default_rules
from tests.browser.fakes import FakeReader

DOC = Path(__file__).resolve().parents[3] / "docs" / "console.md"


def routes() -> set[str]:
    app = build_app(Api(Hub(FleetState()), FakeReader(1, 0), default_rules(), ConsoleSettings()))
    out = set()
    for r in app.router.routes():
        info = r.resource.get_info() if r.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/api/"):
            out.add(path)
    return out


class TestDocumented:
    """A route or schema added without its documentation fails here."""

    def test_every_route(self) -> None:
        """Each /api/ route appears in the API table."""
        text = DOC.read_text()
        found = routes()
        assert len(found) >= 14 and "/api/hosts/{host}/series" in found
        missing = [p for p in found if f"`{p}`" not in text]
        assert not missing, missing

    def test_every_schema(self) -> None:
        """Each schema file is named in the table, except the shared definitions."""
        text = DOC.read_text()
        named = set(re.findall(r"\(`(\w+)`\)", text))
        files = {p.name.removesuffix(".schema.json") for p in SCHEMAS.glob("*.schema.json")}
        assert files - {"common"} <= named, sorted(files - {"common"} - named)
