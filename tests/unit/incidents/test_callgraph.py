"""The call graph: configured, labelled and learned edges, and the graph file."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.incidents.callgraph import (
    LEARNED_MIN_WEIGHT,
    CallGraph,
    labelled_callees,
    learn_edge,
    learn_from_traces,
    load_call_graph,
)


class TestCallGraphView:
    """What the ranking asks of the graph."""

    def test_unknown_caller_may_be_explained_by_anyone(self) -> None:
        """Nothing known about a caller: any service's trouble may explain it."""
        g = CallGraph({"front": ("cart",)})
        assert g.may_explain("checkout", "payment")
        assert g.may_explain("front", "cart") and not g.may_explain("front", "ads")

    def test_learned_edges_count_after_enough_sightings(self) -> None:
        """One sighting can be chance; LEARNED_MIN_WEIGHT of them make an edge."""
        learned: dict[str, dict[str, float]] = {}
        learn_edge(learned, "front", "cart", 100)
        assert not CallGraph(learned=learned).knows("front")
        while learned["front"]["cart"] < LEARNED_MIN_WEIGHT:
            learn_edge(learned, "front", "cart", 100)
        assert CallGraph(learned=learned).calls("front", "cart")

    def test_labelled_edges(self) -> None:
        """A host's `calls` label lists its callees, comma or space separated."""
        assert labelled_callees({"calls": "cart, payment currency"}) == (
            "cart", "currency", "payment")
        assert CallGraph(labelled={"front": ("cart",)}).calls("front", "cart")


class TestLearning:
    """Learned edges are bounded; a service never calls itself."""

    def test_bound_drops_the_weakest(self) -> None:
        """Beyond max_edges the weakest edges go first."""
        g: dict[str, dict[str, float]] = {}
        for _ in range(3):
            learn_edge(g, "a", "b", 2)
        learn_edge(g, "a", "c", 2)
        learn_edge(g, "x", "y", 2)
        assert sum(len(v) for v in g.values()) == 2
        assert g["a"]["b"] == 3.0

    def test_no_self_edges(self) -> None:
        """A service's calls slowing with its own trouble is not an edge."""
        g: dict[str, dict[str, float]] = {}
        learn_edge(g, "a", "a", 10)
        assert g == {}


class TestGraphFile:
    """The graph file: each caller to the list of its callees."""

    def test_reads_yaml(self, tmp_path: Path) -> None:
        """YAML (or JSON) caller -> callees; self-calls are dropped."""
        p = tmp_path / "graph.yaml"
        p.write_text("frontend: [cart, checkout, frontend]\ncheckout: [payment]\n")
        assert load_call_graph(p) == {"frontend": ("cart", "checkout"),
                                      "checkout": ("payment",)}

    @pytest.mark.parametrize("text", ["[a, b]", "a: b", "a: [1]", "a: [b, '']", ": ["])
    def test_rejects_other_shapes(self, tmp_path: Path, text: str) -> None:
        """Anything but a mapping to lists of names is an error naming the file."""
        p = tmp_path / "graph.yaml"
        p.write_text(text)
        with pytest.raises(ValueError, match=r"graph\.yaml"):
            load_call_graph(p)


class TestTraceLearning:
    """Services logging the same trace ids are on one request's path."""

    def test_shared_ids_link_services_first_logger_first(self) -> None:
        """front, cart and payment log the same trace in that order: front calls the
        two, cart calls payment (the order orients each pair)."""
        graph: dict[str, dict[str, float]] = {}
        seen: dict[str, list[object]] = {}
        for i, host in enumerate(("front", "cart", "payment")):
            learn_from_traces(graph, seen, host, (("abc", 1000 + i),), 60_000, 100, 100)
        assert graph == {"front": {"cart": 1.0, "payment": 1.0}, "cart": {"payment": 1.0}}

    def test_the_dominant_direction_counts(self) -> None:
        """Seen mostly one way (clocks disagree now and then): that way is the edge."""
        g = CallGraph(learned={"front": {"cart": 5.0}, "cart": {"front": 2.0}})
        assert g.calls("front", "cart") and not g.calls("cart", "front")

    def test_old_ids_and_bounds(self) -> None:
        """An id seen again after the window starts over; the map stays bounded."""
        graph: dict[str, dict[str, float]] = {}
        seen: dict[str, list[object]] = {}
        learn_from_traces(graph, seen, "a", (("x", 0),), 60_000, 100, 100)
        learn_from_traces(graph, seen, "b", (("x", 120_000),), 60_000, 100, 100)
        assert graph == {}
        learn_from_traces(graph, seen, "a", tuple((f"k{i}", i) for i in range(50)),
                          60_000, 100, 10)
        assert len(seen) == 10
