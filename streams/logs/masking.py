"""Masking: replace values that are certainly variable before template mining.

The miner can only learn that a position is variable after it has seen it vary,
and until then the template (and with it the template id) still holds the value.
Masking values whose *shape* says they are variable means most templates are born
in their final form. Every rule here is about shape, not about any one log
source: times, UUIDs, MAC/PCI/IP addresses, host names with a top-level domain,
hex, numbers (with a glued unit, or a spaced size/time unit that loggers scale with
the value: "1.2 KB", "<1 sec"), and digits after an underscore ("blk_<*>": an id or
index glued to a name). Identifiers that merely end in a digit ("ssh2", "eth0",
"mlx5_core") are left alone: they are as often constant as not, and the miner decides.
Then, on the tokens: a token of values and punctuation only ("<*>:<*>") is one value,
and a parenthesised value (an aside restating the one before it) is left out.

All rules are alternatives of one regular expression, so a line is scanned once.
"""

from __future__ import annotations

import logging
import re

__all__ = ["PLACEHOLDER", "mask", "mask_tokens", "render"]

logger = logging.getLogger(__name__)

PLACEHOLDER = "<*>"

_MON = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DOW = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_HEX = r"[0-9a-fA-F]"
# Two-letter country TLDs collide with file extensions; these are left out.
_FILE_EXT = "gz|xz|bz|js|py|sh|so|rb|pl|md|ts|cc|hh|go|rs|db|ko|ps|pm|hs|mk|in|am|ac|la|lo"
_GTLD = r"(?:com|net|org|edu|gov|mil|int|info|biz|io|local|lan|internal|arpa|corp)"
_LABEL = r"[a-zA-Z0-9-]{1,63}"
# a name ending in a generic TLD (one dot is enough: "example.com"), or in a country
# code after two dots or after a generic second level ("x.edu.pl"), but never in a
# file extension ("archive.tar.gz", "nvidia.ko")
_FQDN = (
    r"(?:" + _LABEL + r"\.)+" + _GTLD
    + r"|(?:" + _LABEL + r"\.)*" + _LABEL + r"\.(?:com|net|org|edu|gov|ac|co)\.[a-z]{2}"
    + r"|(?:" + _LABEL + r"\.){2,}(?!(?:" + _FILE_EXT + r")(?![a-z]))[a-z]{2}"
)

# size and time units that loggers scale with the value (B, KB, MB; ms, s, min)
_UNITS = r"[kKMGTP]i?B|B|[mun\u00b5]s|s|secs?|mins?|h|hrs?"

_RULES: tuple[tuple[str, str], ...] = (
    # dates and times, longest forms first: one placeholder for the whole stamp
    ("datetime", r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
    ("ctime", _DOW + r",? +" + _MON + r" +\d{1,2} +\d{2}:\d{2}:\d{2}(?:\.\d+)?(?: +\d{4})?"),
    ("syslogtime", _MON + r" +\d{1,2} +\d{2}:\d{2}:\d{2}(?:\.\d+)?(?: +\d{4})?"),
    ("time", r"(?<![\w:.])\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?![\w:])"),
    ("uuid", _HEX + r"{8}-" + _HEX + r"{4}-" + _HEX + r"{4}-" + _HEX + r"{4}-" + _HEX + r"{12}"),
    ("mac", r"(?<![\w:])" + _HEX + r"{2}(?::" + _HEX + r"{2}){5}(?![\w:])"),
    # PCI addresses: domain:bus:device[.function] or bus:device.function
    ("pci", r"(?<![\w.])(?=" + _HEX + r"{2,4}:)(?:" + _HEX + r"{4}:" + _HEX + r"{2}:" + _HEX
     + r"{2}(?:\.[0-7])?|" + _HEX + r"{2}:" + _HEX + r"{2}\.[0-7])(?![\w:])"),
    ("ipv4", r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5}|/\d{1,2})?(?!\w|\.\w)"),
    ("ipv6", r"(?<![\w:.])(?=[0-9a-fA-F:]*::|(?:" + _HEX + r"{1,4}:){3})"
     r"(?:" + _HEX + r"{0,4}:){2,7}" + _HEX + r"{0,4}(?![\w:])"),
    # the lookahead makes undotted words fail in one linear scan
    ("fqdn", r"(?<![\w.-])(?=[a-zA-Z0-9-]+\.[a-zA-Z0-9])(?:" + _FQDN + r")(?![\w-]|\.\w)"),
    ("hex", r"(?<![\w.-])(?:0[xX]" + _HEX + r"+|(?=" + _HEX + r"*\d)(?=" + _HEX + r"*[a-fA-F])"
     + _HEX + r"{8,})(?![\w-])"),
    # a number with its unit, glued ("22s", "4096kB", "100%") or after a space ("1.2 KB",
    # "<1 sec"): auto-scaled units change with the value, so they belong to it
    ("number", r"(?<![A-Za-z0-9])[-+<>~]?v?\d+(?:[.,]\d+)*(?:[a-zA-Z%]{1,3})?(?![A-Za-z0-9])"
     r"(?: (?:" + _UNITS + r")(?![\w-]))?"),
)

