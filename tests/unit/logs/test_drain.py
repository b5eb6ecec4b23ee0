"""The template miner: grouping, generalising, vetoes, ids, bounded memory, state."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.logs.drain import MinerConfig, TemplateMiner, template_id
from streams.logs.masking import PLACEHOLDER, mask_tokens


def ids(miner: TemplateMiner, lines: list[str]) -> set[str]:
    return {miner.add(line).template_id for line in lines}


class TestGrouping:
    def test_identical_lines_share_a_template(self) -> None:
        """The same message twice is one template with size 2."""
        m = TemplateMiner()
        a, b = m.add("check pass; user unknown"), m.add("check pass; user unknown")
        assert (a.template_id, a.created, b.created, b.size) == (b.template_id, True, False, 2)

    def test_masked_values_never_split_templates(self) -> None:
        """Lines differing only in masked values are born as the same template."""
        m = TemplateMiner()
        a = m.add("Connection closed by 1.2.3.4 [preauth]")
        b = m.add("Connection closed by 5.6.7.8 [preauth]")
        assert a.template == b.template == "Connection closed by <*> [preauth]"
        assert not b.changed

    def test_word_after_a_learned_key_generalises(self) -> None:
        """Once "user" has introduced a value, a differing word after it turns into <*>."""
        m = TemplateMiner()
        m.add("sudo session for user 1001")  # "user <*>": user is a key from now on
        m.add("session closed for user alice")
        b = m.add("session closed for user bob")
        assert b.template == "session closed for user <*>"
        assert (b.created, b.changed, b.size) == (False, True, 2)

    def test_differing_words_without_a_key_stay_apart(self) -> None:
        """Two words where no key precedes them are two messages (VM Started, VM Paused)."""
        m = TemplateMiner()
        lines = ["[instance: 1] VM Started (Lifecycle Event)",
                 "[instance: 2] VM Paused (Lifecycle Event)",
                 '10.1.1.1 "GET /v2/servers HTTP/1.1" status: 200',
                 '10.1.1.2 "POST /v2/servers HTTP/1.1" status: 202']
        assert len(ids(m, lines)) == 4

    def test_value_after_key_equals_sign_generalises(self) -> None:
        """A word after "key=" is a value even in a fresh miner."""
        m = TemplateMiner()
        m.add("session opened user=alice")
        assert m.add("session opened user=bob").template == "session opened user=<*>"

    def test_value_after_a_spaced_equals_sign(self) -> None:
        """'key = value' with spaces is a key too: booleans after it are values."""
        m = TemplateMiner()
        m.add("allDrawn = false, isRelaunching = true")
        assert m.add("allDrawn = true, isRelaunching = true").template == (
            "allDrawn = <*> isRelaunching = true")

    def test_paths_are_values(self) -> None:
        """A path (or slash-joined name) names a thing: two paths are two values."""
        m = TemplateMiner()
        m.add("Directory index forbidden by rule: /var/www/html/")
        assert m.add("Directory index forbidden by rule: /srv/www/").template == (
            "Directory index forbidden by rule: <*>")

    def test_words_with_digits_generalise_while_young(self) -> None:
        """A token with a digit is a value until its template has shown it steady."""
        m = TemplateMiner()
        m.add("Invalid user webmaster from 1.2.3.4")
        assert m.add("Invalid user test9 from 1.2.3.5").template == "Invalid user <*> from <*>"

    def test_steady_constant_keeps_values_of_its_own_shape(self) -> None:
        """A steady host name still takes another host name (same shape: a value)."""
        m = TemplateMiner(MinerConfig(steady_after=3))
        for _ in range(5):
            m.add("heartbeat lost gpu01 rack a")
        assert m.add("heartbeat lost gpu02 rack a").template == "heartbeat lost <*> rack a"

    def test_steady_constant_is_not_generalised(self) -> None:
        """A token that held for steady_after lines keeps a token of another shape apart."""
        m = TemplateMiner(MinerConfig(steady_after=3))
        for port in range(3):
            m.add(f"conn {port}.example.com open through proxy 1.2.3.4 HTTPS")
        other = m.add("conn 9.example.com open through proxy 1.2.3.4 SOCKS5")
        assert other.created
        m2 = TemplateMiner(MinerConfig(steady_after=0))
        for port in range(3):
            m2.add(f"conn {port}.example.com open through proxy 1.2.3.4 HTTPS")
        assert not m2.add("conn 9.example.com open through proxy 1.2.3.4 SOCKS5").created

    def test_different_lengths_never_merge(self) -> None:
        """Token count is the first routing level."""
        m = TemplateMiner()
        a = m.add("Failed password for root from 1.2.3.4 port 22 ssh2")
        b = m.add("Failed password for invalid user x from 1.2.3.4 port 22 ssh2")
        assert a.template_id != b.template_id

    def test_first_token_routes(self) -> None:
        """Different first words are different programs' messages: never merged."""
        m = TemplateMiner()
        a, b = m.add("cupsd startup succeeded"), m.add("sdpd startup succeeded")
        assert a.template_id != b.template_id

    def test_first_token_with_digit_routes_to_wildcard(self) -> None:
        """A first token with a digit (eth0, eth1) is routed as a wildcard."""
        m = TemplateMiner()
        m.add("eth0 link became ready")
        assert m.add("eth1 link became ready").template == "<*> link became ready"

    def test_threshold(self) -> None:
        """3 of 5 constants kept (0.6) merges at similarity 0.6 but not at 0.7."""
        lines = ["open a1 file b1 now", "open c2 file d2 now"]
        assert len(ids(TemplateMiner(MinerConfig(similarity=0.6)), lines)) == 1
        assert len(ids(TemplateMiner(MinerConfig(similarity=0.7)), lines)) == 2

    def test_adjacent_differences_veto(self) -> None:
        """Two neighbouring differing words are another phrase, not a value."""
        m = TemplateMiner(MinerConfig(similarity=0.1))
        a = m.add("Received disconnect from 1.2.3.4: 11: Bye Bye [preauth]")
        b = m.add("Received disconnect from 1.2.3.4: 11: disconnected by user")
        assert a.template_id != b.template_id

    def test_key_difference_veto(self) -> None:
        """A differing 'key=' is a different message shape."""
        m = TemplateMiner(MinerConfig(similarity=0.1))
        a = m.add("session opened for user news by (uid=0)")
        b = m.add("session opened for user news by LOGIN(uid=0)")
        assert a.template_id != b.template_id

    def test_wildcard_only_template_matches_same_length(self) -> None:
        """A template of only placeholders takes any line of its length."""
        m = TemplateMiner()
        m.add("12 34")
        assert m.add("56 78").size == 2

    @settings(max_examples=60)
    @given(st.lists(st.sampled_from([
        "session closed for user alice", "session closed for user bob",
        "Invalid user admin from 1.2.3.4", "Invalid user test from 5.6.7.8",
        "eth0 link up", "eth1 link up", "x=1 y=2", "x=3 y=", "a b c d", "a e c f",
        "Received disconnect from 1.2.3.4: 11: Bye Bye [preauth]",
    ]), min_size=1, max_size=40))
    def test_line_fits_its_template(self, lines: list[str]) -> None:
        """The template returned for a line always matches that line token by token."""
        m = TemplateMiner()
        for line in lines:
            mined = m.add(line)
            tokens, _ = mask_tokens(line)
            cluster = next(c for c in m.clusters() if c.template == mined.template)
            assert len(cluster.tokens) == len(tokens)
            assert all(t in (PLACEHOLDER, tok) for t, tok in zip(cluster.tokens, tokens,
                                                                  strict=True))


