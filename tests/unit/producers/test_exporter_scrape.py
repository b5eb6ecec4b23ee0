"""Scraping live endpoints: an aiohttp server in the test plays the exporter."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from common.config import Config, ConfigError, ScrapeTargetConfig
from producers.agent import AgentOptions, run_agent
from producers.exporters import scrape as scrape_mod
from producers.exporters.scrape import Scraper, target_problems
from producers.problems import Problems
from schemas.ids import METRICS

DATA = Path(__file__).resolve().parents[2] / "data" / "exporters"
VLLM = [(DATA / f"vllm.{i}.txt").read_text() for i in (1, 2)]
TEXT = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Exporter:
    """What the test server serves, and what it was asked."""

    bodies: list[str]
    content_type: str = TEXT
    token: str | None = None
    status: int = 200
    delay_s: float = 0.0
    requests: list[dict[str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(dict(request.headers))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.token is not None and request.headers.get("Authorization") != \
                f"Bearer {self.token}":
            return web.Response(status=401, text="unauthorized")
        if self.status != 200:
            return web.Response(status=self.status, text="down")
        body = self.bodies[min(len(self.requests) - 1, len(self.bodies) - 1)]
        return web.Response(body=body.encode(), headers={"Content-Type": self.content_type})


@asynccontextmanager
async def serving(exporter: Exporter, ssl_context: ssl.SSLContext | None = None
                  ) -> AsyncIterator[str]:
    """A live endpoint on a free local port; yields its /metrics url."""
    app = web.Application()
    app.router.add_get("/metrics", exporter.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}/metrics"
    finally:
        await runner.cleanup()


class Clock:
    """A clock the test moves."""

    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def target(url: str, **kw: Any) -> ScrapeTargetConfig:
    return ScrapeTargetConfig(name=kw.pop("name", "vllm"), url=url, **kw)


async def two_scrapes(scraper: Scraper, clock: Clock) -> list[dict[str, Any]]:
    """Scrape every target twice, 10 s of the test's clock apart; the second's samples."""
    async with aiohttp.ClientSession() as session:
        await scraper.scrape_all(session)
        scraper.take()
        clock.t += 10
        await scraper.scrape_all(session)
    return [dict(s) for s in scraper.take()]


def by_name(samples: list[dict[str, Any]]) -> dict[str, float]:
    return {s["name"]: s["value"] for s in samples}


class TestLiveEndpoint:
    """A real HTTP exchange, the reader behind it."""

    def test_vllm_over_http(self) -> None:
        """The fixture pair served live gives the interval's figures and health."""
        async def main() -> list[dict[str, Any]]:
            async with serving(Exporter(VLLM)) as url:
                clock = Clock()
                return await two_scrapes(Scraper([target(url)], interval_s=10, clock=clock),
                                         clock)
        v = by_name(asyncio.run(main()))
        assert v["serving.requests_per_s"] == pytest.approx(4.0)
        assert v["serving.request_latency_s.p50"] == pytest.approx(1.5)
        assert (v["agent.scrape.up"], v["agent.scrape.dropped_series"]) == (1.0, 0.0)
        assert v["agent.scrape.samples"] > 20

    def test_openmetrics_by_content_type(self) -> None:
        """A server that answers in OpenMetrics is read with the OpenMetrics parser."""
        body = "# TYPE tgi_queue_size gauge\ntgi_queue_size {n}\n" \
               "# TYPE tgi_request_success counter\ntgi_request_success_total {c}\n# EOF\n"
        exporter = Exporter([body.format(n=1, c=10), body.format(n=7, c=30)],
                            content_type="application/openmetrics-text; version=1.0.0; "
                                         "charset=utf-8")

        async def main() -> list[dict[str, Any]]:
            async with serving(exporter) as url:
                clock = Clock()
                return await two_scrapes(Scraper([target(url, name="tgi")], interval_s=10,
                                                 clock=clock), clock)
        v = by_name(asyncio.run(main()))
        assert (v["serving.queue_depth"], v["serving.requests_per_s"]) == (7.0, 2.0)
        assert "openmetrics" in exporter.requests[0]["Accept"]

    def test_bearer_token_and_token_file(self, tmp_path: Path) -> None:
        """The token goes in the Authorization header; a token file is read at every
        scrape, so a rotated token is used at once."""
        token_file = tmp_path / "token"
        exporter = Exporter(VLLM)

        async def main() -> list[float]:
            ups = []
            async with serving(exporter) as url:
                scraper = Scraper([target(url, bearer_token_file=str(token_file))],
                                  interval_s=10, problems=Problems())
                async with aiohttp.ClientSession() as session:
                    # the server's token changes first; the file catches up after a scrape
                    for server, file in (("first", "first"), ("second", "first"),
                                         ("second", "second")):
                        exporter.token = server
                        token_file.write_text(file + "\n")
                        await scraper.scrape_all(session)
                        ups.append(by_name([dict(s) for s in scraper.take()])["agent.scrape.up"])
            return ups
        assert asyncio.run(main()) == [1.0, 0.0, 1.0]

    def test_failures_are_reported_once_and_recover(self) -> None:
        """HTTP errors and timeouts give up=0, one logged problem, counted each time."""
        exporter = Exporter(VLLM, status=503)

        async def main() -> tuple[list[float], Problems]:
            problems = Problems()
            ups = []
            async with serving(exporter) as url:
                scraper = Scraper([target(url, timeout_s=0.3)], interval_s=10,
                                  problems=problems)
                async with aiohttp.ClientSession() as session:
                    for status, delay in ((503, 0.0), (200, 1.0), (200, 0.0)):
                        exporter.status, exporter.delay_s = status, delay
                        await scraper.scrape_all(session)
                        ups.append(by_name([dict(s) for s in scraper.take()])["agent.scrape.up"])
            return ups, problems
        ups, problems = asyncio.run(main())
        assert ups == [0.0, 0.0, 1.0]
        assert problems.counts == {"scrape:vllm": 2} and not problems.is_active("scrape:vllm")

    def test_refused_connection(self) -> None:
        """Nothing listening: up=0, no exception out of the scraper."""
        async def main() -> dict[str, float]:
            async with serving(Exporter(VLLM)) as url:
                pass  # the server is gone: the port refuses
            scraper = Scraper([target(url)], interval_s=10, problems=Problems())
            await scraper.scrape_all()
            return by_name([dict(s) for s in scraper.take()])
        assert asyncio.run(main())["agent.scrape.up"] == 0.0

    def test_oversized_body_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A body beyond MAX_BODY is a failed scrape, not an agent out of memory."""
        monkeypatch.setattr(scrape_mod, "MAX_BODY", 1000)

        async def main() -> dict[str, float]:
            async with serving(Exporter(VLLM)) as url:
                scraper = Scraper([target(url)], interval_s=10, problems=Problems())
                await scraper.scrape_all()
                return by_name([dict(s) for s in scraper.take()])
        assert asyncio.run(main())["agent.scrape.up"] == 0.0


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


class TestTls:
    """https targets: verified against a CA file, or (testing) not verified."""

    def test_ca_file_verifies_and_unknown_ca_fails(self, tmp_path: Path) -> None:
        """With the server's CA the scrape works; with the system's it is refused;
        skip-verify accepts it."""
        cert, key = self_signed(tmp_path)
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(cert, key)

        async def main() -> list[float]:
            async with serving(Exporter(VLLM), server) as url:
                ups = []
                for kw in ({"tls_ca_file": str(cert)}, {},
                           {"tls_insecure_skip_verify": True}):
                    scraper = Scraper([target(url, **kw)], interval_s=10, problems=Problems())
                    await scraper.scrape_all()
                    ups.append(by_name([dict(s) for s in scraper.take()])["agent.scrape.up"])
                return ups
        assert asyncio.run(main()) == [1.0, 0.0, 1.0]


class TestTargetProblems:
    """Configuration problems of the targets, all at once, each naming its target."""

    def test_every_problem_named(self) -> None:
        """Missing name, duplicate, bad url, timeout over interval, two tokens, TLS on
        http, a key without a certificate."""
        probs = "\n".join(target_problems([
            ScrapeTargetConfig(name="", url="http://h/metrics"),
            ScrapeTargetConfig(name="a", url="ftp://h/x"),
            ScrapeTargetConfig(name="a", url="http://h/m", timeout_s=20, bearer_token="x",
                               bearer_token_file="/t", tls_ca_file="/ca",
                               tls_key_file="/k"),
        ], interval_s=10))
        for fragment in ("name is required", "url must be http(s)", "used twice",
                         "longer than its interval", "not both", "TLS options on an http",
                         "tls_key_file needs tls_cert_file"):
            assert fragment in probs

    def test_tls_files_must_exist(self, tmp_path: Path) -> None:
        """A CA or certificate file that is not there is named before anything starts; a
        file that is not PEM is a configuration error, not a traceback."""
        missing = str(tmp_path / "nope.pem")
        probs = target_problems([ScrapeTargetConfig(name="a", url="https://h/m",
                                                    tls_ca_file=missing)], interval_s=10)
        assert probs == [f"[[agent.scrape]] #0 (a): tls_ca_file {missing!r} is not a readable "
                         "file"]
        junk = tmp_path / "junk.pem"
        junk.write_text("not a certificate")
        with pytest.raises(ConfigError, match="cannot load its TLS files"):
            Scraper([ScrapeTargetConfig(name="a", url="https://h/m", tls_ca_file=str(junk))],
                    interval_s=10)

    def test_agent_options_include_them(self) -> None:
        """The agent refuses to start on them, with the others."""
        opts = AgentOptions(host="h", scrape=(ScrapeTargetConfig(name="x", url="nope"),))
        assert any("url must be" in p for p in opts.problems())


class Memory:
    """A transport that keeps what the agent sends."""

    description = "memory"

    def __init__(self) -> None:
        self.values: list[bytes] = []

    async def start(self) -> None:
        return None

    async def send(self, records: Any) -> list[BaseException | None]:
        self.values.extend(r.value for r in records)
        return [None] * len(records)

    async def stop(self) -> None:
        return None


class TestAgent:
    """The agent's loop scrapes on its own and ships what it read in its batches."""

    def test_batches_carry_scraped_samples(self, tmp_path: Path) -> None:
        """Host metrics off (node_exporter's job), one target: every batch after the
        first scrapes holds the target's health, and serving figures appear."""
        bodies = [VLLM[0]] + [VLLM[1]] * 50

        async def main(stop: Callable[[], asyncio.Event]) -> Memory:
            transport = Memory()
            async with serving(Exporter(bodies)) as url:
                opts = AgentOptions(interval_s=0.25, host="h", labels={"rack": "r1"},
                                    gpu=False, duration_s=1.6, state_dir=tmp_path / "s",
                                    host_metrics=False,
                                    scrape=(target(url, timeout_s=0.2),))
                await run_agent(Config(home=tmp_path), stop=stop(), options=opts,
                                transport=transport)
            return transport
        batches = [orjson.loads(v) for v in asyncio.run(main(asyncio.Event)).values]
        batches = [b for b in batches if b["schema"] == METRICS]
        names = [{s["name"] for s in b["samples"]} for b in batches]
        assert len(batches) >= 4
        assert not any(n.startswith("cpu.") for ns in names for n in ns)
        with_scrapes = [ns for ns in names if "agent.scrape.up" in ns]
        assert len(with_scrapes) >= 3
        assert any("serving.requests_per_s" in ns for ns in with_scrapes)
