"""Generic faults: a class for failure lines that no catalogue entry knows.

The catalogue (streams.logs.catalogue) names the faults rackwatch knows well (XIDs,
NCCL, kernel, disks); a real datacenter log reports many more. `analyse` reads a line's
own words and says whether it reports a failure, of which kind, and how sure it is:

- a STRONG failure word or phrase ("failed", "error", "could not", "timed out") makes a
  fault, unless it is negated ("no errors", "not failed", "errors: 0"), names a
  mechanism ("error handler", "exception support"), is qualified away ("expected
  error"), or the line says it was recovered ("error corrected", "succeeded after
  retry": see lexicon.RECOVERY);
- WEAK words ("unknown", "not found", "retrying") make a fault with a second weak
  word, in a security context ("invalid user", "user unknown"), or when the line's
  level is error or worse; alone they make a `candidate`, which the processor turns
  into a fault only when the template is new on its host (streams.logs.novelty);
- a line whose level is critical or worse (FATAL, FAILURE, CRIT, EMERG, kernel 0-2) is
  a fault even without failure words, unless it says it recovered.

The kind is the first of lexicon.DOMAINS with a word in the line (security, memory,
hardware, storage, timeout, network, process), else `error`; the class is
`generic_<kind>`. Words are compared in lower case; camelCase identifiers are split,
and a failure word that starts one names a thing rather than an event ("invalidSet",
"errorCount"), while one inside it reports ("IOException", "sendSyncFailedBroadcast").

Cost: most lines contain no failure word, and a set-disjointness test over their
tokens plus a few substring tests rejects them (about 2 us); only the others are read
word by word. Pure: no state, no clock, never raises on any string.
"""

from __future__ import annotations

import logging
import re
import string
from dataclasses import dataclass

from streams.logs import lexicon as lx
from streams.logs.catalogue import GENERIC_PREFIX

__all__ = ["CANDIDATE", "FAULT", "RECOVERED", "Verdict", "analyse"]

logger = logging.getLogger(__name__)

FAULT = "fault"
CANDIDATE = "candidate"
RECOVERED = "recovered"

_CRITICAL_RANK = 2  # streams.logs.severity: emergency 0, alert 1, critical 2, error 3
_ERROR_RANK = 3
# punctuation becomes a word break; an apostrophe joins ("can't" -> "cant")
_BREAKS = str.maketrans({**{c: " " for c in string.punctuation if c != "'"}, "'": ""})
_HAS_CAMEL = re.compile(r"[a-z][A-Z]|[A-Z]{2}[a-z]")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def _phrase_table() -> dict[str, tuple[tuple[tuple[str, ...], bool], ...]]:
    """First word -> (phrase, is strong) for every phrase starting with it."""
    table: dict[str, tuple[tuple[tuple[str, ...], bool], ...]] = {}
    for phrases, strong in ((lx.STRONG_PHRASES, True), (lx.WEAK_PHRASES, False)):
        for phrase in sorted(phrases):
            table[phrase[0]] = (*table.get(phrase[0], ()), (phrase, strong))
    return table


_PHRASES = _phrase_table()


def _key(phrase: tuple[str, ...]) -> str:
    return next((w for w in phrase if w not in lx.PHRASE_KEY_AVOID), phrase[-1])


# A line is read word by word only if it has one of these: a failure word, or one word
# of each phrase (the first that routine lines are not full of: "time out" -> out).
_CUES = frozenset(w.encode() for w in lx.STRONG | lx.WEAK | {
    _key(p) for p in lx.STRONG_PHRASES | lx.WEAK_PHRASES})
# the same word breaks over UTF-8 bytes, for the fast test (bytes.translate is C-fast)
_BYTE_BREAKS = bytes(32 if chr(b) in string.punctuation else b for b in range(256))
_STARTS = frozenset(lx.STRONG | lx.WEAK | set(_PHRASES))
_TIMEOUT_PHRASES = frozenset({("timed", "out"), ("time", "out"), ("times", "out")})


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a line's words say: a fault, a candidate fault, or a recovered one."""

    status: str  # FAULT | CANDIDATE | RECOVERED
    kind: str  # security | memory | hardware | storage | timeout | network | process | error
    severity: str  # the severity the words imply: critical | error | warning (notice: recovered)
    cues: tuple[str, ...]  # the failure words that decided, as read ("could not", ...)

    @property
    def fault_class(self) -> str:
        return GENERIC_PREFIX + self.kind


def _words(text: str, tokens: list[str], ignore: str | None) -> tuple[list[str], set[int]]:
    """Lower-case words, camelCase split; positions of words that start an identifier.

    `tokens` are the text's lower-cased words (used as they are when no identifier in
    the text is camelCase, the common case); `ignore` (a header's level word) is left
    out once, where it first occurs.
    """
    if _HAS_CAMEL.search(text) is None:
        if ignore is not None and ignore.lower() in tokens:
            tokens = list(tokens)
            tokens.remove(ignore.lower())
        return tokens, set()
    words: list[str] = []
    heads: set[int] = set()
    for tok in text.translate(_BREAKS).split():
        if tok == ignore:
            ignore = None
            continue
        if tok.islower() or tok.isupper() or tok[1:].islower() or not tok.isalnum():
            words.append(tok.lower())
            continue
        parts = _CAMEL.findall(tok)
        if len(parts) > 1:
            heads.add(len(words))
        words.extend(p.lower() for p in parts or (tok,))
    return words, heads


