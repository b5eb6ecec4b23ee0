"""How rare is a value? An extreme-value tail fitted to recent block maxima.

A detector has to say "this is a one-in-a-million value for this series", without
assuming the series is Gaussian and without keeping its history. Extreme-value
theory gives the shape of the answer: the maximum of a block of samples follows,
whatever the samples' own distribution (within reason), a generalised extreme-value
law; we use its light-tailed member, the Gumbel law, which extrapolates
exponentially. So a tail keeps only the maxima of its last `blocks` blocks of
`block` samples (a bounded ring) and fits a Gumbel law through their quartiles: a
fit that one or two wild blocks cannot drag, so a past anomaly does not blind the
test for the whole horizon.

The per-sample exceedance probability follows from the block law (blocks treated as
independent): P(X > v) = 1 - exp(-exp(-z) / block), z = (v - mu) / beta.

A tail is a plain dict (JSON-safe: no infinities; "cur" is None before the first
sample of a block): m = block maxima, oldest first, kept to 9 significant digits
(the quartile fit needs far less; the state is a third shorter as JSON); cur = max
of the open block; k = samples in the open block; mu, b = fitted location and scale
(None until `min_blocks` blocks have closed).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["new_tail", "tail_close", "tail_log10p", "tail_push"]

Tail = dict[str, Any]

_LOG10E = math.log10(math.e)
_G25 = -math.log(-math.log(0.25))  # Gumbel reduced quantiles of the quartiles
_G75 = -math.log(-math.log(0.75))
_GIQR = _G75 - _G25


def new_tail() -> Tail:
    """An empty tail: it answers "not rare" (0.0) until fitted."""
    return {"m": [], "cur": None, "k": 0, "mu": None, "b": None}


def tail_log10p(tail: Tail, v: float, block: int, floor: float) -> float:
    """log10 of the per-sample probability of a value above v (0.0 when unknown).

    `floor` bounds the fitted scale from below: a series that never varied would
    otherwise make the tiniest change infinitely rare.
    """
    mu: float | None = tail["mu"]
    if mu is None:
        return 0.0
    b: float = tail["b"]
    if b < floor:
        b = floor
    z = (v - mu) / b
    if z > 30.0:  # far in the tail: p = exp(-z) / block to double precision
        return -z * _LOG10E - math.log10(block)
    t = math.exp(-z) / block if z > -700.0 else math.inf
    if t > 40.0:
        return 0.0
    return math.log10(-math.expm1(-t))


def tail_push(tail: Tail, v: float, block: int, blocks: int, min_blocks: int) -> bool:
    """Fold one sample in; returns True when it closed a block (and refitted)."""
    cur = tail["cur"]
    if cur is None or v > cur:
        tail["cur"] = v
    k = tail["k"] + 1
    if k < block:
        tail["k"] = k
        return False
    tail_close(tail, blocks, min_blocks)
    return True


def tail_close(tail: Tail, blocks: int, min_blocks: int) -> None:
    """Close the open block (its maximum joins the ring) and refit: the rare part of
    `tail_push`, which the detector inlines for speed."""
    m: list[float] = tail["m"]
    m.append(float(f"{tail['cur']:.9g}"))  # 9 digits: a third shorter in JSON, and enough
    if len(m) > blocks:
        del m[: len(m) - blocks]
    tail["cur"] = None
    tail["k"] = 0
    if len(m) >= min_blocks:
        _fit(tail, m)


def _fit(tail: Tail, maxima: list[float]) -> None:
    """Gumbel law through the lower and upper quartiles of the block maxima."""
    y = sorted(maxima)
    q25, q75 = _quantile(y, 0.25), _quantile(y, 0.75)
    b = (q75 - q25) / _GIQR
    tail["b"] = b
    tail["mu"] = q75 - _G75 * b


def _quantile(y: list[float], p: float) -> float:
    """Quantile of sorted data, linear between order statistics (numpy's default)."""
    x = p * (len(y) - 1)
    i = int(x)
    f = x - i
    if i + 1 >= len(y):
        return y[-1]
    return y[i] + f * (y[i + 1] - y[i])
