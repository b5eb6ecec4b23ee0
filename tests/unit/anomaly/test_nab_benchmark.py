"""benchmarks/nab.py: rule emulation, alert shape, and a regression floor on the NAB data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import nab
from schemas.ids import ALERT
from streams.anomaly import DEFAULT_PARAMS

REPO = Path(__file__).resolve().parents[3]
NAB = REPO.parent / "shared" / "data" / "nab"
SCORER = REPO.parent / "shared" / "tools" / "nab_score.py"
ALERT_SCHEMA = REPO / "schemas" / "json" / "alert.v1.schema.json"
# Achieved: 43.7 (standard profile, all 41 files of ../shared/data/nab, default rule
# settings; it was 61 on the 7 realKnownCause files the floor was first set on). The
# floor sits below it: it catches a broken detector, not a retuned one.
STANDARD_FLOOR = 40.0


class TestEpisodes:
    TS = [i * 1000 for i in range(10)]

    def test_fires_and_clears_with_hysteresis(self) -> None:
        """Fires at score_above, stays while score >= clear_below, resolves below it."""
        scores = [0, 0.6, 0.45, 0.3, 0, 0.7, 0.7, 0, 0, 0]
        eps = nab.episodes(self.TS, scores, 0.5, 0.4)
        assert [(e.fired_at, e.resolved_at) for e in eps] == [(1000, 3000), (5000, 7000)]

    def test_keep_firing_for_merges_close_events(self) -> None:
        """keep_firing_for holds an episode open across a short dip below clear."""
        scores = [0, 0.6, 0, 0, 0.6, 0, 0, 0, 0, 0]
        eps = nab.episodes(self.TS, scores, 0.5, 0.5, keep_firing_for_ms=3000)
        assert [(e.fired_at, e.resolved_at) for e in eps] == [(1000, 8000)]

    def test_for_samples_needs_consecutive_samples(self) -> None:
        """With for_samples=2 a rule fires on the third consecutive sample above."""
        scores = [0.6, 0.6, 0, 0.6, 0.6, 0.6, 0.6, 0, 0, 0.6]
        eps = nab.episodes(self.TS, scores, 0.5, 0.5, for_samples=2)
        assert [(e.fired_at, e.resolved_at) for e in eps] == [(5000, 7000)]

    def test_open_episode_at_the_end(self) -> None:
        """An episode still firing at the end of the data has no resolution."""
        eps = nab.episodes(self.TS, [0] * 9 + [0.9], 0.5, 0.5)
        assert [(e.fired_at, e.resolved_at) for e in eps] == [(9000, None)]


class TestAlertMessages:
    def test_shape_follows_the_alert_contract(self) -> None:
        """Firing then resolved messages, with every field the alert JSON Schema requires."""
        eps = [nab.Episode(1_400_000_000_000, 0.73, 1_400_000_600_000)]
        firing, resolved = nab.alert_messages("nab-x", eps, 0.5)
        required = json.loads(ALERT_SCHEMA.read_text())["required"]
        for m in (firing, resolved):
            assert set(required) <= set(m)
            assert m["schema"] == ALERT
            assert m["host"] == "nab-x"
            assert m["fingerprint"] == firing["fingerprint"]
        assert (firing["status"], firing["ends_at"]) == ("firing", None)
        assert firing["updated_at"] == firing["starts_at"] == "2014-05-13T16:53:20.000Z"
        assert (resolved["status"], resolved["updated_at"]) == ("resolved",
                                                                "2014-05-13T17:03:20.000Z")


def test_skips_without_shared_data(monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Without ../shared the benchmark says it skipped and exits 0."""
    monkeypatch.setattr(nab, "SCORER", Path("/nonexistent/nab_score.py"))
    assert nab.main([]) == 0
    assert "skipped" in capsys.readouterr().out


@pytest.mark.skipif(not (NAB.is_dir() and SCORER.is_file()),
                    reason="NAB data and scorer not found at ../shared (optional)")
def test_nab_standard_score_above_floor(tmp_path: Path) -> None:
    """The default detector and rule settings keep the NAB standard score above the floor."""
    files = nab.nab_files(NAB)
    assert len(files) >= 41
    scored, cost = nab.run_detector(NAB, files, DEFAULT_PARAMS)
    nab.write_alerts(tmp_path, scored, 0.5, 0.5, 0, 0)
    result = nab.score(tmp_path, NAB, "standard", quiet=True)
    assert result["profiles"]["standard"]["normalised"] > STANDARD_FLOOR
    assert cost["state_bytes_max"] < 12_000
