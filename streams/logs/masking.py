"""Masking: replace values that are certainly variable before template mining.

The miner can only learn that a position is variable after it has seen it vary,
and until then the template (and with it the template id) still holds the value.
Masking values whose *shape* says they are variable means most templates are born
in their final form. Every rule here is about shape, not about any one log
source: times, UUIDs, MAC/PCI/IP addresses, host names with a top-level domain,
hex, and numbers (with an optional unit). Identifiers that merely end in a digit
("ssh2", "eth0", "mlx5_core", "x86_64") are left alone: they are as often constant
as not, and the miner decides.

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
    ("number", r"(?<![A-Za-z0-9_])[-+]?v?\d+(?:[.,]\d+)*(?:[a-zA-Z%]{1,3})?(?![A-Za-z0-9_])"),
)

_MASK = re.compile("|".join(f"(?P<{name}>{rx})" for name, rx in _RULES))


def mask(content: str) -> str:
    """The content with every shape-recognised value replaced by the placeholder."""
    return _MASK.sub(PLACEHOLDER, content)


_KEY_VALUE = re.compile(r"([^\s=]+=)(?=[^\s=])")
_GLUE = "\x00"


def mask_tokens(content: str) -> tuple[list[str], frozenset[int]]:
    """Masked content as the tokens the miner compares, and which tokens are glued.

    Tokens are whitespace-separated, and "key=value" is split after the "=": the key
    is structure and the value is data, so "uid=<*>" and "uid=" (an empty value)
    have different shapes, and a value is compared on its own. The second item
    holds the positions of tokens that were split off their left neighbour, so a
    template can be written back as "uid=<*>", not "uid= <*>".
    """
    text = _MASK.sub(PLACEHOLDER, content)
    if _GLUE in text:
        text = text.replace(_GLUE, " ")
    if "=" not in text:
        return text.split(), frozenset()
    words = _KEY_VALUE.sub(r"\1" + _GLUE + " ", text).split()
    tokens: list[str] = []
    glued: set[int] = set()
    for word in words:
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
