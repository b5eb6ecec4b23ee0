"""Grouping accuracy on the eight shared loghub samples, from the Content field and from
the raw line, stays at what it reached: floors per sample, the mean, and published Drain."""

from __future__ import annotations

import pytest

from benchmarks.loghub import DATASETS, PUBLISHED_DRAIN_GA, SHARED, Result, available, run

# Floors set just below the measured figures (docs/logs.md has them: content / raw,
# Linux 0.8140 / 0.8140, OpenSSH 0.9985, HDFS 0.9975, Spark 0.9975, Zookeeper 0.9945,
# OpenStack 1.0, Proxifier 1.0, HealthApp 1.0 / 0.9985): a change that loses any of it fails.
GA_FLOOR = {"Linux": 0.81, "OpenSSH": 0.995, "HDFS": 0.995, "Spark": 0.995,
            "Zookeeper": 0.99, "OpenStack": 0.995, "Proxifier": 0.995, "HealthApp": 0.995}
MEAN_FLOOR = 0.97


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> list[Result]:
    if not available(SHARED):
        pytest.skip("../shared loghub samples or tools absent")
    return run(SHARED, tmp_path_factory.mktemp("loghub"), repeats=1)


class TestLoghub:
    def test_every_sample_in_both_forms(self, results: list[Result]) -> None:
        """All eight samples are scored from the Content field and from the raw line."""
        assert {(r.dataset, r.message) for r in results} == {
            (ds, m) for ds in DATASETS for m in ("content", "raw")}
        assert all(r.lines == 2000 for r in results)

    def test_floor_per_sample(self, results: list[Result]) -> None:
        """GA on each sample, content and raw, is at its floor and never below Drain's."""
        for r in results:
            assert r.ga >= GA_FLOOR[r.dataset], r
            assert r.ga >= PUBLISHED_DRAIN_GA[r.dataset], r
            assert r.pair_f1 > 0.95, r

    def test_mean(self, results: list[Result]) -> None:
        """The mean over the eight samples, in each form, is at its floor."""
        for message in ("content", "raw"):
            gas = [r.ga for r in results if r.message == message]
            assert sum(gas) / len(gas) >= MEAN_FLOOR, message

    def test_raw_lines_group_as_well_as_content(self, results: list[Result]) -> None:
        """Finding the header in raw lines costs at most 0.02 GA against loghub's own split."""
        by = {(r.dataset, r.message): r for r in results}
        for ds in DATASETS:
            assert abs(by[(ds, "raw")].ga - by[(ds, "content")].ga) <= 0.02, ds