def _negated(words: list[str], start: int, end: int) -> bool:
    """A negator before (one filler allowed), a zero count or a mechanism noun after."""
    before = words[max(0, start - 2):start]
    if before and (before[-1] in lx.NEGATORS or before[-1] in lx.QUALIFIERS):
        return True
    if len(before) == 2 and before[0] in lx.NEGATORS and before[1] in lx.FILLERS:
        return True
    after = words[end] if end < len(words) else ""
    return after in lx.ZERO or after in lx.MECHANISMS


def _recovered(words: list[str]) -> bool:
    if lx.RECOVERY.isdisjoint(words):
        return False
    for i, w in enumerate(words):
        if w in lx.RECOVERY and not any(b in lx.RECOVERY_UNDO for b in words[max(0, i - 2):i]):
            return True
    return False


def _cues(words: list[str], heads: set[int]) -> tuple[list[str], list[str], bool]:
    """(strong cues, weak cues, a timeout phrase fired), negated ones left out."""
    strong: list[str] = []
    weak: list[str] = []
    timeout = False
    covered = 0  # words before this index belong to a phrase already read
    for i in [i for i, w in enumerate(words) if w in _STARTS]:
        if i < covered:
            continue
        w = words[i]
        for phrase, is_strong in _PHRASES.get(w, ()):
            k = len(phrase)
            if tuple(words[i:i + k]) == phrase:
                if not _negated(words, i, i + k) and not _negates_next(words, i + k, phrase):
                    (strong if is_strong else weak).append(" ".join(phrase))
                    timeout = timeout or phrase in _TIMEOUT_PHRASES
                covered = max(covered, i + k)
        if i < covered:
            continue
        if (w in lx.STRONG or w in lx.WEAK) and i not in heads \
                and not _negated(words, i, i + 1) and not _duration(words, i):
            (strong if w in lx.STRONG else weak).append(w)
    return strong, weak, timeout


def _duration(words: list[str], i: int) -> bool:
    """"negotiated timeout 10000", "sessionTimeout set to -1": a setting, not an event."""
    if words[i] not in ("timeout", "timeouts"):
        return False
    after = words[i + 1] if i + 1 < len(words) else ""
    before = words[i - 1] if i else ""
    setting = after[:1].isdigit() or after in lx.TIMEOUT_SETTING_AFTER or (
        before in lx.TIMEOUT_SETTING_BEFORE)
    return setting and lx.TIMEOUT_EXCEEDED.isdisjoint(words[i + 1:i + 5])


def _negates_next(words: list[str], end: int, phrase: tuple[str, ...]) -> bool:
    """"did not fail", "does not exceed": the phrase negates the failure word after it."""
    return phrase[-1] == "not" and end < len(words) and (
        words[end] in lx.STRONG or words[end] in lx.WEAK)


def _kind(words: set[str]) -> str:
    for kind, vocabulary in lx.DOMAINS:
        if not vocabulary.isdisjoint(words):
            return kind
    return "error"


_SECURITY_WORDS = lx.DOMAINS[0][1]


def _security(words: list[str]) -> bool:
    """A security context for weak cues: "invalid user", "check pass; user unknown"."""
    return not lx.USER_WORDS.isdisjoint(words) or not _SECURITY_WORDS.isdisjoint(words)


def analyse(text: str, level_rank: int | None = None,
            ignore: str | None = None) -> Verdict | None:
    """The failure a line reports, or None when its words report none.

    level_rank is the rank (0 emergency .. 7 debug, streams.logs.severity.rank) of the
    line's own level, or None when it has none; `ignore` is a word of the text that is
    that level (an unparsed header's "ERROR"), not a failure word.
    """
    low = text.lower()
    broken = low.encode("utf-8", "ignore").translate(_BYTE_BREAKS, b"'")
    if _CUES.isdisjoint(broken.split()) and not any(map(low.__contains__, lx.STEMS)):
        if level_rank is not None and level_rank <= _CRITICAL_RANK:
            return Verdict(FAULT, _kind(set(broken.decode().split())), "critical", ())
        return None
    tokens = broken.decode().split()
    words, heads = _words(text, tokens, ignore)
    strong, weak, timeout = _cues(words, heads)
    critical_level = level_rank is not None and level_rank <= _CRITICAL_RANK
    if not strong and not weak and not critical_level:
        return None
    vocabulary = set(words) | ({"timeout"} if timeout else set())
    kind = _kind(vocabulary)
    cues = (*strong, *weak)
    if _recovered(words):
        return Verdict(RECOVERED, kind, "notice", cues)
    if critical_level or not lx.CRITICAL_WORDS.isdisjoint(strong):
        return Verdict(FAULT, kind, "critical", cues)
    if strong:
        return Verdict(FAULT, kind, "error", cues)
    if _security(words):  # "invalid user", "user unknown": a login that failed
        return Verdict(FAULT, "security", "warning", cues)
    if len(set(weak)) >= 2 or (level_rank is not None and level_rank <= _ERROR_RANK):
        return Verdict(FAULT, kind, "warning", cues)
    return Verdict(CANDIDATE, kind, "warning", cues)
