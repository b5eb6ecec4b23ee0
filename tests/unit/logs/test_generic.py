"""The generic layer: failure words, their negation and recovery, kinds, levels."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.logs.generic import CANDIDATE, FAULT, RECOVERED, Verdict, analyse
from streams.logs.severity import SEVERITIES, rank


def status(text: str, level: str | None = None, ignore: str | None = None) -> str | None:
    v = analyse(text, rank(level) if level else None, ignore)
    return v.status if v is not None else None


def fault(text: str) -> Verdict:
    v = analyse(text)
    assert v is not None and v.status == FAULT, (text, v)
    return v


class TestStrongWords:
    @pytest.mark.parametrize(("line", "kind"), [
        ("Failed password for root from 10.0.0.1 port 22 ssh2", "security"),
        ("Could not connect to proxy 10.0.0.1:5070", "network"),
        ("Connection timed out", "timeout"),
        ("Out of memory while allocating 4096 bytes", "memory"),
        ("data TLB error interrupt", "hardware"),
        ("write to /data/x failed: No space left on device", "storage"),
        ("worker 3 crashed with signal 11", "process"),
        ("something odd failed", "error"),
    ])
    def test_failure_statements_and_their_kind(self, line: str, kind: str) -> None:
        """A strong failure word makes a fault; the domain words name its kind."""
        assert fault(line).kind == kind
        assert fault(line).fault_class == f"generic_{kind}"

    def test_fatal_words_are_critical(self) -> None:
        """fatal and panic read as critical; other failure words as error."""
        assert fault("rts panic! - stopping execution").severity == "critical"
        assert fault("fatal: Write failed: Connection reset by peer").severity == "critical"
        assert fault("Could not open channel").severity == "error"

    def test_routine_lines_are_nothing(self) -> None:
        """Lines without failure words are not read as anything."""
        for line in ("Served block blk_1 to /10.0.0.1", "session opened for user bob",
                     "Times: total = 42, boot = 1", "image cache checks an image", ""):
            assert analyse(line) is None, line


class TestNegation:
    @pytest.mark.parametrize("line", [
        "no errors found", "0 errors, 0 warnings", "errors: 0", "failures = none",
        "completed without any error", "the job did not fail", "disk check: not failed",
        "0 uncorrectable errors",
    ])
    def test_negated_failures(self, line: str) -> None:
        """A negator before (one filler allowed) or a zero count after undoes the word."""
        assert status(line) is None

    def test_could_not_is_not_a_negation(self) -> None:
        """The "not" of "could not" is the failure itself."""
        assert status("could not open /etc/x") == FAULT
        assert status("cannot allocate memory") == FAULT

    def test_negation_reaches_one_word_only(self) -> None:
        """"no" negates the word after it, not a failure later in the line."""
        assert status("no route to host, connect failed") == FAULT


class TestRecovery:
    @pytest.mark.parametrize("line", [
        "instruction cache parity error corrected",
        "total of 4 ddr error(s) detected and corrected",
        "connection lost, reconnected successfully",
        "correctable error detected in directory 0",
    ])
    def test_recovered(self, line: str) -> None:
        """A failure the line says was corrected or recovered is not a fault."""
        assert status(line) == RECOVERED

    @pytest.mark.parametrize("line", [
        "error could not be corrected", "failed to recover the journal",
        "uncorrectable torus error", "link error, never recovered",
    ])
    def test_denied_recovery_is_still_a_fault(self, line: str) -> None:
        """A recovery word that is itself denied recovers nothing."""
        assert status(line) == FAULT


class TestMechanismsAndQualifiers:
    @pytest.mark.parametrize("line", [
        "Enabling unmasked SIMD FPU exception support... done.",
        "error handler installed", "fault tolerance enabled", "error count 3",
        "expected error in dry run", "oom_score_adj set to 500",
    ])
    def test_not_an_event(self, line: str) -> None:
        """A failure word naming a mechanism, a setting or an expected case is no fault."""
        assert status(line) is None


class TestIdentifiers:
    def test_failure_inside_an_identifier_counts(self) -> None:
        """Exception class names and camelCase method names carry failure words."""
        assert status("caught java.io.IOException in reader") == FAULT
        assert status("sendSyncFailedBroadcast") == FAULT
        assert status("Got user-level KeeperException when processing") == FAULT

    def test_failure_word_that_starts_an_identifier_names_a_thing(self) -> None:
        """invalidSet, errorCount: the word names a structure, not an event."""
        assert status("blk_1 is added to invalidSet of 10.0.0.1:50010") is None
        assert status("errorCount=3 retained") is None


class TestDurations:
    @pytest.mark.parametrize("line", [
        "Established session 0x1 with negotiated timeout 10000 for client /10.0.0.1",
        "minSessionTimeout set to -1", "read timeout=30s",
    ])
    def test_timeout_as_a_setting(self, line: str) -> None:
        """A timeout with a value or a setting word is a duration, not an event."""
        assert status(line) is None

    @pytest.mark.parametrize("line", [
        "Expiring session 0x1, timeout of 10000ms exceeded", "Connection timeout",
        "Timeout waiting for lock", "Notification time out: 3200",
    ])
    def test_timeout_as_an_event(self, line: str) -> None:
        """Exceeded, or no value after it: a timeout happened."""
        assert fault(line).kind == "timeout"


class TestWeakWords:
    def test_weak_word_alone_is_a_candidate(self) -> None:
        """One weak word is a candidate (for novelty), not a fault."""
        for line in ("Unknown base file: /var/lib/x", "Partition rdd_2 not found, computing it",
                     "retrying in 5 s"):
            assert status(line) == CANDIDATE, line

    def test_weak_words_in_a_security_context(self) -> None:
        """invalid user, user unknown: weak words next to login words are faults."""
        assert fault("Invalid user admin from 1.2.3.4").kind == "security"
        assert fault("pam_unix(sshd:auth): check pass; user unknown").kind == "security"

    def test_two_weak_words(self) -> None:
        """Two different weak cues together make a fault."""
        assert status("rts: kernel terminated for reason 1004: bad message header") == FAULT

    def test_error_level_lifts_a_weak_word(self) -> None:
        """A line at error level with a weak word is a fault; at info, a candidate."""
        assert status("Unknown partition table", "error") == FAULT
        assert status("Unknown partition table", "info") == CANDIDATE
        assert status("Unknown partition table", "warning") == CANDIDATE


class TestLevels:
    def test_critical_level_alone_is_a_fault(self) -> None:
        """A line that declares critical or worse is a fault without failure words."""
        v = analyse("data storage interrupt", rank("critical"))
        assert v is not None and (v.status, v.severity, v.kind) == (FAULT, "critical",
                                                                     "hardware")
        assert status("data storage interrupt", "error") is None

    def test_critical_level_still_recovers(self) -> None:
        """Even a critical line that says corrected is not a fault."""
        assert status("memory error corrected", "critical") == RECOVERED

    def test_header_level_word_is_not_a_failure_word(self) -> None:
        """`ignore` leaves an unparsed header's level word out of the failure words."""
        line = "081109 203615 148 ERROR dfs.DataNode: Served block blk_1"
        assert status(line, "error", ignore="ERROR") is None
        assert status(line, "error") == FAULT


