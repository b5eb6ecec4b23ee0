"""A compact Drain-family template miner with content-derived ids and plain-data state.

Drain (He et al., ICWS 2017) routes a masked line through a fixed-depth tree
(token count, then the first tokens) to a short list of templates, picks the most
similar one and, if it is similar enough, merges the line into it by turning the
differing positions into `<*>`; otherwise it starts a new template.

Differences from the paper and from drain3, each for a reason (see docs/logs.md):

- Similarity counts only the template's constant tokens: sim = matching constants
  / constants. Drain divides by the whole length, so a line rich in masked values
  looks dissimilar to its own template; this measure does not depend on how many
  parameters a message has.
- Vetoes on merging: two adjacent constants that differ (after masking a
  value is one token, so a run of differences is another phrase: "Bye Bye
  [preauth]" is not "disconnected by user"), a differing "key=" token (the
  masker splits key=value; keys are structure), two different *words* (no digit,
  no value, no path) unless the word before them is a learned key or a spaced
  "=" ("GET" is not "POST",
  "VM Started" is not "VM Paused", but "for user alice" is "for user bob" once
  "user" has been seen introducing values), and a steady constant: one that held
  for `steady_after` lines is not generalised by a token of another shape
  ("HTTPS" then "SOCKS5"; "gpu01" then "gpu02" is still a value).
- Keys are learned online: a word seen right before a value in some template
  ("from <*>", "user=<*>") introduces values everywhere. They are part of the state.
- Template ids are content hashes (blake2b of the template text), never counters,
  so two processes give the same template the same id. How an id follows a
  template that generalises later is chosen by `MinerConfig.id_mode`.
- The state is plain JSON-able data (templates and their counts); the routing
  tree is rebuilt from it on load, so there is no pickling and no version skew.
- Memory is bounded: beyond `max_clusters` the least recently matched template
  is forgotten (it is re-learned, with the same birth text, if it comes back).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from streams.logs.masking import PLACEHOLDER, mask_tokens, render

__all__ = [
    "Cluster", "MinedTemplate", "MinerConfig", "TemplateMiner", "key_of", "shape", "template_id",
]

logger = logging.getLogger(__name__)

STATE_VERSION = 2
IdMode = Literal["birth", "current"]
MAX_KEYS = 10_000  # learned keys kept; beyond it no new key is learned (bounded state)
MAX_KEY_CHARS = 64
_KEY_WORD = re.compile(r"\w+(?:[.-]\w+)*")


def template_id(template: str) -> str:
    """16 hex digits of blake2b over the whitespace-normalised template text."""
    text = " ".join(template.split())
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class MinerConfig:
    """Knobs of the miner; the defaults are the documented, benchmarked ones.

    id_mode "birth": a template keeps the id of the text it was created with, so all
    lines of one template share one id even after the template generalises (the
    right thing for counting and grouping). "current": the id is always the hash of
    the template text as it is when the line is processed, so equal texts always
    have equal ids, at the price of a new id whenever a template generalises.
    """

    similarity: float = 0.5
    prefix_tokens: int = 1
    max_children: int = 100
    max_clusters: int = 50_000
    id_mode: IdMode = "birth"
    steady_after: int = 10

    def __post_init__(self) -> None:
        if not 0.0 < self.similarity <= 1.0:
            raise ValueError(f"similarity must be in (0, 1], got {self.similarity}")
        if self.prefix_tokens < 0:
            raise ValueError(f"prefix_tokens must be >= 0, got {self.prefix_tokens}")
        if self.max_children < 2:
            raise ValueError(f"max_children must be >= 2, got {self.max_children}")
        if self.max_clusters < 1:
            raise ValueError(f"max_clusters must be >= 1, got {self.max_clusters}")
        if self.id_mode not in ("birth", "current"):
            raise ValueError(f"id_mode must be 'birth' or 'current', got {self.id_mode!r}")
        if self.steady_after < 0:
            raise ValueError(f"steady_after must be >= 0 (0: off), got {self.steady_after}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "similarity": self.similarity,
            "prefix_tokens": self.prefix_tokens,
            "max_children": self.max_children,
            "max_clusters": self.max_clusters,
            "id_mode": self.id_mode,
            "steady_after": self.steady_after,
        }


@dataclass(slots=True)
class Cluster:
    """One template: its tokens, the id it was born with, how often and when it matched."""

    tokens: list[str]
    birth_id: str
    path: tuple[str, ...]
    glued: frozenset[int] = frozenset()
    size: int = 1
    last_seen: int = 0
    constants: int = field(default=0)

    def __post_init__(self) -> None:
        self.constants = sum(1 for t in self.tokens if t != PLACEHOLDER)

    @property
    def template(self) -> str:
        return render(self.tokens, self.glued)


@dataclass(frozen=True, slots=True)
class MinedTemplate:
    """The outcome of adding one line: which template, and whether the state changed."""

    template_id: str
    template: str
    size: int
    created: bool
    # the template changed in a way later lines depend on: created, generalised, or it
    # just became steady (so a snapshot taken when this is true holds every decision)
    changed: bool


def _route_token(token: str) -> str:
    if PLACEHOLDER in token or any(c.isdigit() for c in token):
        return PLACEHOLDER
    return token


def _is_word(token: str) -> bool:
    """A token with no digit, no value and no path in it: "GET", "Started", "(usable)".

    A path, URL or slash-joined name ("/var/www/html/", "com.x/.MainActivity") names a
    thing, as a value does.
    """
    return PLACEHOLDER not in token and "/" not in token and not any(c.isdigit() for c in token)


_ASSIGN = frozenset({"=", ":", "=>", "->", "=="})  # a spaced assignment: "key = value"


_SHAPE_RUNS = re.compile(r"([Aa9])\1+")
_SHAPE_CHARS = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    "A" * 26 + "a" * 26 + "9" * 10)


def shape(token: str) -> str:
    """A token's character classes, runs collapsed: gpu01 -> a9, SOCKS5 -> A9, HTTPS -> A."""
    return _SHAPE_RUNS.sub(r"\1", token.translate(_SHAPE_CHARS))


