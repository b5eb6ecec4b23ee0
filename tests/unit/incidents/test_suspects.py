"""Ranking the services of an incident: own trouble over callers', first start, the graph."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.incidents.callgraph import CallGraph
from streams.incidents.config import SIGNAL_CLASSES
from streams.incidents.suspects import Evidence, rank_suspects

from .builders import MIN, T0


def hosts(evidence: list[Evidence], graph: CallGraph | None = None) -> list[str]:
    return [s.host for s in rank_suspects(evidence, graph)]


class TestOwnTroubleFirst:
    """A service's own trouble ranks above the slow calls of the services calling it."""

    def test_callee_latency_beats_caller_latency_in_the_same_sample(self) -> None:
        """Callee: server latency and CPU. Callers: slow calls, and latency from waiting."""
        ev = [Evidence("front", "calls", T0), Evidence("front", "latency", T0),
              Evidence("checkout", "calls", T0), Evidence("cart", "latency", T0),
              Evidence("cart", "saturation", T0)]
        ranked = hosts(ev)
        assert ranked[0] == "cart"
        assert sorted(ranked[1:]) == ["checkout", "front"]

    def test_latency_with_slow_calls_is_waiting(self) -> None:
        """Latency alone, with its calls slow from the same moment, is explained; a service
        with unexplained latency is ranked first even when it alerted a sample later."""
        ev = [Evidence("api", "latency", T0), Evidence("api", "calls", T0),
              Evidence("db", "latency", T0 + MIN)]
        ranked = rank_suspects(ev)
        assert [s.host for s in ranked] == ["db", "api"]
        assert "waiting on a callee" in ranked[1].reason

    def test_errors_count_as_own_trouble(self) -> None:
        """An error-rate alert is the service's own, its caller's slow calls are not."""
        ev = [Evidence("web", "calls", T0), Evidence("auth", "errors", T0)]
        assert hosts(ev) == ["auth", "web"]

    def test_more_kinds_of_own_trouble_rank_higher(self) -> None:
        """Two services in trouble at once: the one with more kinds of it comes first."""
        ev = [Evidence("a", "latency", T0), Evidence("b", "latency", T0),
              Evidence("b", "saturation", T0), Evidence("b", "logs", T0)]
        assert hosts(ev) == ["b", "a"]


class TestFirstStart:
    """Of equal evidence, the trouble that started first is the likelier cause."""

    def test_earlier_start_wins_a_tie(self) -> None:
        """Same kinds of trouble; the one that started two samples earlier is first."""
        ev = [Evidence("late", "saturation", T0 + 2 * MIN), Evidence("early", "saturation", T0)]
        assert hosts(ev) == ["early", "late"]

    def test_starts_within_the_tolerance_are_the_same_moment(self) -> None:
        """A start 30 s later scores the same (both started 'first'); only the order of
        equal scores goes to the earlier start."""
        ranked = rank_suspects([Evidence("b", "errors", T0), Evidence("a", "errors", T0 + 30_000)])
        assert [s.host for s in ranked] == ["b", "a"]
        assert ranked[0].score == ranked[1].score
        later = rank_suspects([Evidence("b", "errors", T0), Evidence("a", "errors", T0 + 2 * MIN)])
        assert later[0].score > later[1].score


class TestCallGraph:
    """The graph decides which trouble can explain which slow calls."""

    def test_known_callee_explains_its_caller(self) -> None:
        """With the edge known, the callee gains a point per victim it explains."""
        ev = [Evidence("front", "calls", T0), Evidence("cart", "latency", T0),
              Evidence("ads", "latency", T0)]
        graph = CallGraph({"front": ("cart",)})
        ranked = rank_suspects(ev, graph)
        assert ranked[0].host == "cart"
        assert "front" in ranked[0].reason

    def test_a_stranger_does_not_explain_slow_calls(self) -> None:
        """front calls only cart; ads in trouble does not explain front's slow calls, so
        front's calls stay unexplained (its network, or a callee without alerts)."""
        ev = [Evidence("front", "calls", T0), Evidence("ads", "latency", T0)]
        known = rank_suspects(ev, CallGraph({"front": ("cart",)}))
        assert "no callee in trouble" in known[[s.host for s in known].index("front")].reason
        unknown = rank_suspects(ev)
        assert "as ads had trouble" in unknown[[s.host for s in unknown].index("front")].reason


class TestScores:
    """Scores are shares of the evidence, best first."""

    @settings(max_examples=80, deadline=None)
    @given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]),
                              st.sampled_from(SIGNAL_CLASSES),
                              st.integers(0, 10)), min_size=1, max_size=12))
    def test_shares_sum_to_one_and_are_ordered(
            self, raw: list[tuple[str, str, int]]) -> None:
        """Every service with evidence is ranked once, scores descend and sum to 1."""
        ev = [Evidence(h, s, T0 + k * MIN) for h, s, k in raw]
        ranked = rank_suspects(ev)
        assert sorted(s.host for s in ranked) == sorted({h for h, _, _ in raw})
        scores = [s.score for s in ranked]
        assert scores == sorted(scores, reverse=True)
        assert abs(sum(scores) - 1.0) < 1e-3
        assert all(0 < s <= 1 for s in scores)

    def test_no_evidence_no_suspects(self) -> None:
        """An empty incident ranks nothing."""
        assert rank_suspects([]) == []


class TestDownstreamFirst:
    """Trouble spreads up the call graph: the deepest service in trouble comes first."""

    def test_errors_of_a_caller_are_explained_by_its_callee(self) -> None:
        """front calls orders, orders calls payment; all log errors from the same sample:
        payment first, with a known graph; without one, the tie goes by name."""
        ev = [Evidence("front", "errors", T0), Evidence("orders", "errors", T0),
              Evidence("payment", "errors", T0), Evidence("payment", "logs", T0)]
        graph = CallGraph({"front": ("orders",), "orders": ("payment",)})
        ranked = rank_suspects(ev, graph)
        assert ranked[0].host == "payment"
        assert "callee orders" in ranked[[s.host for s in ranked].index("front")].reason
        assert rank_suspects(ev[:3])[0].host == "front"

    def test_saturation_does_not_spread_to_callers(self) -> None:
        """A caller's own CPU trouble is its own, whatever its callee does."""
        ev = [Evidence("front", "saturation", T0), Evidence("orders", "saturation", T0)]
        ranked = rank_suspects(ev, CallGraph({"front": ("orders",)}))
        assert ranked[0].score == ranked[1].score
        assert all("own trouble (saturation)" in s.reason for s in ranked)

    def test_a_callee_in_trouble_later_explains_nothing(self) -> None:
        """The callee's trouble starting two samples later does not explain the caller's."""
        ev = [Evidence("front", "saturation", T0), Evidence("orders", "errors", T0 + 2 * MIN)]
        ranked = rank_suspects(ev, CallGraph({"front": ("orders",)}))
        assert ranked[0].host == "front"