class TestIds:
    def test_id_is_hash_of_birth_text(self) -> None:
        """In birth mode the id is the template id of the first (masked) text."""
        m = TemplateMiner()
        first = m.add("session closed for user=alice")
        later = m.add("session closed for user=bob")
        assert first.template_id == later.template_id == template_id(
            "session closed for user=alice")

    def test_current_mode_follows_the_text(self) -> None:
        """In current mode the id is always the hash of the template as it is now."""
        m = TemplateMiner(MinerConfig(id_mode="current"))
        first = m.add("session closed for user=alice")
        later = m.add("session closed for user=bob")
        assert later.template_id == template_id("session closed for user=<*>")
        assert first.template_id != later.template_id

    def test_same_template_same_id_in_independent_miners(self) -> None:
        """Two miners with different histories agree on a fully masked template."""
        a, b = TemplateMiner(), TemplateMiner()
        a.add("something else entirely")
        ida = a.add("Connection closed by 1.2.3.4 [preauth]").template_id
        idb = b.add("Connection closed by 9.9.9.9 [preauth]").template_id
        assert ida == idb == template_id("Connection closed by <*> [preauth]")

    def test_template_id_normalises_whitespace(self) -> None:
        """Runs of spaces do not change a template's id; the id is 16 hex digits."""
        assert template_id("a  b\tc") == template_id("a b c")
        assert len(template_id("x")) == 16
        int(template_id("x"), 16)