def key_of(token: str) -> str | None:
    """The name a token gives a following value: "user=" -> user, "[instance:" -> instance."""
    if PLACEHOLDER in token:
        return None
    words = _KEY_WORD.findall(token)
    if not words or len(words[-1]) > MAX_KEY_CHARS:
        return None
    return str(words[-1])


class TemplateMiner:
    """Online template mining over message contents (headers already removed)."""

    def __init__(self, config: MinerConfig | None = None) -> None:
        self.config = config or MinerConfig()
        self._leaves: dict[tuple[str, ...], list[Cluster]] = {}
        self._children: dict[tuple[str, ...], set[str]] = {}
        self._value_keys: set[str] = set()
        self._tick = 0
        self._count = 0

    def __len__(self) -> int:
        return self._count

    # --- routing -------------------------------------------------------------------
    def _keys(self, tokens: list[str]) -> tuple[str, ...]:
        return (str(len(tokens)), *(_route_token(t) for t in tokens[: self.config.prefix_tokens]))

    def _candidates(self, keys: tuple[str, ...]) -> list[list[Cluster]]:
        """The leaves a line may match in: its own path, then with "<*>" at each level."""
        paths: list[tuple[str, ...]] = [keys[:1]]
        for key in keys[1:]:
            paths = [(*p, k) for p in paths for k in dict.fromkeys((key, PLACEHOLDER))]
        return [self._leaves[p] for p in paths if p in self._leaves]

    def _create_path(self, keys: tuple[str, ...]) -> tuple[str, ...]:
        """The path a new template is stored under; a full node sends new keys to "<*>"."""
        path: tuple[str, ...] = keys[:1]
        for key in keys[1:]:
            children = self._children.setdefault(path, set())
            if key not in children and key != PLACEHOLDER and (
                    len(children - {PLACEHOLDER}) >= self.config.max_children - 1):
                key = PLACEHOLDER
            children.add(key)
            path = (*path, key)
        return path

    # --- matching ------------------------------------------------------------------
    def _after_key(self, tokens: list[str], i: int) -> bool:
        """Whether the token before position i names a value ("user=", a learned key)."""
        if i == 0:
            return False
        before = tokens[i - 1]
        if before.endswith("=") or before in _ASSIGN:
            return True  # "uid=", and the spaced "startingDisplayed = false"
        key = key_of(before)
        return key is not None and key in self._value_keys

    def _vetoed(self, template: list[str], i: int, token: str, previous_differs: bool,
                steady: bool) -> bool:
        """Whether a line whose token differs from the template's constant at i must not join."""
        constant = template[i]
        if previous_differs or constant.endswith("="):
            return True
        if _is_word(constant) and _is_word(token):
            return not self._after_key(template, i)
        # a steady constant meets a token of another shape: not one more value of it
        return steady and shape(constant) != shape(token) and not self._after_key(template, i)

    def _similarity(self, cluster: Cluster, tokens: list[str]) -> float:
        """Share of the template's constant tokens the line repeats; 0 on a veto.

        Vetoes: two adjacent constants differ (masking leaves a variable as one
        token, so a run of differences is a different phrase, not a value); a key
        differs ("uid=" against "LOGIN(uid="): keys are structure; two words differ
        where no key precedes them (a word is a value only where a key says so);
        a constant that held for `steady_after` lines differs where no key
        precedes it (it has shown it is constant).
        """
        if cluster.constants == 0:
            return 1.0
        same = 0
        previous_differs = False
        steady = 0 < self.config.steady_after <= cluster.size
        for i, (t, tok) in enumerate(zip(cluster.tokens, tokens, strict=True)):
            if t == PLACEHOLDER:
                previous_differs = False
            elif t == tok:
                same += 1
                previous_differs = False
            elif self._vetoed(cluster.tokens, i, tok, previous_differs, steady):
                return 0.0
            else:
                previous_differs = True
        return same / cluster.constants

    def _best(self, leaves: list[list[Cluster]], tokens: list[str]) -> Cluster | None:
        """The most similar template (ties: the more general one), if similar enough."""
        best: Cluster | None = None
        best_key = (-1.0, -1)
        for leaf in leaves:
            for cluster in leaf:
                sim = self._similarity(cluster, tokens)
                key = (sim, len(cluster.tokens) - cluster.constants)
                if key > best_key:
                    best, best_key = cluster, key
            if best is not None and best_key[0] >= self.config.similarity:
                return best
        return None

    def _id(self, cluster: Cluster) -> str:
        if self.config.id_mode == "birth":
            return cluster.birth_id
        return template_id(cluster.template)

    def _learn_keys(self, tokens: list[str]) -> None:
        """Remember the words that introduce values in this template."""
        if len(self._value_keys) >= MAX_KEYS:
            return
        for before, token in itertools.pairwise(tokens):
            if PLACEHOLDER in token or before.endswith("="):
                key = key_of(before)
                if key is not None and len(self._value_keys) < MAX_KEYS:
                    self._value_keys.add(key)

    # --- public API ----------------------------------------------------------------
    def add(self, content: str) -> MinedTemplate:
        """Learn from one message and say which template it belongs to."""
        tokens, glued = mask_tokens(content)
        self._tick += 1
        keys = self._keys(tokens)
        cluster = self._best(self._candidates(keys), tokens)
        if cluster is None:
            path = self._create_path(keys)
            cluster = Cluster(tokens=tokens, birth_id=template_id(render(tokens, glued)),
                              path=path, glued=glued, last_seen=self._tick)
            self._leaves.setdefault(path, []).append(cluster)
            self._count += 1
            self._learn_keys(tokens)
            if self._count > self.config.max_clusters:
                self._evict()
            return MinedTemplate(self._id(cluster), cluster.template, 1, True, True)
        changed = False
        for i, (t, tok) in enumerate(zip(cluster.tokens, tokens, strict=True)):
            if t != tok and t != PLACEHOLDER:
                cluster.tokens[i] = PLACEHOLDER
                changed = True
        if changed:
            cluster.constants = sum(1 for t in cluster.tokens if t != PLACEHOLDER)
            self._learn_keys(cluster.tokens)
        cluster.size += 1
        cluster.last_seen = self._tick
        steadied = cluster.size == self.config.steady_after
        return MinedTemplate(self._id(cluster), cluster.template, cluster.size, False,
                             changed or steadied)

    def match(self, content: str) -> MinedTemplate | None:
        """The template a message would join, without learning anything."""
        tokens, _ = mask_tokens(content)
        cluster = self._best(self._candidates(self._keys(tokens)), tokens)
        if cluster is None:
            return None
        return MinedTemplate(self._id(cluster), cluster.template, cluster.size, False, False)

    def clusters(self) -> list[Cluster]:
        """All templates, oldest first within each routing leaf."""
        return [c for leaf in self._leaves.values() for c in leaf]

    def _evict(self) -> None:
        victim = min(self.clusters(), key=lambda c: c.last_seen, default=None)
        if victim is not None:
            self._leaves[victim.path].remove(victim)
            self._count -= 1
            logger.debug("template evicted (LRU): %s", victim.template)

    # --- state ---------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Plain JSON-able state; the routing tree is derived and not stored."""
        return {
            "version": STATE_VERSION,
            "config": self.config.to_dict(),
            "tick": self._tick,
            "keys": sorted(self._value_keys),
            "clusters": [
                {"tokens": c.tokens, "glued": sorted(c.glued), "birth_id": c.birth_id,
                 "path": list(c.path), "size": c.size, "last_seen": c.last_seen}
                for c in sorted(self.clusters(), key=lambda c: c.last_seen)
            ],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], config: MinerConfig | None = None) -> TemplateMiner:
        """Rebuild a miner; `config` overrides the stored one (e.g. a changed threshold)."""
        if state.get("version") not in (1, STATE_VERSION):  # 1: before learned keys
            raise ValueError(f"unsupported miner state version {state.get('version')!r}")
        miner = cls(config or MinerConfig(**state["config"]))
        miner._tick = int(state["tick"])
        miner._value_keys = {str(k) for k in state.get("keys", ())}
        for item in state["clusters"]:
            tokens = [str(t) for t in item["tokens"]]
            path = tuple(str(p) for p in item["path"])
            cluster = Cluster(tokens=tokens, birth_id=str(item["birth_id"]), path=path,
                              glued=frozenset(int(i) for i in item.get("glued", ())),
                              size=int(item["size"]), last_seen=int(item["last_seen"]))
            for depth in range(1, len(path)):
                miner._children.setdefault(path[:depth], set()).add(path[depth])
            miner._leaves.setdefault(path, []).append(cluster)
            miner._count += 1
        return miner