# no value starts inside a word: one look-behind rejects most positions at once; nor
# right before or after a placeholder, so masking masked text changes nothing more
_MASK = re.compile("(?<![A-Za-z0-9>])(?:" + "|".join(f"(?P<{name}>{rx})" for name, rx in _RULES)
                   + ")(?!<\\*>)", re.ASCII)  # ASCII: other scripts' digits stay text


def mask(content: str) -> str:
    """The content with every shape-recognised value replaced by the placeholder."""
    return _MASK.sub(PLACEHOLDER, content)


# a key starts its token and holds no URL syntax: "uid=0", "LOGIN(uid=0)", not "/a?b=c"
_KEY_VALUE = re.compile(r"(?<!\S)([^\s=/?&]+=)(?=[^\s=])")
_GLUE = "\x00"
_P = r"[^\w\s()\[\]{}'\"]"  # punctuation that joins values into one token
# a token made of values and punctuation only ("<*>:<*>", "/<*>", "<*>,") is one value;
# a trailing "," or ";" stays, it belongs to the sentence
_VALUE_TOKEN = re.compile(r"(?<!\S)" + _P + r"*<\*>(?:" + _P + r"*<\*>)*" + _P
                          + r"*?(?P<t>[,;]*)(?!\S)")
# a parenthesised value restates the one before it ("1190 bytes (1.16 KB) sent") and
# is often left out; an empty "()" is a missing value
_ASIDE = re.compile(r"(?<!\S)(?<!\x00 )\((?:<\*>)?\)[,;.:]?(?!\S)")  # not a key's value


def mask_tokens(content: str) -> tuple[list[str], frozenset[int]]:
    """Masked content as the tokens the miner compares, and which tokens are glued.

    Tokens are whitespace-separated, and "key=value" is split after the "=": the key
    is structure and the value is data, so "uid=<*>" and "uid=" (an empty value)
    have different shapes, and a value is compared on its own. The second item
    holds the positions of tokens that were split off their left neighbour, so a
    template can be written back as "uid=<*>", not "uid= <*>". A token of values and
    punctuation only is one placeholder, and a parenthesised value (an aside) is
    left out, so optional restatements do not change a message's length.
    """
    text = _MASK.sub(PLACEHOLDER, content)
    if _GLUE in text:
        text = text.replace(_GLUE, " ")
    keyed = "=" in text
    if keyed:
        text = _KEY_VALUE.sub(r"\1" + _GLUE + " ", text)
    if PLACEHOLDER in text or "(" in text:
        text = _VALUE_TOKEN.sub(PLACEHOLDER + r"\g<t>", _ASIDE.sub("", text))
    if not keyed:
        return text.split(), frozenset()
    tokens: list[str] = []
    glued: set[int] = set()
    for word in text.split():
        if word.endswith(_GLUE):
            tokens.append(word[:-1])
            glued.add(len(tokens))
        else:
            tokens.append(word)
    return tokens, frozenset(glued)


def render(tokens: list[str], glued: frozenset[int]) -> str:
    """Tokens back to text: single spaces, none before glued tokens."""
    if not glued:
        return " ".join(tokens)
    parts: list[str] = []
    for i, token in enumerate(tokens):
        if i and i not in glued:
            parts.append(" ")
        parts.append(token)
    return "".join(parts)