_CONSONANTS = "bcdfghjklmpqrstvwxz"  # no failure word, negator or recovery word lacks a vowel
_NEUTRAL = st.text(alphabet=_CONSONANTS, min_size=3, max_size=8)
_NOUNS = st.sampled_from(["errors", "failures", "faults", "exceptions", "timeouts"])


class TestProperties:
    @given(st.text(max_size=300), st.none() | st.integers(0, 7), st.none() | st.text(max_size=8))
    def test_never_raises(self, text: str, level: int | None, ignore: str | None) -> None:
        """Any text, level and ignored word: None or a well-formed verdict."""
        v = analyse(text, level, ignore)
        if v is not None:
            assert v.status in (FAULT, CANDIDATE, RECOVERED)
            assert v.severity in SEVERITIES
            assert v.fault_class.startswith("generic_")

    @given(_NEUTRAL, _NEUTRAL, _NOUNS)
    def test_negation_flips(self, a: str, b: str, noun: str) -> None:
        """"X reported errors" is a fault; "X reported no errors" and "errors 0" are not."""
        assert status(f"{a} {b} reported {noun}") == FAULT
        assert status(f"{a} {b} reported no {noun}") is None
        assert status(f"{a} {b} {noun} 0") is None

    @given(_NEUTRAL, _NOUNS)
    def test_recovery_flips(self, a: str, noun: str) -> None:
        """"X errors detected" is a fault; "... and corrected" is recovered."""
        assert status(f"{a} {noun} detected") == FAULT
        assert status(f"{a} {noun} detected and corrected") == RECOVERED

    @given(_NEUTRAL, _NEUTRAL, st.sampled_from(["failed", "error", "timed out", "could not"]))
    def test_case_does_not_matter(self, a: str, b: str, cue: str) -> None:
        """A line shouted in capitals reads as the same line."""
        line = f"{a} {cue} {b}"
        assert status(line) == status(line.upper()) == FAULT