class TestMatchAndMemory:
    def test_match_does_not_learn(self) -> None:
        """match() finds a template without creating or changing any."""
        m = TemplateMiner()
        m.add("disk sda1 is fine")
        assert m.match("disk sdb2 is fine") is not None
        assert m.match("nothing like it") is None
        assert len(m) == 1
        assert m.clusters()[0].template == "disk sda1 is fine"

    def test_lru_eviction(self) -> None:
        """Beyond max_clusters the least recently matched template is forgotten."""
        m = TemplateMiner(MinerConfig(max_clusters=2))
        first = m.add("alpha one")
        m.add("beta two three")
        m.add("alpha one")  # alpha is now more recent than beta
        m.add("gamma four five six")
        assert len(m) == 2
        assert {c.template for c in m.clusters()} == {"alpha one", "gamma four five six"}
        again = m.add("alpha one")
        assert again.template_id == first.template_id

    def test_full_node_sends_new_words_to_wildcard(self) -> None:
        """With max_children reached, new first words share the wildcard branch."""
        m = TemplateMiner(MinerConfig(max_children=2))
        m.add("alpha x y")
        m.add("beta x y")
        m.add("gamma x y")
        assert {c.template: c.path for c in m.clusters()} == {
            "alpha x y": ("3", "alpha"), "beta x y": ("3", "<*>"), "gamma x y": ("3", "<*>")}


class TestState:
    LINES = [
        "session closed for user alice", "Invalid user admin from 1.2.3.4",
        "session closed for user bob", "x=1 y=2", "eth0 link up",
        "Invalid user test from 5.6.7.8", "eth1 link up", "x=3 y=4", "check pass",
    ]

    def test_round_trip_continues_identically(self) -> None:
        """A miner rebuilt from its state answers exactly like the original."""
        a = TemplateMiner(MinerConfig(max_children=3))
        for line in self.LINES[:5]:
            a.add(line)
        state = orjson.loads(orjson.dumps(a.to_state()))
        b = TemplateMiner.from_state(state)
        assert b.config == a.config
        for line in self.LINES[5:] + self.LINES:
            assert a.add(line) == b.add(line)
        assert a.to_state() == b.to_state()

    # lines whose grouping depends on learned keys and on steady counts
    POOL = [
        "session closed for user alice", "session closed for user bob", "sudo for user 1001",
        "conn a.example.com:1 open via 1.2.3.4 HTTPS",
        "conn b.example.com:2 open via 1.2.3.4 SOCKS5",
        "VM Started", "VM Paused", "Took 1.5 seconds to spawn", "Took 2 seconds to destroy",
        "disk sda1 ok", "disk sdb2 ok", "node=n1 state=up", "node=n2 state=down",
    ]

    @settings(max_examples=60)
    @given(st.lists(st.sampled_from(POOL), min_size=2, max_size=50), st.data())
    def test_restart_anywhere_gives_the_same_ids(self, lines: list[str],
                                                 data: st.DataObject) -> None:
        """Snapshot at any line, restore, go on: the same ids and state as never stopping."""
        cut = data.draw(st.integers(1, len(lines) - 1))
        config = MinerConfig(steady_after=3)
        whole = TemplateMiner(config)
        expected = [whole.add(line).template_id for line in lines]
        first = TemplateMiner(config)
        got = [first.add(line).template_id for line in lines[:cut]]
        second = TemplateMiner.from_state(orjson.loads(orjson.dumps(first.to_state())))
        got += [second.add(line).template_id for line in lines[cut:]]
        assert got == expected
        assert second.to_state() == whole.to_state()

    def test_becoming_steady_is_a_change(self) -> None:
        """The line that makes a template steady reports a change, so it gets snapshotted."""
        m = TemplateMiner(MinerConfig(steady_after=3))
        changed = [m.add("disk sda1 ok").changed for _ in range(5)]
        assert changed == [True, False, True, False, False]

    def test_learned_keys_survive_a_restart(self) -> None:
        """Keys are part of the state: a restored miner generalises where the old one would."""
        a = TemplateMiner()
        a.add("sudo for user 1001")
        a.add("session closed for user alice")
        b = TemplateMiner.from_state(orjson.loads(orjson.dumps(a.to_state())))
        assert "user" in a.to_state()["keys"]
        assert b.add("session closed for user bob").template == "session closed for user <*>"

    def test_version_1_state_loads(self) -> None:
        """State written before learned keys existed is read (with no keys learned)."""
        state = TemplateMiner().to_state()
        state["version"] = 1
        del state["keys"]
        del state["config"]["steady_after"]
        assert len(TemplateMiner.from_state(state)) == 0

    def test_config_override_on_restore(self) -> None:
        """A config passed to from_state replaces the stored one."""
        state = TemplateMiner().to_state()
        assert TemplateMiner.from_state(state, MinerConfig(similarity=0.7)).config.similarity == 0.7

    def test_unknown_version_rejected(self) -> None:
        """State of another format version is refused, not misread."""
        with pytest.raises(ValueError, match="version"):
            TemplateMiner.from_state({"version": 99})


class TestConfig:
    @pytest.mark.parametrize("kwargs", [
        {"similarity": 0.0}, {"similarity": 1.5}, {"prefix_tokens": -1},
        {"max_children": 1}, {"max_clusters": 0}, {"id_mode": "counter"},
    ])
    def test_impossible_values_rejected(self, kwargs: dict[str, object]) -> None:
        """A configuration that cannot work is an error at construction."""
        with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
            MinerConfig(**kwargs)  # type: ignore[arg-type]
